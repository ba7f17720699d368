//! `/api/flow-runs`: filtered pages, the timeline, one run, its logs, cancel,
//! retry and delete.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use orch_store::{FlowRunQuery, RunCursor};
use serde::Deserialize;
use serde_json::{Value, json};

use orch_proto::json::{FlowRun as FlowRunView, FlowRunDetail};

use super::views;
use super::{ApiError, ApiQuery, ApiResult, parse_time, state_filter};
use crate::caller::Caller;
use crate::ops;
use crate::ops::run_reads::LogRange;
use crate::state::AppState;

/// Filters of `GET /api/flow-runs` and `GET /api/flow-runs/timeline`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct ListParams {
    flow: String,
    deployment: String,
    state: String,
    work_pool: String,
    tag: String,
    since: String,
    until: String,
    limit: u32,
    cursor: String,
    /// Only runs that are no subflow run.
    top_level: bool,
    /// Only the subflow runs of this run (id).
    parent: String,
}

fn non_empty(text: &str) -> Option<String> {
    Some(text.trim().to_string()).filter(|t| !t.is_empty())
}

impl ListParams {
    async fn query(&self, state: &AppState) -> ApiResult<FlowRunQuery> {
        let (state_type, state_name) = state_filter(self.state.trim())?;
        let deployment_id = ops::run_reads::deployment_id(state, Some(&self.deployment)).await?;
        let since = non_empty(&self.since)
            .map(|t| parse_time("since", &t))
            .transpose()?;
        let until = non_empty(&self.until)
            .map(|t| parse_time("until", &t))
            .transpose()?;
        if let (Some(since), Some(until)) = (since, until)
            && since >= until
        {
            return Err(ApiError::bad_request("since must be before until"));
        }
        Ok(FlowRunQuery {
            flow: non_empty(&self.flow),
            deployment_id,
            work_pool: non_empty(&self.work_pool),
            state_type,
            state_name,
            tag: non_empty(&self.tag),
            since,
            until,
            top_level: self.top_level,
            parent_flow_run_id: non_empty(&self.parent),
        })
    }

    fn limit(&self) -> ApiResult<u32> {
        if self.limit > orch_store::MAX_PAGE_SIZE {
            return Err(ApiError::bad_request(format!(
                "limit must be at most {}, got {}; page with next_cursor instead",
                orch_store::MAX_PAGE_SIZE,
                self.limit
            )));
        }
        Ok(self.limit)
    }
}

/// `GET /api/flow-runs`: a page of runs, newest first.
pub(crate) async fn list(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<Value>> {
    let query = params.query(&state).await?;
    let cursor = non_empty(&params.cursor)
        .map(|c| c.parse::<RunCursor>())
        .transpose()?;
    let page = ops::run_reads::page(&state, &query, cursor.as_ref(), params.limit()?).await?;
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
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<Value>> {
    if !params.cursor.is_empty() {
        return Err(ApiError::bad_request(
            "the timeline is not paginated: narrow it with since/until instead of a cursor",
        ));
    }
    let query = params.query(&state).await?;
    let points = ops::run_reads::timeline(&state, &query, params.limit()?).await?;
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
