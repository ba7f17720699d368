//! `/api/flow-runs`: filtered pages, the timeline, one run, its logs, cancel,
//! retry and delete.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use orch_proto::json::{FlowRun as FlowRunView, FlowRunDetail};

use super::views;
use super::{ApiError, ApiQuery, ApiResult};
use crate::caller::Caller;
use crate::ops;
use crate::ops::run_reads::{LogRange, RunListRequest};
use crate::state::AppState;

/// `GET /api/flow-runs`: a page of runs, newest first.
pub(crate) async fn list(
    State(state): State<AppState>,
    ApiQuery(request): ApiQuery<RunListRequest>,
) -> ApiResult<Json<Value>> {
    let page = ops::run_reads::list(&state, &request).await?;
    Ok(Json(json!({
        "flow_runs": views::runs(&state, &page.runs),
        "next_cursor": page.next_cursor.map(|c| c.to_string()),
        "total": page.total,
        "total_exact": page.total_exact,
    })))
}

/// `GET /api/flow-runs/timeline`: started runs as (start, duration) points, latest first.
pub(crate) async fn timeline(
    State(state): State<AppState>,
    ApiQuery(request): ApiQuery<RunListRequest>,
) -> ApiResult<Json<Value>> {
    let points = ops::run_reads::timeline(&state, &request).await?;
    let now = state.now();
    let points: Vec<Value> = points
        .iter()
        .map(|p| {
            json!({
                "id": p.id,
                "name": p.name,
                "flow": p.flow,
                "state": { "type": p.state_type.as_str(), "name": p.state_name },
                "start_time": views::time(p.start_time),
                "duration_seconds": (p.end_time.unwrap_or(now) - p.start_time).max(0) as f64 / 1e6,
                "finished": p.end_time.is_some(),
            })
        })
        .collect();
    Ok(Json(json!({ "points": points })))
}

/// The run, its history and task runs.
pub(crate) async fn load_detail(
    state: &AppState,
    caller: &Caller,
    reference: &str,
) -> ApiResult<FlowRunDetail> {
    let detail = ops::flow_runs::detail(state, caller, reference).await?;
    Ok(views::run_detail(state, &detail))
}

/// `GET /api/flow-runs/{id}`: by id, unique id prefix or name.
pub(crate) async fn detail(
    State(state): State<AppState>,
    caller: Caller,
    Path(reference): Path<String>,
) -> ApiResult<Json<FlowRunDetail>> {
    Ok(Json(load_detail(&state, &caller, &reference).await?))
}

/// Paging of `GET /api/flow-runs/{id}/logs`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct LogParams {
    after: Option<i64>,
    before: Option<i64>,
    tail: Option<u32>,
    limit: u32,
}

/// `GET /api/flow-runs/{id}/logs`: lines after `after` (default from the
/// start), before `before`, or the last `tail` lines; oldest first.
pub(crate) async fn logs(
    State(state): State<AppState>,
    caller: Caller,
    Path(reference): Path<String>,
    ApiQuery(params): ApiQuery<LogParams>,
) -> ApiResult<Json<Value>> {
    let given = [
        params.after.is_some(),
        params.before.is_some(),
        params.tail.is_some(),
    ];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(ApiError::bad_request(
            "give one of after, before or tail, not several",
        ));
    }
    let limit = params.tail.unwrap_or(params.limit);
    let range = match (params.before, params.tail) {
        (Some(before), _) => LogRange::Before(before),
        (None, Some(_)) => LogRange::Tail,
        (None, None) => LogRange::After(params.after.unwrap_or(0)),
    };
    let (run_id, lines) = ops::run_reads::logs(&state, &caller, &reference, range, limit).await?;
    Ok(Json(json!({
        "flow_run_id": run_id,
        "lines": views::lines(&lines),
    })))
}

/// `POST /api/flow-runs/{id}/cancel`: Scheduled runs end Cancelled at once;
/// started ones become Cancelling and their worker kills them.
pub(crate) async fn cancel(
    State(state): State<AppState>,
    Path(reference): Path<String>,
) -> ApiResult<Json<FlowRunView>> {
    let run = ops::flow_runs::cancel(&state, &reference).await?;
    Ok(Json(views::run(&state, &run)))
}

/// `POST /api/flow-runs/{id}/retry`: a new run of the same deployment with the
/// same parameters, once the run has finished.
pub(crate) async fn retry(
    State(state): State<AppState>,
    Path(reference): Path<String>,
) -> ApiResult<(StatusCode, Json<FlowRunView>)> {
    let new_run = ops::flow_runs::retry(&state, &reference).await?;
    Ok((StatusCode::CREATED, Json(views::run(&state, &new_run))))
}

/// Filter of `DELETE /api/flow-runs`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct DeleteParams {
    state: String,
    before: String,
    dry_run: bool,
}

/// The answer of a deletion: the deleted runs (when named) and the counts.
fn deleted(
    state: &AppState,
    runs: &[orch_store::FlowRun],
    counts: orch_store::Pruned,
    dry_run: bool,
) -> Json<Value> {
    let runs: Vec<FlowRunView> = runs.iter().map(|run| views::run(state, run)).collect();
    Json(json!({
        "flow_runs": runs,
        "runs": counts.runs,
        "log_lines": counts.log_lines,
        "dry_run": dry_run,
    }))
}

/// `DELETE /api/flow-runs?state=failed&before=30d[&dry_run=true]`: deletes
/// (or counts) the runs that ended in a state longer ago than `before`.
pub(crate) async fn delete_matching(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<DeleteParams>,
) -> ApiResult<Json<Value>> {
    let counts =
        ops::flow_runs::delete_matching(&state, &params.state, &params.before, params.dry_run)
            .await?;
    Ok(deleted(&state, &[], counts, params.dry_run))
}

/// `DELETE /api/flow-runs/{id}`: deletes a finished run and everything attached to it.
pub(crate) async fn delete(
    State(state): State<AppState>,
    Path(reference): Path<String>,
) -> ApiResult<Json<Value>> {
    let (runs, counts) = ops::flow_runs::delete(&state, &[reference]).await?;
    Ok(deleted(&state, &runs, counts, false))
}
