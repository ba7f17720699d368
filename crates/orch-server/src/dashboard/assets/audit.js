// The audit trail (admins only): every change, who made it, from where.
"use strict";

(() => {
  const { api, el, replace, table, fmtAgo, fmtTime } = orch;
  const list = document.getElementById("audit");

  async function refresh() {
    const { records } = await api("/api/audit?limit=200");
    replace(
      list,
      table(
        records,
        [
          ["When", (r) => el("span", { title: fmtTime(r.at) }, fmtAgo(r.at))],
          ["Who", (r) => r.caller],
          ["From", (r) => r.address || "–"],
          ["Action", (r) => el("code", {}, r.action)],
          ["Target", (r) => r.target || "–"],
          ["Outcome", (r) => el("span", { class: `badge st-${r.outcome === "ok" ? "completed" : "failed"}` }, r.outcome)],
          ["Via", (r) => r.transport],
        ],
        "Nothing recorded yet."
      )
    );
  }

  orch.poll(refresh, 10000);
})();
