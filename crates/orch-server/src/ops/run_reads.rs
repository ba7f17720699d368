//! Reading flow runs and their logs: the lists of `orch flow-run ls` and the
//! dashboard, and a run's log lines, for both transports.

use orch_core::StateType;
use orch_store::{FlowRun, FlowRunPage, FlowRunQuery, LogLine, RunCursor, TimelinePoint};
use serde::Deserialize;

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
    Ok(state.store().flow_runs().flow_run(reference).await?)
}

/// The id of the deployment named by `reference` (id or `flow/name`), when one is given.
pub async fn deployment_id(state: &AppState, reference: Option<&str>) -> OpsResult<Option<String>> {
    match reference.map(str::trim).filter(|r| !r.is_empty()) {
        Some(reference) => Ok(Some(
            state.store().deployments().deployment(reference).await?.id,
        )),
        None => Ok(None),
    }
}

/// What a client asks of the run list (`orch flow-run ls`, `GET /api/flow-runs`,
/// the dashboard), as it sent it: both transports fill this, and only
/// [`list`] and [`timeline`] read it, so filters, paging and the page-size
/// limit are the same whichever way a client asks.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunListRequest {
    /// Flow name.
    pub flow: String,
    /// Deployment `flow/name` or id (unknown: not found).
    pub deployment: String,
    /// A state type (`failed`) or name (`late`).
    pub state: String,
    /// Work pool name.
    pub work_pool: String,
    /// A tag the runs carry.
    pub tag: String,
    /// RFC 3339, inclusive.
    pub since: String,
    /// RFC 3339, exclusive.
    pub until: String,
    /// Page size: 0 for the default (50), at most [`orch_store::MAX_PAGE_SIZE`].
    pub limit: u32,
    /// The `next_cursor` of the previous page.
    pub cursor: String,
    /// Only runs that are no subflow run.
    pub top_level: bool,
    /// Only the subflow runs of this run (its id).
    pub parent: String,
}

fn non_empty(text: &str) -> Option<String> {
    Some(text.trim().to_string()).filter(|t| !t.is_empty())
}

/// An RFC 3339 time given as `parameter`, in microseconds.
pub fn parse_time(parameter: &str, text: &str) -> OpsResult<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_micros())
        .map_err(|error| {
            OpsError::Invalid(format!(
                "{parameter} must be an RFC 3339 time such as 2024-05-01T09:30:00Z, got \"{text}\" ({error})"
            ))
        })
}

/// A `state` filter: a type (`failed`) or a state name (`late`, `AwaitingRetry`).
pub fn state_filter(text: &str) -> OpsResult<(Option<StateType>, Option<String>)> {
    orch_core::parse_state_filter(text).map_err(|error| OpsError::Invalid(error.to_string()))
}

impl RunListRequest {
    /// The filters, checked.
    async fn query(&self, state: &AppState) -> OpsResult<FlowRunQuery> {
        let (state_type, state_name) = state_filter(self.state.trim())?;
        let deployment_id = deployment_id(state, Some(&self.deployment)).await?;
        let since = non_empty(&self.since)
            .map(|t| parse_time("since", &t))
            .transpose()?;
        let until = non_empty(&self.until)
            .map(|t| parse_time("until", &t))
            .transpose()?;
        if let (Some(since), Some(until)) = (since, until)
            && since >= until
        {
            return Err(OpsError::Invalid("since must be before until".into()));
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

    /// The page size: refused above [`orch_store::MAX_PAGE_SIZE`] (never
    /// cut silently); 0 is the default.
    fn limit(&self) -> OpsResult<u32> {
        if self.limit > orch_store::MAX_PAGE_SIZE {
            return Err(OpsError::Invalid(format!(
                "limit must be at most {}, got {}; page with next_cursor instead",
                orch_store::MAX_PAGE_SIZE,
                self.limit
            )));
        }
        Ok(self.limit)
    }
}

/// A page of runs matching `request`, newest first, after its cursor.
pub async fn list(state: &AppState, request: &RunListRequest) -> OpsResult<FlowRunPage> {
    let query = request.query(state).await?;
    let cursor = non_empty(&request.cursor)
        .map(|c| c.parse::<RunCursor>())
        .transpose()?;
    Ok(state
        .store()
        .flow_runs()
        .flow_run_page(&query, cursor.as_ref(), request.limit()?)
        .await?)
}

/// Started runs matching `request` as (start, duration) points, latest first.
pub async fn timeline(state: &AppState, request: &RunListRequest) -> OpsResult<Vec<TimelinePoint>> {
    if !request.cursor.is_empty() {
        return Err(OpsError::Invalid(
            "the timeline is not paginated: narrow it with since/until instead of a cursor".into(),
        ));
    }
    let query = request.query(state).await?;
    Ok(state
        .store()
        .flow_runs()
        .flow_run_timeline(&query, request.limit()?)
        .await?)
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
    let run = store.flow_runs().flow_run(reference).await?;
    let lines = match range {
        LogRange::After(after) => store.logs().read_logs(&run.id, after, limit).await?,
        LogRange::Before(before) => {
            store
                .logs()
                .read_logs_before(&run.id, before, limit)
                .await?
        }
        LogRange::Tail => {
            store
                .logs()
                .read_logs_before(&run.id, i64::MAX, limit)
                .await?
        }
    };
    Ok((run.id, lines))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_filters_accept_types_and_names() {
        assert_eq!(
            state_filter("running").unwrap(),
            (Some(StateType::Running), None)
        );
        assert_eq!(
            state_filter("late").unwrap(),
            (Some(StateType::Scheduled), Some("late".to_string()))
        );
        assert_eq!(state_filter("").unwrap(), (None, None));
        let error = state_filter("runing").unwrap_err().to_string();
        assert!(error.contains("Running"), "{error}");
    }

    #[test]
    fn a_page_larger_than_the_maximum_is_refused_not_cut() {
        let request = RunListRequest {
            limit: orch_store::MAX_PAGE_SIZE + 1,
            ..Default::default()
        };
        let error = request.limit().unwrap_err().to_string();
        assert!(error.contains("next_cursor"), "{error}");
        let request = RunListRequest {
            limit: orch_store::MAX_PAGE_SIZE,
            ..Default::default()
        };
        assert_eq!(request.limit().unwrap(), orch_store::MAX_PAGE_SIZE);
    }
}
