// Automations: trigger, actions, counters, unset receivers, pause/resume,
// and the latest delivery attempts of each.
"use strict";

(() => {
  const { api, el, replace, table, toast, fmtAgo, fmtTime, fmtNumber } = orch;
  const list = document.getElementById("automations");
  let refreshNow = () => {};

  function status(a) {
    if (a.paused) return el("span", { class: "badge st-paused" }, "Paused");
    if (a.unset_variables.length) return el("span", { class: "badge st-late" }, "Not configured");
    return el("span", { class: "badge st-completed" }, "Active");
  }

  function describe(trigger) {
    const parts = Object.entries(trigger).filter(([k]) => k !== "type").map(([k, v]) => `${k} = ${JSON.stringify(v)}`);
    return `${trigger.type}${parts.length ? ` (${parts.join(", ")})` : ""}`;
  }

  async function act(a, action) {
    try {
      await api(`/api/automations/${encodeURIComponent(a.name)}/${action}`, { method: "POST" });
      toast(`${a.name} ${action === "pause" ? "paused" : "resumed"}`);
      refreshNow();
    } catch (error) {
      toast(error.message, true);
    }
  }

  async function panel(a) {
    const { entries } = await api(`/api/automations/${encodeURIComponent(a.name)}/history?limit=10`);
    const history = table(
      entries,
      [
        ["When", (e) => el("span", { title: fmtTime(e.at) }, fmtAgo(e.at))],
        ["Kind", (e) => e.kind],
        ["Action", (e) => e.action || "—"],
        ["Attempt", (e) => String(e.attempt), "num"],
        ["Outcome", (e) => el("span", { class: `badge st-${e.outcome === "delivered" ? "completed" : e.outcome === "retrying" ? "late" : e.outcome === "suppressed" ? "paused" : e.outcome === "loop-suppressed" ? "late" : "failed"}` }, e.outcome)],
        ["Status", (e) => (e.status_code === null ? "—" : String(e.status_code)), "num"],
        ["Run", (e) => (e.flow_run_id ? el("a", { href: `/flow-runs/${e.flow_run_id}` }, e.flow_run_id.slice(0, 8)) : "—")],
        ["Error", (e) => e.error || ""],
      ],
      "Nothing delivered yet: it has not fired."
    );
    const unset = a.unset_variables.length
      ? el("div", { class: "muted" }, "Inactive until these are set on the server:", el("ul", { class: "var-list" }, a.unset_variables.map((v) => el("li", {}, el("code", {}, v)))))
      : null;
    // Loop protection stopped it: say so, with the reason and the fix.
    const loop = a.loop_suppressed
      ? el(
          "div",
          { class: "loop-note", "data-loop": a.name },
          el("strong", {}, `Loop stopped: ${fmtNumber(a.loop_suppressed)} firing${a.loop_suppressed === 1 ? "" : "s"} suppressed`),
          a.loop_suppressed_at ? el("span", { class: "muted", title: fmtTime(a.loop_suppressed_at) }, ` (last ${fmtAgo(a.loop_suppressed_at)})`) : "",
          el("div", {}, a.loop_message || "")
        )
      : null;
    return el(
      "section",
      { class: "panel", "data-automation": a.name },
      el(
        "div",
        { class: "item-head" },
        el("div", {}, el("h2", {}, a.name, " ", status(a)), el("div", { class: "meta" }, a.description || "", " ", el("code", {}, describe(a.trigger)))),
        el("div", { class: "actions" }, el("button", { class: "btn", "data-pause": a.name, onclick: () => act(a, a.paused ? "resume" : "pause") }, a.paused ? "Resume" : "Pause"))
      ),
      unset,
      loop,
      el(
        "div",
        { class: "cards" },
        orch.card("Firings", fmtNumber(a.firings), a.last_fired_at ? `last ${fmtAgo(a.last_fired_at)}` : "never fired"),
        orch.card("Suppressed", fmtNumber(a.suppressed + a.loop_suppressed), `cooldown ${a.cooldown_seconds} s${a.loop_suppressed ? `, ${fmtNumber(a.loop_suppressed)} loop` : ""}`, a.loop_suppressed ? "bad" : ""),
        orch.card("Delivered", fmtNumber(a.delivered), (a.actions || []).map((x) => x.type).join(", "), "good"),
        orch.card("Failed", fmtNumber(a.failed), `${fmtNumber(a.pending)} pending, ${fmtNumber(a.skipped)} skipped`, a.failed ? "bad" : "")
      ),
      history
    );
  }

  async function refresh() {
    const { automations } = await api("/api/automations");
    if (!automations.length) {
      replace(list, el("section", { class: "panel empty" }, el("h2", {}, "No automations yet"), el("p", { class: "muted" }, "Declare ", el("code", {}, "[[automations]]"), " in the deploy file and run ", el("code", {}, "orch deploy"), ".")));
      return;
    }
    replace(list, await Promise.all(automations.map(panel)));
  }

  refreshNow = orch.poll(refresh, 4000);
})();
