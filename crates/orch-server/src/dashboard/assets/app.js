// orch dashboard: helpers shared by every page (no framework, no build step).
"use strict";

const orch = (() => {
  /** Calls the JSON API (its current version, /api/v1/); throws an Error carrying the server's message. */
  async function api(path, options = {}) {
    path = path.replace(/^\/api\/(?!v1\/)/, "/api/v1/");
    const init = { headers: { Accept: "application/json" }, ...options };
    const method = (init.method || "GET").toUpperCase();
    // The server takes state-changing calls only as JSON (a defence against
    // other sites posting forms to it): every one sends a JSON body.
    if (method !== "GET" && method !== "HEAD") {
      init.body = JSON.stringify(init.body === undefined ? {} : init.body);
      init.headers["Content-Type"] = "application/json";
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (error) {
      setLive(false);
      throw new Error("cannot reach the orch server: " + error.message);
    }
    const text = await response.text();
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch (_) {
      body = null;
    }
    if (!response.ok) {
      const message = body && body.error ? body.error : `${response.status} ${response.statusText}`;
      const error = new Error(message);
      error.status = response.status;
      throw error;
    }
    return body;
  }

  /** Builds an element: el("a", {href: "/x", class: "y"}, "text", child). */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }

  /** Builds an SVG element. */
  function svg(tag, attrs, ...children) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }

  function setAttrs(node, attrs) {
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key.startsWith("on") && typeof value === "function") {
        node.addEventListener(key.slice(2), value);
      } else if (key === "text") {
        node.textContent = value;
      } else {
        node.setAttribute(key, value === true ? "" : String(value));
      }
    }
  }

  function append(node, children) {
    for (const child of children.flat(Infinity)) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }

  /** Replaces the content of `container`. */
  function replace(container, ...children) {
    container.replaceChildren();
    append(container, children);
  }

  /** The colour key of a state: "late" for Late, else its type in lower case. */
  function stateKey(state) {
    if (!state) return "paused";
    if ((state.name || "").toLowerCase() === "late") return "late";
    return (state.type || "").toLowerCase();
  }

  /** A coloured pill with the state's name. */
  function badge(state, extra) {
    const name = state ? state.name || state.type : "Unknown";
    return el("span", { class: `badge st-${stateKey(state)}`, title: state && state.message ? state.message : null }, name, extra || null);
  }

  const pad = (n) => String(n).padStart(2, "0");

  /** Local date and time, e.g. 2024-05-01 09:30:12. */
  function fmtTime(iso) {
    if (!iso) return "–";
    const d = new Date(iso);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  /** Local time of day with milliseconds, for log lines. */
  function fmtClock(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, "0")}`;
  }

  /** "3 min ago", "in 2 h". */
  function fmtAgo(iso) {
    if (!iso) return "–";
    const seconds = (Date.now() - new Date(iso).getTime()) / 1000;
    const text = fmtDuration(Math.abs(seconds), true);
    if (Math.abs(seconds) < 1) return "just now";
    return seconds >= 0 ? `${text} ago` : `in ${text}`;
  }

  /** 0.42 s, 12.3 s, 4 min 05 s, 2 h 10 min. */
  function fmtDuration(seconds, coarse) {
    if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "–";
    if (seconds < 1 && !coarse) return `${Math.round(seconds * 1000)} ms`;
    if (seconds < 60) return coarse ? `${Math.round(seconds)} s` : `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
    if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${pad(Math.round(seconds % 60))} s`;
    if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ${pad(Math.round((seconds % 3600) / 60))} min`;
    return `${Math.floor(seconds / 86400)} d ${Math.round((seconds % 86400) / 3600)} h`;
  }

  const number = new Intl.NumberFormat();
  const fmtNumber = (n) => (n === null || n === undefined ? "–" : number.format(n));

  let toastTimer = null;
  /** Shows a short message in the corner. */
  function toast(message, bad) {
    const box = document.getElementById("toast");
    box.textContent = message;
    box.className = bad ? "toast bad" : "toast";
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => (box.hidden = true), bad ? 8000 : 4000);
  }

  /** Marks the "live" indicator as connected or not. */
  function setLive(ok) {
    const live = document.getElementById("live");
    if (!live) return;
    live.className = ok ? "live on" : "live off";
    live.textContent = ok ? "live" : "offline";
  }

  /** Runs `refresh` now and every `ms` while the tab is visible; errors show once. */
  function poll(refresh, ms) {
    let failing = false;
    let timer = null;
    async function tick() {
      clearTimeout(timer);
      try {
        await refresh();
        setLive(true);
        failing = false;
      } catch (error) {
        if (!failing) toast(error.message, true);
        failing = true;
        setLive(false);
      }
      timer = setTimeout(tick, ms);
    }
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) tick();
    });
    tick();
    return tick;
  }

  /** A link to a run's page. */
  function runLink(run) {
    const link = el("a", { href: `/flow-runs/${encodeURIComponent(run.id)}`, class: "run-link" }, run.name);
    // A subflow run (called by another run) is marked, and says so on hover.
    if (!run.parent_flow_run_id) return link;
    return el("span", { class: "subflow-run", title: `subflow run of ${run.parent_flow_run_id}` }, "↳ ", link);
  }

  /** A table: columns are [header, cell(row), class]. */
  function table(rows, columns, emptyText) {
    if (!rows.length) return el("div", { class: "empty-note" }, emptyText || "Nothing here yet.");
    return el(
      "table",
      { class: "table" },
      el("thead", {}, el("tr", {}, columns.map(([head, , cls]) => el("th", { class: cls }, head)))),
      el("tbody", {}, rows.map((row) => el("tr", {}, columns.map(([, cell, cls]) => el("td", { class: cls }, cell(row))))))
    );
  }

  /** The standard columns of a runs table. */
  function runColumns() {
    return [
      ["Run", (r) => runLink(r)],
      ["Deployment", (r) => r.deployment || r.flow],
      ["State", (r) => badge(r.state)],
      ["Pool", (r) => r.work_pool || "–"],
      ["Expected start", (r) => el("span", { title: fmtTime(r.expected_start) }, fmtAgo(r.expected_start))],
      ["Duration", (r) => fmtDuration(r.duration_seconds), "num"],
      ["Tags", (r) => r.tags.map((t) => el("span", { class: "tag" }, t))],
    ];
  }

  /** A summary card. */
  function card(label, value, sub, cls) {
    return el("div", { class: `card ${cls || ""}` }, el("div", { class: "label" }, label), el("div", { class: "value" }, value), sub ? el("div", { class: "sub" }, sub) : null);
  }

  /** States in the order the dashboard shows them, with their colour keys. */
  const STATES = [
    ["Scheduled", "scheduled"],
    ["Late", "late"],
    ["Pending", "pending"],
    ["Running", "running"],
    ["Completed", "completed"],
    ["Failed", "failed"],
    ["Crashed", "crashed"],
    ["Cancelling", "cancelling"],
    ["Cancelled", "cancelled"],
    ["Paused", "paused"],
    ["AwaitingRetry", "scheduled"],
  ];

  return { api, el, svg, replace, stateKey, badge, fmtTime, fmtClock, fmtAgo, fmtDuration, fmtNumber, toast, setLive, poll, runLink, table, runColumns, card, STATES };
})();

// Who is logged in: hides the actions the session's scope may not take
// (the server refuses them anyway) and offers logging out.
(async () => {
  let session;
  try {
    session = await orch.api("/api/session");
  } catch (_) {
    return;
  }
  const root = document.documentElement;
  for (const right of ["operate", "deploy", "admin"]) {
    root.classList.toggle(`cannot-${right}`, !session.can[right]);
  }
  if (!session.authenticated) return;
  const who = document.getElementById("whoami");
  if (who) who.textContent = `${session.name} (${session.scope})`;
  const logout = document.getElementById("logout");
  if (!logout) return;
  logout.hidden = false;
  logout.addEventListener("click", async () => {
    try {
      await orch.api("/api/session/logout", { method: "POST" });
    } finally {
      location.assign("/login");
    }
  });
})();
