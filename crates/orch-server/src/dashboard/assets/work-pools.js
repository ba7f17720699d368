// Work pools and their workers: status, heartbeats, runs in flight, concurrency.
"use strict";

(() => {
  const { api, el, replace, table, toast, fmtAgo, fmtTime, fmtNumber } = orch;
  const list = document.getElementById("pools");
  let refreshNow = () => {};

  function poolStatus(p) {
    if (p.paused) return el("span", { class: "badge st-paused" }, "Paused");
    if (!p.workers_online) return el("span", { class: "badge st-failed" }, "No workers online");
    return el("span", { class: "badge st-completed" }, "Ready");
  }

  function concurrency(p) {
    if (p.concurrency_limit === null) return orch.card("Runs in flight", fmtNumber(p.runs_in_flight), "no concurrency limit");
    const share = p.concurrency_limit ? Math.min(100, (100 * p.runs_in_flight) / p.concurrency_limit) : 100;
    const value = [`${fmtNumber(p.runs_in_flight)} / ${fmtNumber(p.concurrency_limit)}`, el("span", { class: "meter" }, el("div", { style: `width: ${share}%` }))];
    return orch.card("Runs in flight", value, "of the pool's concurrency limit");
  }

  async function act(p, action) {
    try {
      await api(`/api/work-pools/${encodeURIComponent(p.name)}/${action}`, { method: "POST" });
      toast(`${p.name} ${action === "pause" ? "paused" : "resumed"}`);
      refreshNow();
    } catch (error) {
      toast(error.message, true);
    }
  }

  function poolPanel(p) {
    const workers = table(
      p.workers,
      [
        ["Worker", (w) => [el("span", { class: `dot ${w.status}` }), w.name]],
        ["Status", (w) => w.status],
        ["Host", (w) => w.hostname],
        ["Last heartbeat", (w) => el("span", { title: fmtTime(w.last_heartbeat) }, fmtAgo(w.last_heartbeat))],
        ["Runs in flight", (w) => `${w.runs_in_flight}${w.limit ? ` / ${w.limit}` : ""}`, "num"],
        ["Started", (w) => fmtTime(w.started_at)],
        ["Version", (w) => w.version],
      ],
      "No worker seen in the last 24 hours. Start one with: orch worker start --pool " + p.name
    );
    return el(
      "section",
      { class: "panel", "data-pool": p.name },
      el(
        "div",
        { class: "item-head" },
        el("div", {}, el("h2", {}, p.name, " ", poolStatus(p)), el("div", { class: "meta" }, `${p.type} pool`, p.description ? ` · ${p.description}` : "")),
        el("div", { class: "actions" }, el("button", { class: "btn needs-operate", "data-pause": p.name, onclick: () => act(p, p.paused ? "resume" : "pause") }, p.paused ? "Resume" : "Pause"))
      ),
      el(
        "div",
        { class: "cards" },
        orch.card("Workers online", fmtNumber(p.workers_online), `${p.workers.length} seen in 24 h`, p.workers_online ? "good" : "bad"),
        concurrency(p),
        orch.card("Waiting", fmtNumber(p.runs_waiting), "scheduled runs")
      ),
      workers
    );
  }

  async function refresh() {
    const { work_pools } = await api("/api/work-pools");
    if (!work_pools.length) {
      replace(list, el("section", { class: "panel empty" }, el("h2", {}, "No work pools yet"), el("p", { class: "muted" }, "Create one with ", el("code", {}, "orch work-pool create NAME --type process"), ".")));
      return;
    }
    replace(list, work_pools.map(poolPanel));
  }

  refreshNow = orch.poll(refresh, 4000);
})();
