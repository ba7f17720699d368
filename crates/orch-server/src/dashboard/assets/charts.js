// orch dashboard: small SVG charts drawn by hand (scatter, task graph, Gantt).
"use strict";

const charts = (() => {
  const { svg, el, stateKey, fmtDuration, fmtTime } = orch;

  function width(container, fallback) {
    return Math.max(320, Math.floor(container.clientWidth || fallback || 900));
  }

  /** Log-scale ticks (seconds) covering [lo, hi]. */
  const DURATION_TICKS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400];

  /**
   * Runs as points: x = start time, y = duration (log scale), coloured by state.
   * points: [{id, name, flow, state, start_time, duration_seconds}].
   */
  function scatter(container, points, onClick) {
    const w = width(container);
    const h = 260;
    const m = { left: 56, right: 16, top: 12, bottom: 28 };
    if (!points.length) {
      container.replaceChildren(el("div", { class: "empty-note" }, "No started runs match these filters."));
      return;
    }
    const xs = points.map((p) => new Date(p.start_time).getTime());
    let x0 = Math.min(...xs);
    let x1 = Math.max(...xs);
    if (x1 - x0 < 60000) {
      x0 -= 30000;
      x1 += 30000;
    }
    const ds = points.map((p) => Math.max(p.duration_seconds, 0.01));
    const lo = Math.log10(Math.min(...ds) / 1.5);
    const hi = Math.log10(Math.max(...ds) * 1.5);
    const span = Math.max(hi - lo, 1);
    const x = (t) => m.left + ((t - x0) / (x1 - x0)) * (w - m.left - m.right);
    const y = (d) => h - m.bottom - ((Math.log10(Math.max(d, 0.01)) - lo) / span) * (h - m.top - m.bottom);
    const root = svg("svg", { width: w, height: h, viewBox: `0 0 ${w} ${h}`, role: "img", "aria-label": "Flow runs: start time against duration" });
    const grid = svg("g", { class: "grid axis" });
    const inRange = DURATION_TICKS.filter((t) => Math.log10(t) >= lo && Math.log10(t) <= lo + span);
    const step = Math.ceil(inRange.length / 6);
    for (const tick of inRange.filter((_, i) => i % step === 0)) {
      grid.append(
        svg("line", { x1: m.left, x2: w - m.right, y1: y(tick), y2: y(tick) }),
        svg("text", { x: m.left - 6, y: y(tick) + 4, "text-anchor": "end" }, fmtDuration(tick, true))
      );
    }
    const ticks = 6;
    for (let i = 0; i <= ticks; i++) {
      const t = x0 + ((x1 - x0) * i) / ticks;
      const range = x1 - x0;
      const text = fmtTime(new Date(t).toISOString());
      const label = range > 86400000 ? text.slice(5, 16) : range > 3600000 ? text.slice(11, 16) : text.slice(11, 19);
      grid.append(svg("text", { x: x(t), y: h - 8, "text-anchor": i === 0 ? "start" : i === ticks ? "end" : "middle" }, label));
    }
    root.append(grid);
    const dots = svg("g", {});
    points.forEach((p, i) => {
      const dot = svg(
        "circle",
        { class: `point st-${stateKey(p.state)}`, cx: x(xs[i]).toFixed(1), cy: y(ds[i]).toFixed(1), r: 4.5, "data-id": p.id },
        svg("title", {}, `${p.name} (${p.flow}) · ${p.state.name} · ${fmtDuration(p.duration_seconds)} · started ${fmtTime(p.start_time)}`)
      );
      if (onClick) dot.addEventListener("click", () => onClick(p));
      dots.append(dot);
    });
    root.append(dots);
    const seen = new Map();
    points.forEach((p) => seen.set(stateKey(p.state), p.state.name));
    const legend = el("div", { class: "legend" }, [...seen].map(([key, name]) => el("span", { class: `st-${key}` }, el("i"), name)));
    container.replaceChildren(root, legend);
  }

  /** Longest-path layers of a DAG; ids missing from `tasks` are ignored. */
  function layers(tasks) {
    const byId = new Map(tasks.map((t) => [t.id, t]));
    const depth = new Map();
    const visiting = new Set();
    function level(task) {
      if (depth.has(task.id)) return depth.get(task.id);
      if (visiting.has(task.id)) return 0; // a cycle cannot happen, but never loop
      visiting.add(task.id);
      let d = 0;
      for (const up of task.upstream_ids) {
        const parent = byId.get(up);
        if (parent) d = Math.max(d, level(parent) + 1);
      }
      visiting.delete(task.id);
      depth.set(task.id, d);
      return d;
    }
    tasks.forEach(level);
    return depth;
  }

  /** Task runs as a left-to-right dependency graph. */
  /** `links`: task run id -> the page its node opens (a subflow call's run). */
  function dag(container, tasks, limit = 300, links = new Map()) {
    if (!tasks.length) {
      container.replaceChildren(el("div", { class: "empty-note" }, "This run reported no task runs."));
      return;
    }
    const shown = tasks.slice(0, limit);
    const depth = layers(shown);
    const columns = [];
    for (const task of shown) {
      const d = depth.get(task.id);
      (columns[d] = columns[d] || []).push(task);
    }
    const nodeW = 168;
    const nodeH = 42;
    const gapX = 56;
    const gapY = 14;
    const pos = new Map();
    const rows = Math.max(...columns.map((c) => c.length));
    const h = rows * (nodeH + gapY) + gapY;
    const w = columns.length * (nodeW + gapX) + gapX / 2;
    columns.forEach((column, ci) => {
      const offset = (h - column.length * (nodeH + gapY) + gapY) / 2;
      column.forEach((task, ri) => pos.set(task.id, { x: gapX / 2 + ci * (nodeW + gapX), y: offset + ri * (nodeH + gapY) }));
    });
    const root = svg("svg", { width: w, height: h, viewBox: `0 0 ${w} ${h}`, role: "img", "aria-label": "Task dependency graph" });
    root.append(
      svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, svg("path", { d: "M0,0 L10,5 L0,10 z", fill: "#94a3b8" })))
    );
    const edges = svg("g", {});
    for (const task of shown) {
      const to = pos.get(task.id);
      for (const up of task.upstream_ids) {
        const from = pos.get(up);
        if (!from) continue;
        const x1 = from.x + nodeW;
        const y1 = from.y + nodeH / 2;
        const x2 = to.x - 2;
        const y2 = to.y + nodeH / 2;
        const mid = (x1 + x2) / 2;
        edges.append(svg("path", { class: "edge", d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`, "marker-end": "url(#arrow)" }));
      }
    }
    root.append(edges);
    for (const task of shown) {
      const p = pos.get(task.id);
      const label = task.name.length > 22 ? task.name.slice(0, 21) + "…" : task.name;
      const attempts = task.attempt > 1 ? ` · attempt ${task.attempt}` : "";
      const href = links.get(task.id);
      const node = svg(
        "g",
        { class: `node st-${stateKey(task.state)}${href ? " subflow" : ""}`, transform: `translate(${p.x},${p.y})`, "data-task": task.name },
        svg("title", {}, `${task.name}: ${task.state.name}${attempts}${href ? "\nsubflow run: open it" : ""}${task.error ? "\n" + task.error : ""}`),
        svg("rect", { width: nodeW, height: nodeH, rx: 6 }),
        svg("text", { x: 10, y: 17 }, label),
        svg("text", { x: 10, y: 33, class: "sub" }, `${href ? "subflow ↗ · " : ""}${task.state.name}${attempts}`)
      );
      root.append(href ? svg("a", { href, "data-subflow-run": href }, node) : node);
    }
    const note = tasks.length > limit ? el("div", { class: "empty-note" }, `Showing the first ${limit} of ${tasks.length} task runs.`) : null;
    container.replaceChildren(...[root, note].filter(Boolean));
  }

  /** Task runs as bars on a shared time axis, with retry marks. */
  function gantt(container, tasks, limit = 200) {
    const started = tasks.filter((t) => t.start_time).slice(0, limit);
    if (!started.length) {
      container.replaceChildren(el("div", { class: "empty-note" }, "No task has started yet."));
      return;
    }
    const now = Date.now();
    const start = (t) => new Date(t.start_time).getTime();
    const end = (t) => (t.end_time ? new Date(t.end_time).getTime() : now);
    started.sort((a, b) => start(a) - start(b));
    const t0 = Math.min(...started.map(start));
    const t1 = Math.max(t0 + 1, ...started.map(end));
    const w = width(container);
    const labelW = 170;
    const right = 70;
    const rowH = 24;
    const top = 22;
    const h = top + started.length * rowH + 8;
    const x = (t) => labelW + ((t - t0) / (t1 - t0)) * (w - labelW - right);
    const root = svg("svg", { width: w, height: h, viewBox: `0 0 ${w} ${h}`, role: "img", "aria-label": "Task timeline" });
    const axis = svg("g", { class: "axis" });
    for (let i = 0; i <= 5; i++) {
      const t = t0 + ((t1 - t0) * i) / 5;
      axis.append(svg("line", { x1: x(t), x2: x(t), y1: top - 6, y2: h - 4 }), svg("text", { x: x(t), y: 12, "text-anchor": "middle" }, "+" + fmtDuration((t - t0) / 1000)));
    }
    root.append(axis);
    started.forEach((task, i) => {
      const y = top + i * rowH;
      const x1 = x(start(task));
      const bw = Math.max(3, x(end(task)) - x1);
      const name = task.name.length > 24 ? task.name.slice(0, 23) + "…" : task.name;
      const row = svg(
        "g",
        { class: `gantt-row st-${stateKey(task.state)}`, "data-task": task.name },
        svg("text", { x: 4, y: y + 15, class: "row-label" }, name),
        svg("rect", { class: "bar", x: x1, y: y + 4, width: bw, height: rowH - 9, rx: 3 }, svg("title", {}, `${task.name}: ${task.state.name}, ${fmtDuration(task.duration_seconds)}${task.cpu_seconds === null || task.cpu_seconds === undefined ? "" : `, CPU ${fmtDuration(task.cpu_seconds)}`}`)),
        svg("text", { x: x1 + bw + 6, y: y + 15, class: "label" }, fmtDuration(task.duration_seconds))
      );
      for (const entry of task.history) {
        if (entry.state.name !== "AwaitingRetry" || !entry.state.timestamp) continue;
        const tx = x(new Date(entry.state.timestamp).getTime());
        row.append(svg("line", { class: "retry-mark", x1: tx, x2: tx, y1: y + 2, y2: y + rowH - 3 }, svg("title", {}, `retry after attempt ${entry.attempt}`)));
      }
      root.append(row);
    });
    container.replaceChildren(root);
  }

  return { scatter, dag, gantt, layers };
})();
