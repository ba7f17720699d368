//! The records of a flow run, its states and its task runs, each declared
//! once: the store returns them, the server puts them on the wire
//! (`orch_proto`), and they serialize to the JSON shape the REST API and the
//! CLI's `--output json` print (`orch_proto::json`, which adds the fields
//! computed at the time of printing, such as `duration_seconds`).
//!
//! In memory, times are microseconds since the Unix epoch and texts may be
//! empty; in JSON, times are RFC 3339 strings in UTC with microseconds, and an
//! unset time or an empty text is `null` (the adapters below).

use chrono::{DateTime, SecondsFormat};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::limits::human_bytes;
use crate::usage::micros_to_seconds;
use crate::{ResourceUsage, RunTrace, StateType, TraceParent, TraceState};

/// A state of a run or task run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct State {
    /// The type, e.g. `COMPLETED`.
    #[serde(rename = "type", serialize_with = "state_type_name")]
    pub kind: StateType,
    /// The display name, e.g. `Late` or `Completed`.
    pub name: String,
    /// Why it was entered; empty when no reason was given.
    pub message: String,
    /// When it was entered.
    #[serde(serialize_with = "time")]
    pub timestamp: i64,
}

impl State {
    /// Whether it can no longer change (Completed, Failed, Crashed, Cancelled).
    pub fn is_terminal(&self) -> bool {
        self.kind.is_terminal()
    }

    /// Whether it ended well.
    pub fn is_completed(&self) -> bool {
        self.kind == StateType::Completed
    }
}

/// A flow run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlowRun {
    /// The full id.
    pub id: String,
    /// The human-friendly name, e.g. `brisk-otter`.
    pub name: String,
    /// The flow's name.
    pub flow: String,
    /// `flow/name` of its deployment, empty if it has none (or it was deleted).
    pub deployment: String,
    /// The deployment's id; `null` for a run without one.
    pub deployment_id: Option<String>,
    /// The work pool it runs in.
    pub work_pool: String,
    /// That pool's id (not printed).
    #[serde(skip)]
    pub work_pool_id: Option<String>,
    /// The current state.
    pub state: State,
    /// Its parameters, merged over the deployment's defaults.
    pub parameters: Map<String, Value>,
    /// Its tags.
    pub tags: Vec<String>,
    /// When it is due to start.
    #[serde(serialize_with = "time")]
    pub expected_start: i64,
    /// The first time it entered Running.
    #[serde(serialize_with = "optional_time")]
    pub start_time: Option<i64>,
    /// When it reached a terminal state.
    #[serde(serialize_with = "optional_time")]
    pub end_time: Option<i64>,
    /// Times it has entered Running, across retries.
    pub run_count: u32,
    /// The worker holding it.
    pub worker_id: Option<String>,
    /// That worker's name.
    #[serde(serialize_with = "text_or_null")]
    pub worker_name: String,
    /// The exit code of its process, once it exited.
    pub exit_code: Option<i32>,
    /// What its last attempt's processes used, once its worker reported it
    /// (printed in seconds: [`ResourceUsage::in_seconds`]).
    #[serde(serialize_with = "usage_in_seconds")]
    pub usage: Option<ResourceUsage>,
    /// The `traceparent` it was created with, whose trace it joined (not
    /// printed: its trace id is).
    #[serde(skip)]
    pub trace_parent: Option<TraceParent>,
    /// The `tracestate` it was created with (with a `trace_parent` only).
    #[serde(skip)]
    pub trace_state: Option<TraceState>,
    /// When it was created.
    #[serde(serialize_with = "time")]
    pub created_at: i64,
    /// The slug of the schedule that created it; `null` for a run started by hand.
    #[serde(rename = "schedule")]
    pub schedule_slug: Option<String>,
    /// For a subflow run: the run whose code called it; `null` for a top-level run.
    pub parent_flow_run_id: Option<String>,
    /// For a subflow run: the parent's task run standing for the call.
    pub parent_task_run_id: Option<String>,
}

impl FlowRun {
    /// The run's trace: its trace id and root span (see [`RunTrace`]).
    pub fn trace(&self) -> RunTrace {
        RunTrace::of(&self.id, self.trace_parent.as_ref())
    }

    /// Whether it is a subflow run (called by another run).
    pub fn is_subflow(&self) -> bool {
        self.parent_flow_run_id.is_some()
    }

    /// Seconds from its start to its end, or to `now` while it runs; `None`
    /// before it started, or when it ended without an end time.
    pub fn duration_seconds(&self, now: i64) -> Option<f64> {
        duration_seconds(&self.state, self.start_time, self.end_time, now)
    }
}

/// A task run: one step of a flow run, with its attempts and upstream edges.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskRun {
    /// The id (made by the client).
    pub id: String,
    /// The flow run it belongs to.
    pub flow_run_id: String,
    /// Task name (`subflow/task` inside a subflow).
    pub name: String,
    /// Concurrency tags.
    pub tags: Vec<String>,
    /// The current state.
    pub state: State,
    /// The current attempt, from 1.
    pub attempt: u32,
    /// Retries allowed.
    pub max_retries: u32,
    /// The first time it entered Running.
    #[serde(serialize_with = "optional_time")]
    pub start_time: Option<i64>,
    /// When it reached a terminal state.
    #[serde(serialize_with = "optional_time")]
    pub end_time: Option<i64>,
    /// The error and its chain, if it failed.
    #[serde(serialize_with = "text_or_null")]
    pub error: String,
    /// Its JSON result, possibly summarised; printed as JSON, or as a string
    /// when it is not JSON.
    #[serde(serialize_with = "json_text")]
    pub result: String,
    /// Task runs whose output it consumed.
    pub upstream_ids: Vec<String>,
    /// Every state, oldest first: the retry history (in a report: the new
    /// ones only).
    pub history: Vec<TaskRunState>,
    /// When it was created (not printed).
    #[serde(skip)]
    pub created_at: i64,
    /// CPU time its attempts spent on the threads that ran them, summed, as
    /// the SDK measured it (`None` when it did not); printed in seconds.
    #[serde(rename = "cpu_seconds", serialize_with = "micros_in_seconds")]
    pub cpu_micros: Option<i64>,
}

impl TaskRun {
    /// Seconds from its start to its end, or to `now` while it runs.
    pub fn duration_seconds(&self, now: i64) -> Option<f64> {
        duration_seconds(&self.state, self.start_time, self.end_time, now)
    }
}

/// One entry of a task run's history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskRunState {
    /// Per task run, from 1.
    pub seq: u32,
    /// The attempt it belongs to, from 1.
    pub attempt: u32,
    /// The state.
    pub state: State,
}

/// Seconds from `start` to `end`, or to `now` while not in a terminal state.
fn duration_seconds(state: &State, start: Option<i64>, end: Option<i64>, now: i64) -> Option<f64> {
    let start = start.unwrap_or(0);
    match (end.unwrap_or(0), state.is_terminal()) {
        (0, false) => seconds_between(start, now),
        (0, true) => None,
        (end, _) => seconds_between(start, end),
    }
}

/// Seconds from `start` to `end`, never negative; `None` when either is unset (0).
pub fn seconds_between(start: i64, end: i64) -> Option<f64> {
    (start != 0 && end != 0).then(|| (end - start).max(0) as f64 / 1e6)
}

/// RFC 3339 in UTC with microseconds; `None` when unset (0) or out of range.
pub fn rfc3339(micros: i64) -> Option<String> {
    if micros == 0 {
        return None;
    }
    DateTime::from_timestamp_micros(micros).map(|t| t.to_rfc3339_opts(SecondsFormat::Micros, true))
}

/// The figures of a [`ResourceUsage`] as printed: times in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct UsageSeconds {
    /// User and system CPU time, in seconds.
    pub cpu_seconds: f64,
    /// CPU time in user mode, in seconds.
    pub cpu_user_seconds: f64,
    /// CPU time in kernel mode, in seconds.
    pub cpu_system_seconds: f64,
    /// Peak resident set size of the largest process, in bytes.
    pub max_rss_bytes: i64,
    /// Process start to exit, in seconds.
    pub wall_seconds: f64,
}

impl ResourceUsage {
    /// Its figures with times in seconds, as printed.
    pub fn in_seconds(&self) -> UsageSeconds {
        UsageSeconds {
            cpu_seconds: self.cpu_seconds(),
            cpu_user_seconds: micros_to_seconds(self.cpu_user_micros),
            cpu_system_seconds: micros_to_seconds(self.cpu_system_micros),
            max_rss_bytes: self.max_rss_bytes,
            wall_seconds: self.wall_seconds(),
        }
    }

    /// One line for people: `CPU 2.01 s (user 1.95 s, system 0.06 s), peak RSS 300.4 MiB, wall 2.30 s`.
    pub fn summary(&self) -> String {
        let seconds = self.in_seconds();
        format!(
            "CPU {:.2} s (user {:.2} s, system {:.2} s), peak RSS {}, wall {:.2} s",
            seconds.cpu_seconds,
            seconds.cpu_user_seconds,
            seconds.cpu_system_seconds,
            human_bytes(usize::try_from(self.max_rss_bytes).unwrap_or(0)),
            seconds.wall_seconds
        )
    }
}

fn state_type_name<S: Serializer>(kind: &StateType, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(kind.as_str())
}

fn time<S: Serializer>(micros: &i64, serializer: S) -> Result<S::Ok, S::Error> {
    rfc3339(*micros).serialize(serializer)
}

fn optional_time<S: Serializer>(micros: &Option<i64>, serializer: S) -> Result<S::Ok, S::Error> {
    time(&micros.unwrap_or(0), serializer)
}

fn text_or_null<S: Serializer>(text: &str, serializer: S) -> Result<S::Ok, S::Error> {
    (!text.is_empty()).then_some(text).serialize(serializer)
}

fn json_text<S: Serializer>(text: &str, serializer: S) -> Result<S::Ok, S::Error> {
    match text.trim() {
        "" => serializer.serialize_none(),
        text => serde_json::from_str::<Value>(text)
            .unwrap_or_else(|_| Value::String(text.to_owned()))
            .serialize(serializer),
    }
}

fn usage_in_seconds<S: Serializer>(
    usage: &Option<ResourceUsage>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    usage.map(|usage| usage.in_seconds()).serialize(serializer)
}

fn micros_in_seconds<S: Serializer>(
    micros: &Option<i64>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    micros
        .map(|micros| micros as f64 / 1e6)
        .serialize(serializer)
}

#[cfg(test)]
#[path = "records_tests.rs"]
mod tests;
