// One flow run, followed live over server-sent events (polling if they fail):
// state and history, parameters, task graph and Gantt, retries, logs.
"use strict";

(() => {
  const { api, el, replace, badge, card, table, runLink, fmtTime, fmtClock, fmtDuration, fmtAgo, toast, setLive } = orch;
  const page = document.getElementById("run-page");
  if (!page) return;
  const runId = page.dataset.runId;
  const base = `/api/flow-runs/${encodeURIComponent(runId)}`;
  const logs = document.getElementById("logs");
  const TAIL = 500;
  let detail = null;
  let lastLogId = 0;
  let firstLogId = null;
  let taskNames = new Map();
  let finished = false;
  let parentName = null;

  /** 314572800 -> "300.0 MiB". */
  function fmtBytes(bytes) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let value = bytes;
    let unit = 0;
    while (value >= 1024 && unit + 1 < units.length) {
      value /= 1024;
      unit += 1;
    }
    return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
  }

  /** A summary card with a smaller value. */
  function smallCardOf(label, value, sub) {
    const c = card(label, value, sub);
    c.querySelector(".value").classList.add("small");
    return c;
  }

  function render(d) {
    detail = d;
    const run = d;
    finished = ["COMPLETED", "FAILED", "CRASHED", "CANCELLED"].includes(run.state.type);
    taskNames = new Map(d.task_runs.map((t) => [t.id, t.name]));
    document.title = `Run ${run.name} · orch`;
    replace(
      document.getElementById("run-state"),
      el("div", { class: "state-line" }, badge(run.state), el("span", { class: "msg" }, run.state.message))
    );
    document.getElementById("cancel").disabled = finished || run.state.type === "CANCELLING";
    document.getElementById("retry").disabled = !finished || !run.deployment_id;
    const deployment = run.deployment
      ? el("a", { href: `/flow-runs?deployment=${encodeURIComponent(run.deployment)}` }, run.deployment)
      : run.flow;
    // A subflow run links to the run that called it (and its task run there).
    const origin = run.parent_flow_run_id
      ? smallCardOf("Subflow of", el("a", { href: `/flow-runs/${encodeURIComponent(run.parent_flow_run_id)}`, id: "parent-run" }, parentName || `run ${run.parent_flow_run_id.slice(0, 8)}…`), `flow ${run.flow} · called by a task run`)
      : null;
    const smallCard = smallCardOf;
    if (run.parent_flow_run_id && parentName === null) {
      parentName = "";
      api(`/api/flow-runs/${encodeURIComponent(run.parent_flow_run_id)}`)
        .then((parent) => {
          parentName = parent.name;
          const link = document.getElementById("parent-run");
          if (link) link.textContent = parent.name;
        })
        .catch(() => {}); // deleted since: the id stays shown
    }
    replace(
      document.getElementById("run-facts"),
      origin || smallCard("Deployment", deployment, run.work_pool ? `pool ${run.work_pool}` : ""),
      smallCard("Expected start", fmtTime(run.expected_start).slice(11), `${fmtTime(run.expected_start).slice(0, 10)} · ${fmtAgo(run.expected_start)}`),
      smallCard("Started", run.start_time ? fmtTime(run.start_time).slice(11) : "not yet", run.start_time ? `${fmtTime(run.start_time).slice(0, 10)} · ${fmtAgo(run.start_time)}` : ""),
      smallCard("Duration", fmtDuration(run.duration_seconds), run.end_time ? `ended ${fmtTime(run.end_time)}` : run.start_time ? "running" : ""),
      smallCard("Worker", run.worker_name || "–", run.exit_code === null ? `run count ${run.run_count}` : `exit code ${run.exit_code} · run count ${run.run_count}`),
      resourcesCard(run.usage),
      traceCard(run.trace_id),
      smallCard("Tags", run.tags.length ? run.tags.map((t) => el("span", { class: "tag" }, t)) : "–", run.id)
    );
    function traceCard(traceId) {
      const template = page.dataset.traceUrlTemplate;
      const short = traceId ? traceId.slice(0, 16) + "…" : "–";
      const value = traceId && template
        ? el("a", { href: template.replace("{trace_id}", traceId), target: "_blank", rel: "noopener" }, short)
        : short;
      const c = smallCard("Trace", value, template ? "open in your tracing UI" : "trace id");
      c.id = "run-trace";
      if (traceId) c.title = traceId;
      return c;
    }
    function resourcesCard(usage) {
      const c = usage
        ? smallCard("Resources", `${usage.cpu_seconds.toFixed(2)} s CPU`, `peak RSS ${fmtBytes(usage.max_rss_bytes)} · wall ${usage.wall_seconds.toFixed(2)} s`)
        : smallCard("Resources", "–", finished ? "not measured" : "measured when the run ends");
      c.id = "run-resources";
      if (usage) c.title = `CPU user ${usage.cpu_user_seconds.toFixed(2)} s, system ${usage.cpu_system_seconds.toFixed(2)} s`;
      return c;
    }
    replace(
      document.getElementById("history"),
      table(d.history.slice().reverse(), [
        ["State", (s) => badge(s)],
        ["When", (s) => fmtTime(s.timestamp)],
        ["Message", (s) => el("span", { title: s.message }, s.message || "–"), "msg"],
      ])
    );
    document.getElementById("parameters").textContent = JSON.stringify(run.parameters, null, 2);
    // A subflow call's task run opens the subflow run it stands for.
    const calls = new Map(d.subflow_runs.filter((c) => c.parent_task_run_id).map((c) => [c.parent_task_run_id, `/flow-runs/${encodeURIComponent(c.id)}`]));
    charts.dag(document.getElementById("graph"), d.task_runs, 300, calls);
    const subflows = document.getElementById("subflows-panel");
    subflows.hidden = !d.subflow_runs.length;
    replace(document.getElementById("subflow-count"), d.subflow_runs.length ? String(d.subflow_runs.length) : "");
    replace(
      document.getElementById("subflow-runs"),
      table(d.subflow_runs, [
        ["Run", (c) => runLink(c)],
        ["Flow", (c) => c.flow],
        ["State", (c) => badge(c.state)],
        ["Started", (c) => (c.start_time ? fmtTime(c.start_time) : "–")],
        ["Duration", (c) => fmtDuration(c.duration_seconds), "num"],
      ])
    );
    charts.gantt(document.getElementById("gantt"), d.task_runs);
    replace(
      document.getElementById("retries"),
      table(
        d.task_runs,
        [
          ["Task", (t) => t.name],
          ["State", (t) => badge(t.state)],
          ["Attempts", (t) => `${t.attempt} / ${t.max_retries + 1}`, "num"],
          ["CPU", (t) => fmtDuration(t.cpu_seconds), "num"],
          ["History", (t) => el("div", { class: "chips" }, t.history.filter((h) => h.state.type !== "PENDING").map((h) => badge(h.state, h.attempt > 1 ? ` #${h.attempt}` : "")))],
          ["Error", (t) => el("span", { title: t.error }, t.error || "–"), "msg"],
        ],
        "No task runs."
      )
    );
    loadArtifacts();
  }

  let artifactsLoading = false;
  let artifactsShown = "";
  /** The run's artifacts, oldest first; redrawn only when they change. */
  async function loadArtifacts() {
    if (artifactsLoading) return;
    artifactsLoading = true;
    try {
      const list = (await api(`/api/artifacts?flow_run=${encodeURIComponent(runId)}&limit=500`)).reverse();
      const ids = list.map((a) => a.id).join(",");
      if (ids === artifactsShown) return;
      artifactsShown = ids;
      replace(document.getElementById("artifact-count"), list.length ? String(list.length) : "");
      replace(
        document.getElementById("artifacts"),
        list.length ? list.map((a) => artifacts.card(a, taskNames)) : el("div", { class: "empty-note" }, "This run published no artifacts.")
      );
    } catch (error) {
      toast(error.message, true);
    } finally {
      artifactsLoading = false;
    }
  }

  function lineNode(line) {
    const task = line.task_run_id ? taskNames.get(line.task_run_id) : null;
    return el(
      "div",
      { class: `line ${line.stream} lv-${line.level || "none"}`, "data-id": line.id },
      el("span", { class: "t", title: fmtTime(line.timestamp) }, fmtClock(line.timestamp)),
      el("span", { class: "lv" }, line.level || line.stream),
      el("span", { class: "m" }, task ? el("span", { class: "task" }, `[${task}]`) : null, line.message)
    );
  }

  function appendLines(lines) {
    const fresh = lines.filter((l) => l.id > lastLogId);
    if (!fresh.length) return;
    const atBottom = logs.scrollHeight - logs.scrollTop - logs.clientHeight < 40;
    logs.querySelector(".none")?.remove();
    logs.append(...fresh.map(lineNode));
    lastLogId = fresh[fresh.length - 1].id;
    if (firstLogId === null) firstLogId = fresh[0].id;
    if (atBottom) logs.scrollTop = logs.scrollHeight;
  }

  function status(text) {
    replace(document.getElementById("log-status"), text);
  }

  async function loadInitialLogs() {
    const { lines } = await api(`${base}/logs?tail=${TAIL}`);
    if (!lines.length) logs.append(el("div", { class: "none" }, "No log lines yet."));
    appendLines(lines);
    document.getElementById("earlier").hidden = lines.length < TAIL;
  }

  async function loadEarlier() {
    if (firstLogId === null) return;
    const { lines } = await api(`${base}/logs?before=${firstLogId}&limit=${TAIL}`);
    if (lines.length) {
      logs.prepend(...lines.map(lineNode));
      firstLogId = lines[0].id;
    }
    document.getElementById("earlier").hidden = lines.length < TAIL;
  }

  function follow() {
    if (!window.EventSource) return pollFallback();
    const source = new EventSource(`${base}/events?after=${lastLogId}`);
    status("following live");
    source.addEventListener("open", () => setLive(true));
    source.addEventListener("run", (event) => render(JSON.parse(event.data)));
    source.addEventListener("logs", (event) => appendLines(JSON.parse(event.data)));
    source.addEventListener("end", () => {
      source.close();
      status("run finished");
    });
    source.addEventListener("error", () => {
      source.close();
      if (!finished) {
        status("live stream lost: polling");
        pollFallback();
      }
    });
  }

  function pollFallback() {
    const stop = () => finished;
    orch.poll(async () => {
      if (stop()) return;
      render(await api(base));
      const { lines } = await api(`${base}/logs?after=${lastLogId}&limit=1000`);
      appendLines(lines);
      if (finished) status("run finished");
    }, 3000);
  }

  document.getElementById("cancel").addEventListener("click", async (event) => {
    event.target.disabled = true;
    try {
      const run = await api(`${base}/cancel`, { method: "POST" });
      toast(`Run ${run.name} is ${run.state.name}`);
    } catch (error) {
      toast(error.message, true);
      event.target.disabled = false;
    }
  });
  document.getElementById("retry").addEventListener("click", async () => {
    try {
      const run = await api(`${base}/retry`, { method: "POST" });
      location.href = `/flow-runs/${encodeURIComponent(run.id)}`;
    } catch (error) {
      toast(error.message, true);
    }
  });
  document.getElementById("earlier").addEventListener("click", () => loadEarlier().catch((e) => toast(e.message, true)));

  (async () => {
    try {
      render(await api(base));
      await loadInitialLogs();
    } catch (error) {
      toast(error.message, true);
    }
    follow();
  })();
})();
