// orch dashboard: artifacts (markdown, tables, links, metrics) and metric
// trends. Everything is built with DOM nodes and textContent, never from
// HTML strings: markup or <script> in an artifact shows as text.
"use strict";

const artifacts = (() => {
  const { el, svg, fmtTime } = orch;

  const safeUrl = (url) => /^https?:\/\//i.test(String(url || "").trim());

  /** Inline Markdown: `code`, **bold**, *italic*, [text](http...). */
  function inline(text) {
    const out = [];
    const pattern = /(`[^`]+`)|(\*\*[^*]+\*\*)|(\*[^*]+\*)|(\[[^\]]+\]\([^)\s]+\))/g;
    let last = 0;
    for (const match of text.matchAll(pattern)) {
      if (match.index > last) out.push(text.slice(last, match.index));
      const token = match[0];
      if (match[1]) out.push(el("code", {}, token.slice(1, -1)));
      else if (match[2]) out.push(el("strong", {}, inline(token.slice(2, -2))));
      else if (match[3]) out.push(el("em", {}, inline(token.slice(1, -1))));
      else {
        const [, label, url] = token.match(/^\[([^\]]+)\]\(([^)\s]+)\)$/);
        out.push(safeUrl(url) ? el("a", { href: url, rel: "noopener noreferrer", target: "_blank" }, label) : token);
      }
      last = match.index + token.length;
    }
    if (last < text.length) out.push(text.slice(last));
    return out;
  }

  const isTableRow = (line) => /^\s*\|.*\|\s*$/.test(line);
  const cells = (line) => line.trim().replace(/^\||\|$/g, "").split("|").map((c) => c.trim());

  /** Block Markdown: headings, paragraphs, lists, code blocks, rules, pipe tables. */
  function markdown(text) {
    const root = el("div", { class: "markdown" });
    const lines = String(text).replace(/\r\n?/g, "\n").split("\n");
    let i = 0;
    while (i < lines.length) {
      const line = lines[i];
      if (!line.trim()) {
        i++;
        continue;
      }
      if (line.startsWith("```")) {
        const body = [];
        i++;
        while (i < lines.length && !lines[i].startsWith("```")) body.push(lines[i++]);
        i++;
        root.append(el("pre", { class: "code" }, body.join("\n")));
        continue;
      }
      const heading = line.match(/^(#{1,6})\s+(.*)$/);
      if (heading) {
        root.append(el(`h${Math.min(heading[1].length + 2, 6)}`, {}, inline(heading[2])));
        i++;
        continue;
      }
      if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) {
        root.append(el("hr", {}));
        i++;
        continue;
      }
      if (isTableRow(line) && i + 1 < lines.length && /^\s*\|?[\s:|-]+\|?\s*$/.test(lines[i + 1])) {
        const head = cells(line);
        const rows = [];
        i += 2;
        while (i < lines.length && isTableRow(lines[i])) {
          const row = cells(lines[i++]);
          rows.push(Object.fromEntries(head.map((h, k) => [h, row[k] ?? ""])));
        }
        root.append(table(rows, head));
        continue;
      }
      const listItem = /^\s*([-*+]|\d+[.)])\s+(.*)$/;
      if (listItem.test(line)) {
        const ordered = /^\s*\d/.test(line);
        const list = el(ordered ? "ol" : "ul", {});
        while (i < lines.length && listItem.test(lines[i])) {
          list.append(el("li", {}, inline(lines[i].match(listItem)[2])));
          i++;
        }
        root.append(list);
        continue;
      }
      const paragraph = [];
      while (i < lines.length && lines[i].trim() && !/^(#{1,6}\s|```)/.test(lines[i]) && !listItem.test(lines[i])) {
        paragraph.push(lines[i++]);
      }
      root.append(el("p", {}, inline(paragraph.join(" "))));
    }
    return root;
  }

  const cellText = (value) => (value === null || value === undefined ? "" : typeof value === "object" ? JSON.stringify(value) : String(value));

  /** A table whose columns sort on click (numbers as numbers). */
  function table(rows, columns) {
    columns = columns || [...new Set(rows.flatMap((row) => Object.keys(row)))];
    if (!rows.length) return el("div", { class: "empty-note" }, "An empty table.");
    const body = el("tbody", {});
    const numeric = columns.map((c) => rows.every((r) => r[c] === null || r[c] === undefined || r[c] === "" || !Number.isNaN(Number(r[c]))));
    let order = { column: -1, descending: false };
    function fill() {
      const sorted = rows.slice();
      if (order.column >= 0) {
        const key = columns[order.column];
        const number = numeric[order.column];
        sorted.sort((a, b) => {
          const x = number ? Number(a[key] ?? -Infinity) : cellText(a[key]);
          const y = number ? Number(b[key] ?? -Infinity) : cellText(b[key]);
          const c = number ? x - y : x.localeCompare(y);
          return order.descending ? -c : c;
        });
      }
      body.replaceChildren(...sorted.map((row) => el("tr", {}, columns.map((c, k) => el("td", { class: numeric[k] ? "num" : null }, cellText(row[c]))))));
    }
    const heads = columns.map((column, k) =>
      el("th", { class: `sortable ${numeric[k] ? "num" : ""}`, title: "Sort", tabindex: 0, "aria-sort": "none", onclick: () => sortBy(k) }, column)
    );
    function sortBy(k) {
      order = { column: k, descending: order.column === k ? !order.descending : false };
      heads.forEach((h, j) => h.setAttribute("aria-sort", j === k ? (order.descending ? "descending" : "ascending") : "none"));
      fill();
    }
    fill();
    return el("table", { class: "table artifact-table" }, el("thead", {}, el("tr", {}, heads)), body);
  }

  function metricsList(data) {
    return el(
      "dl",
      { class: "metrics" },
      Object.entries(data).map(([name, value]) => el("div", {}, el("dt", {}, name), el("dd", {}, formatNumber(value))))
    );
  }

  function formatNumber(value) {
    const n = Number(value);
    if (!Number.isFinite(n)) return String(value);
    return Math.abs(n) >= 1000 || Number.isInteger(n) ? n.toLocaleString() : n.toPrecision(4).replace(/\.?0+$/, "");
  }

  /** The body of one artifact. */
  function body(artifact) {
    const data = artifact.data;
    switch (artifact.kind) {
      case "markdown":
        return markdown(data);
      case "table":
        return table(Array.isArray(data) ? data : []);
      case "link":
        return safeUrl(data.url)
          ? el("a", { href: data.url, rel: "noopener noreferrer", target: "_blank" }, data.title || data.url)
          : el("span", {}, String(data.url));
      case "metrics":
        return metricsList(data || {});
      default:
        return el("pre", { class: "code" }, JSON.stringify(data, null, 2));
    }
  }

  /** One artifact with its heading: key (linking to its series), kind, time. */
  function card(artifact, taskNames) {
    const task = artifact.task_run_id && taskNames ? taskNames.get(artifact.task_run_id) : null;
    const title = artifact.key
      ? el("a", { href: `/artifacts/${encodeURIComponent(artifact.key)}`, class: "artifact-key" }, artifact.key)
      : el("span", { class: "artifact-key" }, `(${artifact.kind})`);
    return el(
      "article",
      { class: `artifact kind-${artifact.kind}`, "data-artifact-id": artifact.id },
      el(
        "header",
        {},
        title,
        el("span", { class: "tag" }, artifact.kind),
        task ? el("span", { class: "muted" }, `task ${task}`) : null,
        el("span", { class: "muted right" }, fmtTime(artifact.created_at))
      ),
      artifact.description ? el("p", { class: "muted desc" }, artifact.description) : null,
      body(artifact)
    );
  }

  /**
   * A metric's trend over runs: points = [{value, label, time}], oldest first.
   */
  function trend(container, name, points) {
    const w = Math.max(280, Math.floor(container.clientWidth || 420));
    const h = 160;
    const m = { left: 56, right: 12, top: 12, bottom: 22 };
    const values = points.map((p) => p.value);
    let lo = Math.min(...values);
    let hi = Math.max(...values);
    if (hi - lo < 1e-12) {
      lo -= Math.abs(lo) * 0.1 + 1;
      hi += Math.abs(hi) * 0.1 + 1;
    }
    const x = (i) => m.left + (points.length === 1 ? (w - m.left - m.right) / 2 : (i / (points.length - 1)) * (w - m.left - m.right));
    const y = (v) => h - m.bottom - ((v - lo) / (hi - lo)) * (h - m.top - m.bottom);
    const root = svg("svg", { width: w, height: h, viewBox: `0 0 ${w} ${h}`, role: "img", class: "trend", "data-metric": name, "aria-label": `${name} over ${points.length} runs` });
    const axis = svg("g", { class: "grid axis" });
    for (const v of [lo, (lo + hi) / 2, hi]) {
      axis.append(svg("line", { x1: m.left, x2: w - m.right, y1: y(v), y2: y(v) }), svg("text", { x: m.left - 6, y: y(v) + 4, "text-anchor": "end" }, formatNumber(v)));
    }
    axis.append(
      svg("text", { x: m.left, y: h - 6, "text-anchor": "start" }, fmtTime(points[0].time).slice(5, 16)),
      svg("text", { x: w - m.right, y: h - 6, "text-anchor": "end" }, fmtTime(points[points.length - 1].time).slice(5, 16))
    );
    root.append(axis);
    root.append(svg("polyline", { class: "trend-line", points: points.map((p, i) => `${x(i)},${y(p.value)}`).join(" ") }));
    points.forEach((p, i) => {
      root.append(svg("circle", { class: "trend-point", cx: x(i), cy: y(p.value), r: 3.5 }, svg("title", {}, `${p.label}: ${formatNumber(p.value)} (${fmtTime(p.time)})`)));
    });
    container.replaceChildren(root);
  }

  /** Metric name -> points, from a series of artifacts (oldest first). */
  function metricSeries(series) {
    const byMetric = new Map();
    for (const artifact of series) {
      if (artifact.kind !== "metrics" || !artifact.data) continue;
      for (const [name, value] of Object.entries(artifact.data)) {
        if (!byMetric.has(name)) byMetric.set(name, []);
        byMetric.get(name).push({ value: Number(value), label: artifact.flow_run_name, time: artifact.created_at, run: artifact.flow_run_id });
      }
    }
    return byMetric;
  }

  return { markdown, table, body, card, trend, metricSeries, formatNumber };
})();
