//! Task runs: the steps of a flow run, their attempts and dependency edges.

use comfy_table::Cell;
use orch_proto::v1 as proto;
use serde::Serialize;
use serde_json::Value;

use super::state::StateView;
use crate::output::{self, table, time};

/// One entry of a task run's history.
#[derive(Debug, Clone, Serialize)]
pub struct TaskRunStateView {
    /// The attempt it belongs to (1-based).
    pub attempt: u32,
    /// The state.
    #[serde(flatten)]
    pub state: StateView,
}

/// A task run.
#[derive(Debug, Clone, Serialize)]
pub struct TaskRunView {
    /// Its id.
    pub id: String,
    /// Task name (`subflow/task` inside a subflow).
    pub name: String,
    /// Current state.
    pub state: StateView,
    /// Current attempt.
    pub attempt: u32,
    /// Retries allowed.
    pub max_retries: u32,
    /// Concurrency tags.
    pub tags: Vec<String>,
    /// When it first ran.
    pub start: Option<String>,
    /// When it ended.
    pub end: Option<String>,
    /// Seconds from start to end.
    pub duration_seconds: Option<f64>,
    /// The error and its chain, if it failed.
    pub error: Option<String>,
    /// Its (possibly summarised) JSON result.
    pub result: Option<Value>,
    /// Task runs whose output it consumed.
    pub upstream_ids: Vec<String>,
    /// Every state, oldest first: the retry history.
    pub history: Vec<TaskRunStateView>,
}

impl From<&proto::TaskRun> for TaskRunView {
    fn from(task: &proto::TaskRun) -> Self {
        let start = task.start_micros.unwrap_or(0);
        let end = task.end_micros.unwrap_or(0);
        Self {
            id: task.id.clone(),
            name: task.name.clone(),
            state: StateView::from_proto(task.state.as_ref()),
            attempt: task.attempt,
            max_retries: task.max_retries,
            tags: task.tags.clone(),
            start: time::rfc3339(start),
            end: time::rfc3339(end),
            duration_seconds: time::between(start, end).map(|d| d.as_secs_f64()),
            error: Some(task.error.clone()).filter(|e| !e.is_empty()),
            result: serde_json::from_str(&task.result_json).ok(),
            upstream_ids: task.upstream_ids.clone(),
            history: task
                .history
                .iter()
                .map(|entry| TaskRunStateView {
                    attempt: entry.attempt,
                    state: StateView::from_proto(entry.state.as_ref()),
                })
                .collect(),
        }
    }
}

/// Writes task runs as a table: name, state, attempts, duration, upstream names.
pub fn print_table(tasks: &[TaskRunView]) -> std::io::Result<()> {
    let mut rows = table::new(&["TASK", "STATE", "ATTEMPTS", "DURATION", "AFTER", "MESSAGE"]);
    for task in tasks {
        let upstream: Vec<&str> = task
            .upstream_ids
            .iter()
            .map(|id| {
                tasks
                    .iter()
                    .find(|t| &t.id == id)
                    .map_or(output::short_id(id), |t| t.name.as_str())
            })
            .collect();
        let duration = task.duration_seconds.map_or_else(
            || "-".to_owned(),
            |s| time::duration(std::time::Duration::from_secs_f64(s)),
        );
        rows.add_row([
            Cell::new(&task.name),
            table::state(&task.state),
            table::number(format!("{}/{}", task.attempt, task.max_retries + 1)),
            table::number(duration),
            Cell::new(output::or_dash(&upstream.join(", "))),
            Cell::new(output::or_dash(&task.state.message_on_one_line())),
        ]);
    }
    table::print(rows, "(no task runs)")
}
