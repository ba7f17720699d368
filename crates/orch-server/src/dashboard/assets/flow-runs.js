// Flow runs: filters kept in the URL, a start-time/duration scatter and a
// paginated table (keyset cursors), refreshed every few seconds.
"use strict";

(() => {
  const { api, el, replace, table, runColumns, fmtNumber, STATES } = orch;
  const form = document.getElementById("filters");
  const FIELDS = ["flow", "deployment", "state", "work_pool", "tag", "top_level", "range"];
  const RANGES = { "1h": 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400 };
  const PAGE = 25;
  let cursors = [""]; // cursors[i] starts page i
  let page = 0;

  function fill(select, values, current) {
    const first = select.options[0];
    select.replaceChildren(first, ...values.map(([value, label]) => el("option", { value, selected: value === current }, label)));
  }

  function filters() {
    const data = new FormData(form);
    const out = {};
    for (const field of FIELDS) {
      const value = (data.get(field) || "").trim();
      if (value) out[field] = value;
    }
    return out;
  }

  function query(extra) {
    const f = filters();
    const params = new URLSearchParams();
    for (const key of ["flow", "deployment", "state", "work_pool", "tag", "top_level"]) if (f[key]) params.set(key, f[key]);
    if (f.range && RANGES[f.range]) params.set("since", new Date(Date.now() - RANGES[f.range] * 1000).toISOString());
    for (const [k, v] of Object.entries(extra || {})) if (v) params.set(k, v);
    return params.toString();
  }

  async function loadOptions() {
    const url = new URLSearchParams(location.search);
    const [flows, deployments, pools] = await Promise.all([api("/api/flows"), api("/api/deployments"), api("/api/work-pools")]);
    fill(form.flow, flows.flows.map((f) => [f.name, f.name]), url.get("flow"));
    fill(form.deployment, deployments.deployments.map((d) => [d.full_name, d.full_name]), url.get("deployment"));
    fill(form.state, STATES.map(([name]) => [name.toLowerCase(), name]), url.get("state"));
    fill(form.work_pool, pools.work_pools.map((p) => [p.name, p.name]), url.get("work_pool"));
    form.tag.value = url.get("tag") || "";
    form.top_level.checked = url.get("top_level") === "true";
    form.range.value = url.get("range") || "";
  }

  async function refresh() {
    const [list, timeline] = await Promise.all([
      api(`/api/flow-runs?${query({ limit: PAGE, cursor: cursors[page] })}`),
      api(`/api/flow-runs/timeline?${query({ limit: 500 })}`),
    ]);
    charts.scatter(document.getElementById("timeline"), timeline.points, (p) => (location.href = `/flow-runs/${encodeURIComponent(p.id)}`));
    replace(document.getElementById("runs"), table(list.flow_runs, runColumns(), "No flow runs match these filters."));
    const first = page * PAGE + (list.flow_runs.length ? 1 : 0);
    const last = page * PAGE + list.flow_runs.length;
    const total = `${fmtNumber(list.total)}${list.total_exact ? "" : "+"}`;
    replace(document.getElementById("total"), `${fmtNumber(first)}–${fmtNumber(last)} of ${total}`);
    cursors[page + 1] = list.next_cursor || null;
    document.getElementById("prev").disabled = page === 0;
    document.getElementById("next").disabled = !list.next_cursor;
  }

  function restart() {
    cursors = [""];
    page = 0;
    const url = new URLSearchParams(filters());
    history.replaceState(null, "", url.toString() ? `?${url}` : location.pathname);
    tick();
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    restart();
  });
  form.addEventListener("change", restart);
  form.addEventListener("reset", () => setTimeout(restart, 0));
  document.getElementById("next").addEventListener("click", () => {
    if (!cursors[page + 1]) return;
    page += 1;
    tick();
  });
  document.getElementById("prev").addEventListener("click", () => {
    page = Math.max(0, page - 1);
    tick();
  });

  let tick = () => {};
  loadOptions()
    .catch((error) => orch.toast(error.message, true))
    .finally(() => {
      tick = orch.poll(refresh, 5000);
    });
})();
