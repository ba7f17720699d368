// Overview: the last 24 hours at a glance, refreshed every few seconds.
"use strict";

(() => {
  const { api, el, replace, badge, card, table, runColumns, runLink, fmtDuration, fmtNumber, fmtAgo, stateKey } = orch;

  function distribution(byState, total) {
    if (!total) return el("div", { class: "empty-note" }, "No runs were due in this window.");
    const bar = el(
      "div",
      { class: "dist" },
      byState.map((s) => el("div", { class: `st-${stateKey(s)}`, style: `flex: ${s.count}`, title: `${s.name}: ${s.count}` }))
    );
    const rows = table(byState, [
      ["State", (s) => badge(s)],
      ["Runs", (s) => fmtNumber(s.count), "num"],
      ["Share", (s) => `${((100 * s.count) / total).toFixed(1)} %`, "num"],
    ]);
    return [bar, rows];
  }

  async function refresh() {
    const [o, latest] = await Promise.all([api("/api/overview?hours=24"), api("/api/flow-runs?limit=10")]);
    const rate = o.success_rate === null ? "–" : `${(o.success_rate * 100).toFixed(1)} %`;
    const rateClass = o.success_rate === null ? "" : o.success_rate >= 0.95 ? "good" : o.success_rate < 0.8 ? "bad" : "";
    replace(
      document.getElementById("cards"),
      card("Runs, last 24 h", fmtNumber(o.total), `${fmtNumber(o.completed)} completed · ${fmtNumber(o.failed)} failed`),
      card("Success rate", rate, "completed / (completed + failed + crashed)", rateClass),
      card("Late runs now", fmtNumber(o.late_now), "scheduled, not yet picked up", o.late_now > 0 ? "late" : ""),
      card("Average lateness", o.average_lateness_seconds === null ? "–" : fmtDuration(o.average_lateness_seconds), `over ${fmtNumber(o.started)} started runs`),
      card("Failures needing attention", fmtNumber(o.failures.length), "not followed by a success", o.failures.length ? "bad" : "good"),
      card("Workers online", fmtNumber(o.workers_online), "heartbeating", o.workers_online ? "good" : "bad")
    );
    replace(document.getElementById("window"), `since ${new Date(o.since).toLocaleString()}`);
    replace(document.getElementById("by-state"), distribution(o.by_state, o.total));
    replace(
      document.getElementById("failures"),
      table(
        o.failures,
        [
          ["Run", (r) => runLink(r)],
          ["Deployment", (r) => r.deployment || r.flow],
          ["State", (r) => badge(r.state)],
          ["When", (r) => fmtAgo(r.end_time || r.state.timestamp)],
          ["Reason", (r) => el("span", { title: r.state.message }, r.state.message || "–"), "msg"],
        ],
        "Nothing needs attention: every recent failure was followed by a success."
      )
    );
    replace(document.getElementById("latest"), table(latest.flow_runs, runColumns(), "No flow runs yet. Run a deployment to see it here."));
  }

  orch.poll(refresh, 5000);
})();
