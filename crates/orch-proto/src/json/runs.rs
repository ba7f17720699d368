//! Flow runs, their task runs and log lines.

use serde::Serialize;
use serde_json::Value;

use orch_core::ResourceUsage;
use orch_core::limits::human_bytes;
use orch_core::usage::micros_to_seconds;

use super::{State, json_object, non_empty, rfc3339, seconds_between};
use crate::v1 as pb;

/// A flow run.
#[derive(Debug, Clone, Serialize)]
pub struct FlowRun {
    /// The full id.
    pub id: String,
    /// The human-friendly name, e.g. `brisk-otter`.
    pub name: String,
    /// The flow's name.
    pub flow: String,
    /// `flow/name` of its deployment.
    pub deployment: String,
    /// The deployment's id; `null` for a run without one.
    pub deployment_id: Option<String>,
    /// The work pool it runs in.
    pub work_pool: String,
    /// The current state.
    pub state: State,
    /// Its parameters, merged over the deployment's defaults.
    pub parameters: Value,
    /// Its tags.
    pub tags: Vec<String>,
    /// The schedule that created it; `null` for a run started by hand.
    pub schedule: Option<String>,
    /// When it is due to start.
    pub expected_start: Option<String>,
    /// When it last started running.
    pub start_time: Option<String>,
    /// When it ended.
    pub end_time: Option<String>,
    /// Seconds from start to end, or to now while it runs.
    pub duration_seconds: Option<f64>,
    /// Times it has started, across retries.
    pub run_count: u32,
    /// The worker running it.
    pub worker_id: Option<String>,
    /// That worker's name.
    pub worker_name: Option<String>,
    /// The exit code of its process, once it exited.
    pub exit_code: Option<i32>,
    /// What its last attempt's processes used, once its worker reported it.
    pub usage: Option<Usage>,
    /// Its trace id (32 hex digits), under which its spans are exported.
    pub trace_id: Option<String>,
    /// For a subflow run: the run whose code called it; `null` for a top-level run.
    pub parent_flow_run_id: Option<String>,
    /// For a subflow run: the parent's task run standing for the call.
    pub parent_task_run_id: Option<String>,
    /// When it was created.
    pub created_at: Option<String>,
    /// `expected_start` in microseconds (0 when unset).
    #[serde(skip)]
    pub expected_start_micros: i64,
    /// `start_time` in microseconds (0 when unset).
    #[serde(skip)]
    pub start_micros: i64,
    /// `end_time` in microseconds (0 when unset).
    #[serde(skip)]
    pub end_micros: i64,
    /// `created_at` in microseconds.
    #[serde(skip)]
    pub created_micros: i64,
}

impl FlowRun {
    /// The record of `run`; `now_micros` measures a running run's duration.
    pub fn from_proto(run: &pb::FlowRun, now_micros: i64) -> FlowRun {
        let state = State::from_proto(run.state.as_ref());
        let start_micros = run.start_micros.unwrap_or(0);
        let end_micros = run.end_micros.unwrap_or(0);
        let duration_seconds = match (end_micros, state.is_terminal()) {
            (0, false) => seconds_between(start_micros, now_micros),
            (0, true) => None,
            (end, _) => seconds_between(start_micros, end),
        };
        FlowRun {
            id: run.id.clone(),
            name: run.name.clone(),
            flow: run.flow.clone(),
            deployment: run.deployment.clone(),
            deployment_id: non_empty(&run.deployment_id),
            work_pool: run.work_pool.clone(),
            state,
            parameters: json_object(&run.parameters_json),
            tags: run.tags.clone(),
            schedule: non_empty(&run.schedule_slug),
            expected_start: rfc3339(run.expected_start_micros),
            start_time: rfc3339(start_micros),
            end_time: rfc3339(end_micros),
            duration_seconds,
            run_count: run.run_count,
            worker_id: non_empty(&run.worker_id),
            worker_name: non_empty(&run.worker_name),
            exit_code: run.exit_code,
            usage: run.usage.as_ref().map(Usage::from_proto),
            trace_id: non_empty(&run.trace_id),
            parent_flow_run_id: non_empty(&run.parent_flow_run_id),
            parent_task_run_id: non_empty(&run.parent_task_run_id),
            created_at: rfc3339(run.created_at_micros),
            expected_start_micros: run.expected_start_micros,
            start_micros,
            end_micros,
            created_micros: run.created_at_micros,
        }
    }

    /// The records of many runs.
    pub fn many(runs: &[pb::FlowRun], now_micros: i64) -> Vec<FlowRun> {
        runs.iter()
            .map(|run| FlowRun::from_proto(run, now_micros))
            .collect()
    }
}

impl From<&pb::FlowRun> for FlowRun {
    /// The record of `run` as a client sees it now.
    fn from(run: &pb::FlowRun) -> FlowRun {
        FlowRun::from_proto(run, super::now_micros())
    }
}

/// CPU time, peak memory and wall time of a run's processes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Usage {
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

impl Usage {
    /// The record of `usage`.
    pub fn from_proto(usage: &pb::ResourceUsage) -> Usage {
        let core = Self::core(usage);
        Usage {
            cpu_seconds: core.cpu_seconds(),
            cpu_user_seconds: micros_to_seconds(usage.cpu_user_micros),
            cpu_system_seconds: micros_to_seconds(usage.cpu_system_micros),
            max_rss_bytes: usage.max_rss_bytes,
            wall_seconds: core.wall_seconds(),
        }
    }

    /// The domain value of `usage`.
    pub fn core(usage: &pb::ResourceUsage) -> ResourceUsage {
        ResourceUsage {
            cpu_user_micros: usage.cpu_user_micros,
            cpu_system_micros: usage.cpu_system_micros,
            max_rss_bytes: usage.max_rss_bytes,
            wall_micros: usage.wall_micros,
        }
    }

    /// One line for people: `CPU 2.01 s (user 1.95 s, system 0.06 s), peak RSS 300.4 MiB, wall 2.30 s`.
    pub fn summary(&self) -> String {
        format!(
            "CPU {:.2} s (user {:.2} s, system {:.2} s), peak RSS {}, wall {:.2} s",
            self.cpu_seconds,
            self.cpu_user_seconds,
            self.cpu_system_seconds,
            human_bytes(usize::try_from(self.max_rss_bytes).unwrap_or(0)),
            self.wall_seconds
        )
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
    /// The record of `detail`.
    pub fn from_proto(detail: &pb::FlowRunDetail, now_micros: i64) -> FlowRunDetail {
        let run = detail.run.clone().unwrap_or_default();
        FlowRunDetail {
            run: FlowRun::from_proto(&run, now_micros),
            history: detail
                .history
                .iter()
                .map(|state| State::from_proto(Some(state)))
                .collect(),
            task_runs: detail
                .task_runs
                .iter()
                .map(|task| TaskRun::from_proto(task, now_micros))
                .collect(),
            subflow_runs: FlowRun::many(&detail.subflow_runs, now_micros),
        }
    }
}

impl From<&pb::FlowRunDetail> for FlowRunDetail {
    /// The record of `detail` as a client sees it now.
    fn from(detail: &pb::FlowRunDetail) -> FlowRunDetail {
        FlowRunDetail::from_proto(detail, super::now_micros())
    }
}

/// One entry of a task run's history.
#[derive(Debug, Clone, Serialize)]
pub struct TaskRunState {
    /// Per task run, from 1.
    pub seq: u32,
    /// The attempt it belongs to, from 1.
    pub attempt: u32,
    /// The state.
    pub state: State,
}

/// A task run: one step of a flow run, with its attempts and upstream edges.
#[derive(Debug, Clone, Serialize)]
pub struct TaskRun {
    /// The id.
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
    /// When it first ran.
    pub start_time: Option<String>,
    /// When it ended.
    pub end_time: Option<String>,
    /// Seconds from start to end, or to now while it runs.
    pub duration_seconds: Option<f64>,
    /// The error and its chain, if it failed.
    pub error: Option<String>,
    /// Its (possibly summarised) JSON result; text that is not JSON is a string.
    pub result: Option<Value>,
    /// Task runs whose output it consumed.
    pub upstream_ids: Vec<String>,
    /// Every state, oldest first: the retry history.
    pub history: Vec<TaskRunState>,
    /// CPU time its attempts spent on the threads that ran them, summed, as
    /// the SDK measured it; `None` when it did not.
    pub cpu_seconds: Option<f64>,
    /// `start_time` in microseconds (0 when unset).
    #[serde(skip)]
    pub start_micros: i64,
    /// `end_time` in microseconds (0 when unset).
    #[serde(skip)]
    pub end_micros: i64,
}

impl TaskRun {
    /// The record of `task`; `now_micros` measures a running task's duration.
    pub fn from_proto(task: &pb::TaskRun, now_micros: i64) -> TaskRun {
        let state = State::from_proto(task.state.as_ref());
        let start_micros = task.start_micros.unwrap_or(0);
        let end_micros = task.end_micros.unwrap_or(0);
        let duration_seconds = match (end_micros, state.is_terminal()) {
            (0, false) => seconds_between(start_micros, now_micros),
            (0, true) => None,
            (end, _) => seconds_between(start_micros, end),
        };
        let result = match task.result_json.trim() {
            "" => None,
            text => Some(serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.into()))),
        };
        TaskRun {
            id: task.id.clone(),
            flow_run_id: task.flow_run_id.clone(),
            name: task.name.clone(),
            tags: task.tags.clone(),
            state,
            attempt: task.attempt,
            max_retries: task.max_retries,
            start_time: rfc3339(start_micros),
            end_time: rfc3339(end_micros),
            duration_seconds,
            error: non_empty(&task.error),
            result,
            upstream_ids: task.upstream_ids.clone(),
            history: task
                .history
                .iter()
                .map(|entry| TaskRunState {
                    seq: entry.seq,
                    attempt: entry.attempt,
                    state: State::from_proto(entry.state.as_ref()),
                })
                .collect(),
            cpu_seconds: task.cpu_micros.map(|micros| micros as f64 / 1e6),
            start_micros,
            end_micros,
        }
    }
}

impl From<&pb::TaskRun> for TaskRun {
    /// The record of `task` as a client sees it now.
    fn from(task: &pb::TaskRun) -> TaskRun {
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

    fn run(state: pb::StateType, start: Option<i64>, end: Option<i64>) -> pb::FlowRun {
        pb::FlowRun {
            id: "r1".into(),
            state: Some(pb::State {
                r#type: state as i32,
                ..Default::default()
            }),
            start_micros: start,
            end_micros: end,
            parameters_json: r#"{"symbol":"GOOG"}"#.into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_running_run_lasts_until_now_and_a_finished_one_until_its_end() {
        let running = FlowRun::from_proto(
            &run(pb::StateType::Running, Some(1_000_000), None),
            4_000_000,
        );
        assert_eq!(running.duration_seconds, Some(3.0));
        let done = FlowRun::from_proto(
            &run(pb::StateType::Completed, Some(1_000_000), Some(2_500_000)),
            9_000_000,
        );
        assert_eq!(done.duration_seconds, Some(1.5));
        let never_started = FlowRun::from_proto(&run(pb::StateType::Cancelled, None, None), 9);
        assert_eq!(never_started.duration_seconds, None);
    }

    #[test]
    fn absent_values_are_null_not_empty_strings() {
        let value = serde_json::to_value(FlowRun::from_proto(
            &run(pb::StateType::Scheduled, None, None),
            0,
        ))
        .unwrap();
        for field in [
            "deployment_id",
            "worker_id",
            "worker_name",
            "schedule",
            "start_time",
            "parent_flow_run_id",
            "parent_task_run_id",
        ] {
            assert!(value[field].is_null(), "{field} should be null: {value}");
        }
        assert_eq!(value["parameters"]["symbol"], "GOOG");
        assert!(
            value.get("start_micros").is_none(),
            "raw fields are not printed"
        );
    }

    #[test]
    fn task_results_that_are_not_json_stay_visible() {
        let task = pb::TaskRun {
            result_json: "{truncated".into(),
            ..Default::default()
        };
        assert_eq!(
            TaskRun::from_proto(&task, 0).result,
            Some(Value::String("{truncated".into()))
        );
    }

    #[test]
    fn a_task_runs_cpu_time_is_in_seconds_or_null() {
        let task = pb::TaskRun {
            cpu_micros: Some(1_250_000),
            ..Default::default()
        };
        let value = serde_json::to_value(TaskRun::from_proto(&task, 0)).unwrap();
        assert_eq!(value["cpu_seconds"], 1.25);
        let value = serde_json::to_value(TaskRun::from_proto(&pb::TaskRun::default(), 0)).unwrap();
        assert!(value["cpu_seconds"].is_null(), "{value}");
    }
}
