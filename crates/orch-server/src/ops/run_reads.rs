//! Reading flow runs and their logs: the lists of `orch flow-run ls` and the
//! dashboard, and a run's log lines, for both transports.

use orch_store::{
    FlowRun, FlowRunFilter, FlowRunPage, FlowRunQuery, LogLine, RunCursor, TimelinePoint,
};

use super::{OpsError, OpsResult};
use crate::caller::Caller;
use crate::state::AppState;

/// Most log lines one request returns.
pub const MAX_LOG_PAGE: u32 = 5000;

/// Which of a run's log lines to read, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogRange {
    /// Lines after this id (0: from the start).
    After(i64),
    /// Lines before this id.
    Before(i64),
    /// The last lines.
    Tail,
}

/// The run named by `reference` (id or name), as stored, for a caller who
/// may read it: what a watch starts from.
pub async fn run(state: &AppState, caller: &Caller, reference: &str) -> OpsResult<FlowRun> {
    super::access::run(state, caller, reference).await?;
    Ok(state.store().flow_run(reference).await?)
}

/// The id of the deployment named by `reference` (id or `flow/name`), when one is given.
pub async fn deployment_id(state: &AppState, reference: Option<&str>) -> OpsResult<Option<String>> {
    match reference.map(str::trim).filter(|r| !r.is_empty()) {
        Some(reference) => Ok(Some(state.store().deployment(reference).await?.id)),
        None => Ok(None),
    }
}

/// Runs matching `filter`, newest first (`orch flow-run ls`).
pub async fn list(state: &AppState, filter: &FlowRunFilter) -> OpsResult<Vec<FlowRun>> {
    Ok(state.store().list_flow_runs(filter).await?)
}

/// A page of runs matching `query`, newest first, after `cursor`.
pub async fn page(
    state: &AppState,
    query: &FlowRunQuery,
    cursor: Option<&RunCursor>,
    limit: u32,
) -> OpsResult<FlowRunPage> {
    Ok(state.store().flow_run_page(query, cursor, limit).await?)
}

/// Started runs matching `query` as (start, duration) points, latest first.
pub async fn timeline(
    state: &AppState,
    query: &FlowRunQuery,
    limit: u32,
) -> OpsResult<Vec<TimelinePoint>> {
    Ok(state.store().flow_run_timeline(query, limit).await?)
}

/// Up to `limit` (at most [`MAX_LOG_PAGE`]) log lines of the run named by
/// `reference`, oldest first, with the run's id, for a caller who may read
/// the run.
pub async fn logs(
    state: &AppState,
    caller: &Caller,
    reference: &str,
    range: LogRange,
    limit: u32,
) -> OpsResult<(String, Vec<LogLine>)> {
    if limit > MAX_LOG_PAGE {
        return Err(OpsError::Invalid(format!(
            "at most {MAX_LOG_PAGE} lines per request, got {limit}; page with after/before"
        )));
    }
    super::access::run(state, caller, reference).await?;
    let store = state.store();
    let run = store.flow_run(reference).await?;
    let lines = match range {
        LogRange::After(after) => store.read_logs(&run.id, after, limit).await?,
        LogRange::Before(before) => store.read_logs_before(&run.id, before, limit).await?,
        LogRange::Tail => store.read_logs_before(&run.id, i64::MAX, limit).await?,
    };
    Ok((run.id, lines))
}
