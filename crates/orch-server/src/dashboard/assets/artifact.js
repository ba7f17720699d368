// One artifact key: its latest artifact, and a trend chart of each metric
// across the runs that published it.
"use strict";

(() => {
  const { api, el, replace, fmtTime, card } = orch;
  const page = document.getElementById("artifact-page");
  if (!page) return;
  const key = page.dataset.key;

  async function refresh() {
    const { artifacts: series } = await api(`/api/artifacts/${encodeURIComponent(key)}/series?limit=500`);
    const latest = series[series.length - 1];
    replace(
      document.getElementById("key-facts"),
      card("Points", String(series.length), "newest 500 at most"),
      card("Latest run", el("a", { href: `/flow-runs/${encodeURIComponent(latest.flow_run_id)}` }, latest.flow_run_name), latest.flow),
      card("Published", fmtTime(latest.created_at).slice(11), fmtTime(latest.created_at).slice(0, 10))
    );
    replace(document.getElementById("latest"), artifacts.card(latest));
    const metrics = artifacts.metricSeries(series);
    const trends = document.getElementById("trends");
    if (!metrics.size) {
      replace(trends, el("div", { class: "empty-note" }, "This key has no metrics: trends appear when runs publish ctx.artifact(key).metrics(..)."));
      return;
    }
    // Panels first, then the charts, so each is drawn at its panel's width.
    const drawn = [...metrics.entries()].map(([name, points]) => {
      const chart = el("div", { class: "chart" });
      const box = el(
        "section",
        { class: "panel trend-panel", "data-metric": name },
        el("h2", {}, name, " ", el("span", { class: "muted latest-value" }, artifacts.formatNumber(points[points.length - 1].value))),
        chart
      );
      return { box, chart, name, points };
    });
    replace(trends, drawn.map((d) => d.box));
    for (const { chart, name, points } of drawn) artifacts.trend(chart, name, points);
  }

  orch.poll(refresh, 10000);
})();
