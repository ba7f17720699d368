// The artifacts index: every artifact key, most recently published first,
// searchable by name; each links to its key's page (latest and trends).
"use strict";

(() => {
  const { api, el, replace, table, fmtAgo, fmtTime, fmtNumber } = orch;
  const list = document.getElementById("keys");
  const search = document.getElementById("key-search");
  search.value = new URLSearchParams(location.search).get("search") || "";

  async function refresh() {
    const { keys } = await api(`/api/artifact-keys?${new URLSearchParams({ search: search.value.trim(), limit: 500 })}`);
    replace(
      list,
      table(
        keys,
        [
          ["Key", (k) => el("a", { href: `/artifacts/${encodeURIComponent(k.key)}` }, k.key)],
          ["Artifacts", (k) => fmtNumber(k.artifacts), "num"],
          ["Latest", (k) => el("span", { title: fmtTime(k.latest_at) }, fmtAgo(k.latest_at))],
        ],
        search.value.trim()
          ? `No artifact key contains "${search.value.trim()}".`
          : "No artifacts yet: flows publish them with a key (see docs/artifacts.md)."
      )
    );
  }

  const refreshNow = orch.poll(refresh, 10000);
  document.getElementById("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const query = search.value.trim();
    history.replaceState(null, "", query ? `?${new URLSearchParams({ search: query })}` : location.pathname);
    refreshNow();
  });
})();
