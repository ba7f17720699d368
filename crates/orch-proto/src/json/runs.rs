//! Flow runs, their task runs and log lines.
//!
//! A run and a task run are the records of [`orch_core::records`] (declared
//! once, with their JSON shape), flattened here beside the fields computed
//! when they are printed: how long they have lasted, a run's trace id.

use std::ops::Deref;

use serde::Serialize;

use orch_core::records;

use super::{State, non_empty, rfc3339};
use crate::runs::{WireError, flow_run_from_wire, task_run_from_wire};
use crate::v1 as pb;

/// A flow run as printed: the record and what is computed from it.
#[derive(Debug, Clone, Serialize)]
pub struct FlowRun {
    /// The run: its fields stand at the top level.
    #[serde(flatten)]
    pub run: records::FlowRun,
    /// Seconds from start to end, or to now while it runs.
    pub duration_seconds: Option<f64>,
    /// Its trace id (32 hex digits), under which its spans are exported.
    pub trace_id: Option<String>,
}

impl FlowRun {
    /// The record of `run` as the server has it; `now_micros` measures a
    /// running run's duration.
    pub fn of(run: records::FlowRun, now_micros: i64) -> FlowRun {
        let trace_id = Some(run.trace().trace_id_hex());
        FlowRun::with_trace(run, trace_id, now_micros)
    }

    fn with_trace(run: records::FlowRun, trace_id: Option<String>, now_micros: i64) -> FlowRun {
        FlowRun {
            duration_seconds: run.duration_seconds(now_micros),
            trace_id,
            run,
        }
    }

    /// The record of wire run `run`; `now_micros` measures a running run's duration.
    ///
    /// # Errors
    ///
    /// Its state is missing or of a type this build does not know.
    pub fn from_proto(run: &pb::FlowRun, now_micros: i64) -> Result<FlowRun, WireError> {
        Ok(FlowRun::with_trace(
            flow_run_from_wire(run)?,
            non_empty(&run.trace_id),
            now_micros,
        ))
    }

    /// The records of many wire runs.
    ///
    /// # Errors
    ///
    /// As [`FlowRun::from_proto`], for the first run that fails.
    pub fn many(runs: &[pb::FlowRun], now_micros: i64) -> Result<Vec<FlowRun>, WireError> {
        runs.iter()
            .map(|run| FlowRun::from_proto(run, now_micros))
            .collect()
    }
}

impl Deref for FlowRun {
    type Target = records::FlowRun;

    fn deref(&self) -> &records::FlowRun {
        &self.run
    }
}

impl TryFrom<&pb::FlowRun> for FlowRun {
    type Error = WireError;

    /// The record of `run` as a client sees it now.
    fn try_from(run: &pb::FlowRun) -> Result<FlowRun, WireError> {
        FlowRun::from_proto(run, super::now_micros())
    }
}

/// A run with its state history and task runs.
#[derive(Debug, Clone, Serialize)]
pub struct FlowRunDetail {
    /// The run: its fields stand at the top level, beside `history` and `task_runs`.
    #[serde(flatten)]
    pub run: FlowRun,
    /// Its states, oldest first.
    pub history: Vec<State>,
    /// Its task runs, in the order they were created.
    pub task_runs: Vec<TaskRun>,
    /// The subflow runs it called, oldest first.
    pub subflow_runs: Vec<FlowRun>,
}

impl FlowRunDetail {
    /// The record of wire detail `detail`.
    ///
    /// # Errors
    ///
    /// A run, task run or state in it is missing its state or of an unknown type.
    pub fn from_proto(
        detail: &pb::FlowRunDetail,
        now_micros: i64,
    ) -> Result<FlowRunDetail, WireError> {
        let run = detail.run.clone().unwrap_or_default();
        let what = format!("flow run \"{}\"", run.id);
        Ok(FlowRunDetail {
            run: FlowRun::from_proto(&run, now_micros)?,
            history: detail
                .history
                .iter()
                .map(|state| crate::runs::state_from_wire(Some(state), &what))
                .collect::<Result<_, _>>()?,
            task_runs: detail
                .task_runs
                .iter()
                .map(|task| TaskRun::from_proto(task, now_micros))
                .collect::<Result<_, _>>()?,
            subflow_runs: FlowRun::many(&detail.subflow_runs, now_micros)?,
        })
    }
}

impl TryFrom<&pb::FlowRunDetail> for FlowRunDetail {
    type Error = WireError;

    /// The record of `detail` as a client sees it now.
    fn try_from(detail: &pb::FlowRunDetail) -> Result<FlowRunDetail, WireError> {
        FlowRunDetail::from_proto(detail, super::now_micros())
    }
}

/// A task run as printed: the record and how long it has lasted.
#[derive(Debug, Clone, Serialize)]
pub struct TaskRun {
    /// The task run: its fields stand at the top level.
    #[serde(flatten)]
    pub task: records::TaskRun,
    /// Seconds from start to end, or to now while it runs.
    pub duration_seconds: Option<f64>,
}

impl TaskRun {
    /// The record of `task`; `now_micros` measures a running task's duration.
    pub fn of(task: records::TaskRun, now_micros: i64) -> TaskRun {
        TaskRun {
            duration_seconds: task.duration_seconds(now_micros),
            task,
        }
    }

    /// The record of wire task run `task`.
    ///
    /// # Errors
    ///
    /// Its state, or one of its history, is missing or of an unknown type.
    pub fn from_proto(task: &pb::TaskRun, now_micros: i64) -> Result<TaskRun, WireError> {
        Ok(TaskRun::of(task_run_from_wire(task)?, now_micros))
    }
}

impl Deref for TaskRun {
    type Target = records::TaskRun;

    fn deref(&self) -> &records::TaskRun {
        &self.task
    }
}

impl TryFrom<&pb::TaskRun> for TaskRun {
    type Error = WireError;

    /// The record of `task` as a client sees it now.
    fn try_from(task: &pb::TaskRun) -> Result<TaskRun, WireError> {
        TaskRun::from_proto(task, super::now_micros())
    }
}

/// One log line of a run.
#[derive(Debug, Clone, Serialize)]
pub struct LogLine {
    /// Server-assigned and increasing: page with it (`after`, `before`).
    pub id: i64,
    /// The run that wrote it.
    pub flow_run_id: String,
    /// When it was written.
    pub timestamp: Option<String>,
    /// `stdout`, `stderr` or `sdk`.
    pub stream: String,
    /// The level (`INFO`, `WARN`, ...), for SDK lines.
    pub level: Option<String>,
    /// The text.
    pub message: String,
    /// The task run that wrote it, for SDK lines.
    pub task_run_id: Option<String>,
    /// `timestamp` in microseconds.
    #[serde(skip)]
    pub timestamp_micros: i64,
}

impl LogLine {
    /// The record of `line`.
    pub fn from_proto(line: &pb::LogLine) -> LogLine {
        LogLine {
            id: line.id,
            flow_run_id: line.flow_run_id.clone(),
            timestamp: rfc3339(line.timestamp_micros),
            stream: line.stream.clone(),
            level: non_empty(&line.level),
            message: line.message.clone(),
            task_run_id: non_empty(&line.task_run_id),
            timestamp_micros: line.timestamp_micros,
        }
    }

    /// The records of many lines.
    pub fn many(lines: &[pb::LogLine]) -> Vec<LogLine> {
        lines.iter().map(LogLine::from_proto).collect()
    }
}

impl From<&pb::LogLine> for LogLine {
    fn from(line: &pb::LogLine) -> LogLine {
        LogLine::from_proto(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(kind: pb::StateType) -> Option<pb::State> {
        Some(pb::State {
            r#type: kind as i32,
            ..Default::default()
        })
    }

    fn run(kind: pb::StateType, start: Option<i64>, end: Option<i64>) -> pb::FlowRun {
        pb::FlowRun {
            id: "r1".into(),
            state: state(kind),
            start_micros: start,
            end_micros: end,
            parameters_json: r#"{"symbol":"GOOG"}"#.into(),
            trace_id: "0af7651916cd43dd8448eb211c80319c".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_wire_run_prints_flat_with_its_duration_and_trace_id() {
        let running = FlowRun::from_proto(
            &run(pb::StateType::Running, Some(1_000_000), None),
            4_000_000,
        )
        .unwrap();
        let value = serde_json::to_value(&running).unwrap();
        assert_eq!(value["duration_seconds"], 3.0);
        assert_eq!(value["trace_id"], "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(value["state"]["type"], "RUNNING");
        assert_eq!(
            value["state"]["name"], "Running",
            "a nameless state takes its type's name"
        );
        assert_eq!(value["parameters"]["symbol"], "GOOG");
        for field in [
            "deployment_id",
            "worker_id",
            "worker_name",
            "schedule",
            "end_time",
            "parent_flow_run_id",
            "parent_task_run_id",
        ] {
            assert!(value[field].is_null(), "{field} should be null: {value}");
        }
        assert!(
            value.get("run").is_none(),
            "the record is flattened: {value}"
        );
        let never_started =
            FlowRun::from_proto(&run(pb::StateType::Cancelled, None, None), 9).unwrap();
        assert_eq!(never_started.duration_seconds, None);
    }

    #[test]
    fn a_run_without_a_known_state_is_an_error_naming_it() {
        let mut wire = run(pb::StateType::Running, None, None);
        wire.state = None;
        let error = FlowRun::from_proto(&wire, 0).unwrap_err();
        assert_eq!(error.to_string(), "flow run \"r1\": a state is required");
        wire.state = Some(pb::State {
            r#type: 99,
            ..Default::default()
        });
        let error = FlowRun::from_proto(&wire, 0).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("state type 99 is not a valid state type"),
            "{error}"
        );
    }

    #[test]
    fn a_detail_keeps_the_run_flat_beside_its_history_and_task_runs() {
        let detail = pb::FlowRunDetail {
            run: Some(run(
                pb::StateType::Completed,
                Some(1_000_000),
                Some(2_000_000),
            )),
            history: vec![state(pb::StateType::Running).unwrap()],
            task_runs: vec![pb::TaskRun {
                id: "t1".into(),
                state: state(pb::StateType::Running),
                start_micros: Some(1_000_000),
                cpu_micros: Some(500_000),
                ..Default::default()
            }],
            subflow_runs: Vec::new(),
        };
        let value =
            serde_json::to_value(FlowRunDetail::from_proto(&detail, 3_000_000).unwrap()).unwrap();
        assert_eq!(value["id"], "r1");
        assert_eq!(value["duration_seconds"], 1.0);
        assert_eq!(value["history"][0]["type"], "RUNNING");
        assert_eq!(value["task_runs"][0]["duration_seconds"], 2.0);
        assert_eq!(value["task_runs"][0]["cpu_seconds"], 0.5);
        assert!(value["task_runs"][0]["result"].is_null(), "{value}");
    }

    fn keys(value: &serde_json::Value) -> Vec<&str> {
        let mut keys: Vec<&str> = value
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        keys
    }

    #[test]
    fn runs_and_task_runs_print_exactly_the_fields_of_their_published_shape() {
        let run = FlowRun::from_proto(&run(pb::StateType::Running, None, None), 0).unwrap();
        let mut expected = vec![
            "id",
            "name",
            "flow",
            "deployment",
            "deployment_id",
            "work_pool",
            "state",
            "parameters",
            "tags",
            "schedule",
            "expected_start",
            "start_time",
            "end_time",
            "duration_seconds",
            "run_count",
            "worker_id",
            "worker_name",
            "exit_code",
            "usage",
            "trace_id",
            "parent_flow_run_id",
            "parent_task_run_id",
            "created_at",
        ];
        expected.sort_unstable();
        let value = serde_json::to_value(&run).unwrap();
        assert_eq!(keys(&value), expected);
        assert_eq!(
            keys(&value["state"]),
            ["message", "name", "timestamp", "type"]
        );
        let task = TaskRun::from_proto(
            &pb::TaskRun {
                state: state(pb::StateType::Completed),
                history: vec![pb::TaskRunState {
                    seq: 1,
                    attempt: 1,
                    state: state(pb::StateType::Running),
                }],
                ..Default::default()
            },
            0,
        )
        .unwrap();
        let mut expected = vec![
            "id",
            "flow_run_id",
            "name",
            "tags",
            "state",
            "attempt",
            "max_retries",
            "start_time",
            "end_time",
            "duration_seconds",
            "error",
            "result",
            "upstream_ids",
            "history",
            "cpu_seconds",
        ];
        expected.sort_unstable();
        let value = serde_json::to_value(&task).unwrap();
        assert_eq!(keys(&value), expected);
        assert_eq!(keys(&value["history"][0]), ["attempt", "seq", "state"]);
    }
}
