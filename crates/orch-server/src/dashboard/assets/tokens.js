// API tokens (admins only): names, scopes and times, never keys.
"use strict";

(() => {
  const { api, el, replace, table, fmtAgo, fmtTime } = orch;
  const list = document.getElementById("tokens");
  const when = (t) => (t ? el("span", { title: fmtTime(t) }, fmtAgo(t)) : "–");

  async function refresh() {
    const { tokens } = await api("/api/tokens");
    replace(
      list,
      table(
        tokens,
        [
          ["Name", (t) => t.name],
          ["Scope", (t) => el("span", { class: "tag" }, t.scope)],
          ["Pools", (t) => (t.pools.length ? t.pools.join(", ") : "–")],
          ["Created", (t) => when(t.created_at)],
          ["Last used", (t) => when(t.last_used)],
          ["Expires", (t) => when(t.expires_at)],
          ["Status", (t) => (t.revoked_at ? el("span", { class: "badge st-cancelled" }, "Revoked") : el("span", { class: "badge st-completed" }, "Live"))],
        ],
        "No tokens: 'orch token create NAME --scope read' makes one."
      )
    );
  }

  orch.poll(refresh, 10000);
})();
