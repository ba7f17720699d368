//! The web dashboard: server-rendered page shells plus a little hand-written
//! JavaScript, CSS and SVG, all embedded in the binary (no CDN, no build step).
//! Pages read and act through the JSON API and refresh themselves: the run
//! page follows its run over server-sent events, the others poll.

mod assets;
mod errors;
mod page;

pub(crate) use errors::pages as error_pages;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use orch_store::StoreError;

use crate::state::AppState;
use page::{Page, escape};

/// Routes of the dashboard pages and their assets.
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(overview))
        .route("/flow-runs", get(flow_runs))
        .route("/flow-runs/{id}", get(flow_run))
        .route("/artifacts", get(artifact_index))
        .route("/artifacts/{key}", get(artifact_key))
        .route("/deployments", get(deployments))
        .route("/deployments/{*reference}", get(deployment))
        .route("/tokens", get(tokens))
        .route("/audit", get(audit))
        .route("/work-pools", get(work_pools))
        .route("/automations", get(automations))
        .route("/assets/{file}", get(assets::serve))
        .route("/favicon.svg", get(assets::favicon))
        .route("/favicon.ico", get(assets::favicon))
        .with_state(state)
}

async fn overview() -> Html<String> {
    Html(Page::new("overview", "Overview").render(
        r#"<section class="cards" id="cards" aria-live="polite"></section>
<div class="grid-2">
  <section class="panel"><h2>Runs by state <span class="muted" id="window"></span></h2><div id="by-state"></div></section>
  <section class="panel"><h2>Failures needing attention</h2><div id="failures"></div></section>
</div>
<section class="panel"><h2>Latest runs</h2><div id="latest"></div></section>"#,
    ))
}

async fn flow_runs() -> Html<String> {
    Html(Page::new("flow-runs", "Flow runs").render(
        r#"<form class="filters panel" id="filters" autocomplete="off">
  <label>Flow <select name="flow"><option value="">All flows</option></select></label>
  <label>Deployment <select name="deployment"><option value="">All deployments</option></select></label>
  <label>State <select name="state"><option value="">All states</option></select></label>
  <label>Work pool <select name="work_pool"><option value="">All pools</option></select></label>
  <label>Tag <input name="tag" type="text" placeholder="any tag" size="10"></label>
  <label class="check"><input name="top_level" type="checkbox" value="true"> Top-level runs only</label>
  <label>Time range <select name="range">
    <option value="">All time</option><option value="1h">Last hour</option>
    <option value="24h">Last 24 hours</option><option value="7d">Last 7 days</option>
    <option value="30d">Last 30 days</option></select></label>
  <button type="submit" class="btn primary">Apply</button>
  <button type="reset" class="btn">Clear</button>
</form>
<section class="panel"><h2>Timeline <span class="muted">start time vs duration</span></h2><div id="timeline" class="chart"></div></section>
<section class="panel"><div class="table-head"><h2>Runs <span class="muted" id="total"></span></h2>
  <div class="pager"><button class="btn" id="prev" disabled>&larr; Newer</button><button class="btn" id="next" disabled>Older &rarr;</button></div></div>
  <div id="runs"></div></section>"#,
    ))
}

async fn flow_run(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match state.store().flow_runs().flow_run(&id).await {
        Ok(run) => {
            let body = format!(
                r#"<div id="run-page" data-run-id="{id}" data-trace-url-template="{trace_url}">
<header class="run-header panel">
  <div><div class="crumbs"><a href="/flow-runs">Flow runs</a> / <span>{flow}</span></div>
    <h1 id="run-name">{name}</h1><div id="run-state"></div></div>
  <div class="actions"><button class="btn danger needs-operate" id="cancel">Cancel run</button>
    <button class="btn needs-operate" id="retry">Retry</button></div>
</header>
<section class="cards" id="run-facts"></section>
<div class="grid-2">
  <section class="panel"><h2>Task graph</h2><div id="graph" class="chart"></div></section>
  <section class="panel"><h2>States</h2><div id="history"></div></section>
</div>
<section class="panel"><h2>Task timeline</h2><div id="gantt" class="chart"></div></section>
<section class="panel" id="subflows-panel" hidden><h2>Subflow runs <span class="muted" id="subflow-count"></span></h2><div id="subflow-runs"></div></section>
<section class="panel"><h2>Artifacts <span class="muted" id="artifact-count"></span></h2><div id="artifacts" class="artifacts"></div></section>
<div class="grid-2">
  <section class="panel"><h2>Task runs: retries and CPU time</h2><div id="retries"></div></section>
  <section class="panel"><h2>Parameters</h2><pre id="parameters" class="code"></pre></section>
</div>
<section class="panel"><div class="table-head"><h2>Logs <span class="muted" id="log-status"></span></h2>
  <button class="btn" id="earlier" hidden>Load earlier lines</button></div>
  <div id="logs" class="logs" role="log"></div></section>
</div>"#,
                id = escape(&run.id),
                flow = escape(&run.flow),
                name = escape(&run.name),
                trace_url = escape(
                    state
                        .config()
                        .trace_url_template
                        .as_deref()
                        .unwrap_or_default()
                ),
            );
            Html(Page::new("flow-run", &format!("Run {}", run.name)).render(&body)).into_response()
        }
        Err(StoreError::NotFound { .. }) | Err(StoreError::InvalidInput(_)) => {
            let body = format!(
                r#"<section class="panel empty"><h1>Flow run not found</h1>
<p>No flow run is called <code>{}</code>. <a href="/flow-runs">See all flow runs</a>.</p></section>"#,
                escape(&id)
            );
            (
                StatusCode::NOT_FOUND,
                Html(Page::new("flow-run", "Flow run not found").render(&body)),
            )
                .into_response()
        }
        Err(error) => {
            tracing::error!(%error, "dashboard: cannot load a flow run");
            let body = format!(
                r#"<section class="panel empty"><h1>Cannot load the run</h1><p>{}</p></section>"#,
                escape(&error.to_string())
            );
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html(Page::new("flow-run", "Error").render(&body)),
            )
                .into_response()
        }
    }
}

/// One artifact key: its latest artifact and the trend of each metric.
async fn artifact_key(Path(key): Path<String>) -> Html<String> {
    let body = format!(
        r#"<div id="artifact-page" data-key="{key}">
<header class="run-header panel">
  <div><div class="crumbs"><a href="/artifacts">Artifacts</a> / <span>key</span></div>
    <h1>{key}</h1><div class="muted">Artifacts published under this key, across runs</div></div>
</header>
<section class="cards" id="key-facts"></section>
<h2 class="section-title">Trends</h2>
<div id="trends" class="trends"></div>
<section class="panel"><h2>Latest</h2><div id="latest" class="artifacts"></div></section>
</div>"#,
        key = escape(&key)
    );
    Html(Page::new("artifact", &format!("Artifact {key}")).render(&body))
}

/// Every artifact key, searchable; each links to its own page.
async fn artifact_index() -> Html<String> {
    Html(Page::new("artifact-keys", "Artifacts").render(
        r#"<form class="panel search" id="key-form" role="search" autocomplete="off">
  <label for="key-search">Key</label>
  <input id="key-search" name="search" type="search" placeholder="search keys, e.g. signals">
  <button type="submit" class="btn primary">Search</button>
</form>
<section class="panel"><div id="keys"></div></section>"#,
    ))
}

async fn deployments() -> Html<String> {
    Html(Page::new("deployments", "Deployments").render(&deployments_body("")))
}

/// One deployment (`/deployments/FLOW/NAME`): the list page's script, told
/// to show that one with its settings and runs.
async fn deployment(State(state): State<AppState>, Path(reference): Path<String>) -> Response {
    if let Err(error) = crate::ops::deployments::get(&state, &reference).await {
        let status = match error.kind() {
            crate::ops::ErrorKind::NotFound | crate::ops::ErrorKind::Invalid => {
                StatusCode::NOT_FOUND
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let page = errors::render(
            status,
            &format!("/deployments/{reference}"),
            &error.to_string(),
        );
        return (status, Html(page)).into_response();
    }
    let body = format!(
        r#"<div class="crumbs"><a href="/deployments">Deployments</a> / <span>{name}</span></div>
{list}"#,
        name = escape(&reference),
        list = deployments_body(&reference),
    );
    Html(Page::new("deployments", &format!("Deployment {reference}")).render(&body)).into_response()
}

async fn tokens() -> Html<String> {
    Html(Page::new("tokens", "API tokens").render(
        r#"<p class="muted">Names, scopes and times; keys are shown once, when made (<code>orch token create</code>).</p>
<section class="panel"><div id="tokens"></div></section>"#,
    ))
}

async fn audit() -> Html<String> {
    Html(Page::new("audit", "Audit trail").render(
        r#"<p class="muted">Every change, who made it and from where, newest first (<code>orch audit ls</code>).</p>
<section class="panel"><div id="audit"></div></section>"#,
    ))
}

/// The deployments list (every deployment, or only `only`) and the run dialog.
fn deployments_body(only: &str) -> String {
    let only = if only.is_empty() {
        String::new()
    } else {
        format!(r#" data-only="{}""#, escape(only))
    };
    format!(
        r#"<div id="deployments" class="stack"{only}></div>
<dialog id="run-dialog" class="dialog">
  <form method="dialog" id="run-form">
    <h2>Run <span id="run-dialog-name"></span></h2>
    <p class="muted">Parameters are merged over the deployment's defaults. Values are JSON when they parse, else text.</p>
    <div id="run-params" class="params"></div>
    <button type="button" class="btn" id="add-param">+ Add parameter</button>
    <p class="error" id="run-error" hidden></p>
    <div class="dialog-actions"><button type="button" class="btn" id="run-close">Close</button>
      <button type="submit" class="btn primary" id="run-submit">Run</button></div>
  </form>
</dialog>"#
    )
}

async fn work_pools() -> Html<String> {
    Html(Page::new("work-pools", "Work pools").render(r#"<div id="pools" class="stack"></div>"#))
}

async fn automations() -> Html<String> {
    Html(
        Page::new("automations", "Automations")
            .render(r#"<div id="automations" class="stack"></div>"#),
    )
}
