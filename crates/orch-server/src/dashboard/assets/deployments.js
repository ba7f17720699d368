// Deployments: schedules, last and upcoming runs, pause/resume, and a Run form.
"use strict";

(() => {
  const { api, el, replace, badge, toast, fmtAgo, fmtTime, runLink } = orch;
  const list = document.getElementById("deployments");
  const dialog = document.getElementById("run-dialog");
  const params = document.getElementById("run-params");
  const errorBox = document.getElementById("run-error");
  let current = null;
  let refreshNow = () => {};

  function schedule(s) {
    const what = s.cron ? `cron ${s.cron}` : s.interval_seconds ? `every ${orch.fmtDuration(s.interval_seconds, true)}` : s.rrule ? `rrule ${s.rrule}` : s.slug;
    return el("li", {}, el("code", {}, what), el("span", { class: "when" }, `${s.timezone}${s.active ? "" : " · inactive"}`));
  }

  function runItem(run, upcoming) {
    const when = upcoming ? run.expected_start : run.end_time || run.start_time || run.expected_start;
    return el("li", {}, badge(run.state), runLink(run), el("span", { class: "when", title: fmtTime(when) }, fmtAgo(when)));
  }

  function section(title, items, emptyText) {
    return el("div", {}, el("h3", {}, title), items.length ? el("ul", { class: "runlist" }, items) : el("div", { class: "empty-note" }, emptyText));
  }

  function deploymentPanel(d) {
    const pause = el(
      "button",
      { class: "btn needs-operate", "data-pause": d.full_name, onclick: () => act(d, d.paused ? "resume" : "pause") },
      d.paused ? "Resume" : "Pause"
    );
    const run = el("button", { class: "btn primary needs-operate", "data-run": d.full_name, onclick: () => openRun(d) }, "Run");
    const state = d.paused ? el("span", { class: "badge st-paused" }, "Paused") : el("span", { class: "badge st-completed" }, "Active");
    return el(
      "section",
      { class: "panel", "data-deployment": d.full_name },
      el(
        "div",
        { class: "item-head" },
        el(
          "div",
          {},
          el("h2", {}, el("a", { href: `/deployments/${d.full_name.split("/").map(encodeURIComponent).join("/")}` }, d.full_name), " ", state),
          el("div", { class: "meta" }, `pool ${d.work_pool} · ${d.retries} retr${d.retries === 1 ? "y" : "ies"}`, d.description ? ` · ${d.description}` : "", " ", d.tags.map((t) => el("span", { class: "tag" }, t)))
        ),
        el("div", { class: "actions" }, pause, run)
      ),
      el(
        "div",
        { class: "cols" },
        section("Schedules", d.schedules.map(schedule), "No schedule: runs on demand."),
        section("Upcoming runs", d.upcoming_runs.map((r) => runItem(r, true)), "None scheduled."),
        section("Last runs", d.last_runs.map((r) => runItem(r, false)), "Never run."),
        el("div", {}, el("h3", {}, "Default parameters"), el("pre", { class: "code" }, JSON.stringify(d.parameters, null, 2)))
      )
    );
  }

  async function act(d, action) {
    try {
      await api(`/api/deployments/${encodeURIComponent(d.id)}/${action}`, { method: "POST" });
      toast(`${d.full_name} ${action === "pause" ? "paused" : "resumed"}`);
      refreshNow();
    } catch (error) {
      toast(error.message, true);
    }
  }

  function paramRow(key, value) {
    const row = el(
      "div",
      { class: "param" },
      el("input", { class: "param-key", placeholder: "name", value: key || "", "aria-label": "parameter name" }),
      el("input", { class: "param-value", placeholder: "value (JSON or text)", value: value === undefined ? "" : value, "aria-label": "parameter value" }),
      el("button", { type: "button", class: "btn small", title: "Remove", onclick: () => row.remove() }, "×")
    );
    return row;
  }

  function openRun(d) {
    current = d;
    replace(document.getElementById("run-dialog-name"), d.full_name);
    const rows = Object.entries(d.parameters).map(([k, v]) => paramRow(k, JSON.stringify(v)));
    replace(params, rows.length ? rows : [paramRow()]);
    errorBox.hidden = true;
    dialog.showModal();
  }

  function collect() {
    const out = {};
    for (const row of params.querySelectorAll(".param")) {
      const key = row.querySelector(".param-key").value.trim();
      const text = row.querySelector(".param-value").value.trim();
      if (!key) continue;
      try {
        out[key] = JSON.parse(text);
      } catch (_) {
        out[key] = text;
      }
    }
    return out;
  }

  document.getElementById("add-param").addEventListener("click", () => params.append(paramRow()));
  document.getElementById("run-close").addEventListener("click", () => dialog.close());
  document.getElementById("run-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const submit = document.getElementById("run-submit");
    submit.disabled = true;
    try {
      const run = await api(`/api/deployments/${encodeURIComponent(current.id)}/runs`, { method: "POST", body: { parameters: collect() } });
      location.href = `/flow-runs/${encodeURIComponent(run.id)}`;
    } catch (error) {
      errorBox.textContent = error.message;
      errorBox.hidden = false;
      submit.disabled = false;
    }
  });

  /** The settings and latest runs of the one deployment a deployment page shows. */
  async function details(d) {
    const { flow_runs: runs } = await api(`/api/flow-runs?${new URLSearchParams({ deployment: d.full_name, limit: 20 })}`);
    const rows = [
      ["Entrypoint", el("code", {}, d.entrypoint.join(" "))],
      ["Base folder", el("code", {}, d.base_dir || "–")],
      ["Work pool", el("a", { href: "/work-pools" }, d.work_pool)],
      ["Catch-up", d.catch_up],
      ["Concurrency", d.concurrency_limit === null ? "unlimited" : `${d.concurrency_limit} (${d.collision_strategy})`],
      ["Retention", `runs ${d.retention_runs_days ?? "server default"} d, logs ${d.retention_logs_days ?? "server default"} d`],
      ["Variables", Object.keys(d.env).length ? el("ul", { class: "var-list" }, Object.keys(d.env).map((k) => el("li", {}, el("code", {}, k)))) : "none"],
      ["Secrets", d.secrets.length ? el("ul", { class: "var-list" }, d.secrets.map((k) => el("li", {}, el("code", {}, k)))) : "none"],
    ];
    return [
      el("section", { class: "panel" }, el("h2", {}, "Settings"), el("table", { class: "table details" }, el("tbody", {}, rows.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v)))))),
      el(
        "section",
        { class: "panel" },
        el("div", { class: "table-head" }, el("h2", {}, "Runs"), el("a", { href: `/flow-runs?${new URLSearchParams({ deployment: d.full_name })}` }, "All runs of this deployment")),
        orch.table(runs, orch.runColumns(), "Never run.")
      ),
    ];
  }

  async function refresh() {
    const only = list.dataset.only;
    if (only) {
      const d = await api(`/api/deployments/${only.split("/").map(encodeURIComponent).join("/")}`);
      replace(list, deploymentPanel(d), await details(d));
      return;
    }
    const { deployments } = await api("/api/deployments");
    if (!deployments.length) {
      replace(list, el("section", { class: "panel empty" }, el("h2", {}, "No deployments yet"), el("p", { class: "muted" }, "Register some with ", el("code", {}, "orch deploy"), ".")));
      return;
    }
    replace(list, deployments.map(deploymentPanel));
  }

  refreshNow = orch.poll(refresh, 5000);
})();
