//! JSON shapes of the API. Times are RFC 3339 strings in UTC with microseconds;
//! state types are upper case (`COMPLETED`), as in the CLI's `--output json`.

use chrono::{DateTime, SecondsFormat};
use orch_store::{Deployment, FlowRun, LogLine, Schedule, State, TaskRun, WorkPool, Worker};
use serde::Serialize;
use serde_json::Value;

/// RFC 3339 of a time in microseconds; `None` for 0 or an impossible time.
pub fn time(micros: i64) -> Option<String> {
    if micros == 0 {
        return None;
    }
    DateTime::from_timestamp_micros(micros).map(|t| t.to_rfc3339_opts(SecondsFormat::Micros, true))
}

/// Seconds from `start` to `end` (or to now while unfinished).
fn duration(start: Option<i64>, end: Option<i64>) -> Option<f64> {
    let start = start?;
    let end = end.unwrap_or_else(orch_store::now_micros);
    Some((end - start).max(0) as f64 / 1e6)
}

/// A state.
#[derive(Debug, Clone, Serialize)]
pub struct StateView {
    /// `COMPLETED`, `SCHEDULED`, ...
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Display name: `Completed`, `Late`, `AwaitingRetry`, ...
    pub name: String,
    /// Why the run entered it.
    pub message: String,
    /// When it was entered.
    pub timestamp: Option<String>,
}

impl From<&State> for StateView {
    fn from(state: &State) -> StateView {
        StateView {
            kind: state.kind.as_str(),
            name: state.name.clone(),
            message: state.message.clone(),
            timestamp: time(state.timestamp),
        }
    }
}

/// A flow run.
#[derive(Debug, Clone, Serialize)]
pub struct FlowRunView {
    /// Id.
    pub id: String,
    /// Friendly name.
    pub name: String,
    /// Flow name.
    pub flow: String,
    /// `flow/name` of its deployment; empty if none.
    pub deployment: String,
    /// Deployment id.
    pub deployment_id: Option<String>,
    /// Pool name.
    pub work_pool: String,
    /// Current state.
    pub state: StateView,
    /// Parameters, merged over the deployment's.
    pub parameters: Value,
    /// Tags.
    pub tags: Vec<String>,
    /// When it is due.
    pub expected_start: Option<String>,
    /// First time it entered Running.
    pub start_time: Option<String>,
    /// When it ended.
    pub end_time: Option<String>,
    /// Start to end (or now), in seconds.
    pub duration_seconds: Option<f64>,
    /// Times it entered Running.
    pub run_count: u32,
    /// Worker holding it.
    pub worker_id: Option<String>,
    /// That worker's name.
    pub worker_name: String,
    /// Exit code of its process.
    pub exit_code: Option<i32>,
    /// Creation time.
    pub created_at: Option<String>,
}

impl From<&FlowRun> for FlowRunView {
    fn from(run: &FlowRun) -> FlowRunView {
        FlowRunView {
            id: run.id.clone(),
            name: run.name.clone(),
            flow: run.flow.clone(),
            deployment: run.deployment.clone(),
            deployment_id: run.deployment_id.clone(),
            work_pool: run.work_pool.clone(),
            state: StateView::from(&run.state),
            parameters: Value::Object(run.parameters.clone()),
            tags: run.tags.clone(),
            expected_start: time(run.expected_start),
            start_time: run.start_time.and_then(time),
            end_time: run.end_time.and_then(time),
            duration_seconds: duration(run.start_time, run.end_time),
            run_count: run.run_count,
            worker_id: run.worker_id.clone(),
            worker_name: run.worker_name.clone(),
            exit_code: run.exit_code,
            created_at: time(run.created_at),
        }
    }
}

/// Views of many runs.
pub fn runs(runs: &[FlowRun]) -> Vec<FlowRunView> {
    runs.iter().map(FlowRunView::from).collect()
}

/// One entry of a task run's history.
#[derive(Debug, Clone, Serialize)]
pub struct TaskStateView {
    /// Per task run, from 1.
    pub seq: u32,
    /// The attempt it belongs to.
    pub attempt: u32,
    /// The state.
    pub state: StateView,
}

/// A task run with its history and upstream edges.
#[derive(Debug, Clone, Serialize)]
pub struct TaskRunView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Current state.
    pub state: StateView,
    /// Current attempt, from 1.
    pub attempt: u32,
    /// Retries allowed.
    pub max_retries: u32,
    /// First time it entered Running.
    pub start_time: Option<String>,
    /// When it ended.
    pub end_time: Option<String>,
    /// Start to end (or now), in seconds.
    pub duration_seconds: Option<f64>,
    /// Error, if it failed.
    pub error: String,
    /// JSON result, possibly truncated.
    pub result: String,
    /// Task runs whose output it consumed.
    pub upstream_ids: Vec<String>,
    /// States, oldest first.
    pub history: Vec<TaskStateView>,
}

impl From<&TaskRun> for TaskRunView {
    fn from(task: &TaskRun) -> TaskRunView {
        TaskRunView {
            id: task.id.clone(),
            name: task.name.clone(),
            tags: task.tags.clone(),
            state: StateView::from(&task.state),
            attempt: task.attempt,
            max_retries: task.max_retries,
            start_time: task.start_time.and_then(time),
            end_time: task.end_time.and_then(time),
            duration_seconds: duration(task.start_time, task.end_time),
            error: task.error.clone(),
            result: task.result.clone(),
            upstream_ids: task.upstream_ids.clone(),
            history: task
                .history
                .iter()
                .map(|entry| TaskStateView {
                    seq: entry.seq,
                    attempt: entry.attempt,
                    state: StateView::from(&entry.state),
                })
                .collect(),
        }
    }
}

/// A run with its history and task runs.
#[derive(Debug, Clone, Serialize)]
pub struct FlowRunDetail {
    /// The run.
    pub run: FlowRunView,
    /// Its states, oldest first.
    pub history: Vec<StateView>,
    /// Its task runs, in creation order.
    pub task_runs: Vec<TaskRunView>,
}

/// A log line.
#[derive(Debug, Clone, Serialize)]
pub struct LogLineView {
    /// Increasing id (use it as `after`/`before`).
    pub id: i64,
    /// When it was written.
    pub timestamp: Option<String>,
    /// stdout, stderr, sdk.
    pub stream: String,
    /// INFO, WARN, ...
    pub level: String,
    /// The text.
    pub message: String,
    /// Task run, if any.
    pub task_run_id: String,
}

impl From<&LogLine> for LogLineView {
    fn from(line: &LogLine) -> LogLineView {
        LogLineView {
            id: line.id,
            timestamp: time(line.timestamp),
            stream: line.stream.clone(),
            level: line.level.clone(),
            message: line.message.clone(),
            task_run_id: line.task_run_id.clone(),
        }
    }
}

/// Views of many log lines.
pub fn lines(lines: &[LogLine]) -> Vec<LogLineView> {
    lines.iter().map(LogLineView::from).collect()
}

/// A deployment schedule.
#[derive(Debug, Clone, Serialize)]
pub struct ScheduleView {
    /// Unique within the deployment.
    pub slug: String,
    /// Cron expression.
    pub cron: Option<String>,
    /// Interval in seconds.
    pub interval_seconds: Option<u64>,
    /// Interval anchor.
    pub anchor: Option<String>,
    /// RFC 5545 rule.
    pub rrule: Option<String>,
    /// IANA time zone.
    pub timezone: String,
    /// Whether it creates runs.
    pub active: bool,
    /// Parameters merged over the deployment's.
    pub parameters: Value,
    /// The calendar it follows (no slot on its closed days), if any.
    pub calendar: Option<String>,
    /// On the calendar's short days, no slot after the close.
    pub skip_after_close: bool,
}

impl From<&Schedule> for ScheduleView {
    fn from(schedule: &Schedule) -> ScheduleView {
        ScheduleView {
            slug: schedule.slug.clone(),
            cron: schedule.cron.clone(),
            interval_seconds: schedule.interval_seconds,
            anchor: schedule.anchor.clone(),
            rrule: schedule.rrule.clone(),
            timezone: schedule.timezone.clone(),
            active: schedule.active,
            parameters: Value::Object(schedule.parameters.clone()),
            calendar: schedule.calendar.as_ref().map(|c| c.name.clone()),
            skip_after_close: schedule.skip_after_close,
        }
    }
}

/// A deployment, with its recent and upcoming runs.
#[derive(Debug, Clone, Serialize)]
pub struct DeploymentView {
    /// Id.
    pub id: String,
    /// Flow name.
    pub flow: String,
    /// Name within the flow.
    pub name: String,
    /// `flow/name`.
    pub full_name: String,
    /// argv on the worker host.
    pub entrypoint: Vec<String>,
    /// Pool name.
    pub work_pool: String,
    /// Default parameters.
    pub parameters: Value,
    /// Tags copied onto runs.
    pub tags: Vec<String>,
    /// Free text.
    pub description: String,
    /// Flow-level retries.
    pub retries: u32,
    /// Delay before a retry.
    pub retry_delay_seconds: u64,
    /// Paused deployments' runs are not handed out.
    pub paused: bool,
    /// Schedules.
    pub schedules: Vec<ScheduleView>,
    /// Newest runs first.
    pub last_runs: Vec<FlowRunView>,
    /// Scheduled runs due later, soonest first.
    pub upcoming_runs: Vec<FlowRunView>,
    /// Creation time.
    pub created_at: Option<String>,
    /// Last change.
    pub updated_at: Option<String>,
}

impl DeploymentView {
    /// The view of `deployment` with the given runs.
    pub fn new(
        deployment: &Deployment,
        last_runs: &[FlowRun],
        upcoming_runs: &[FlowRun],
    ) -> DeploymentView {
        DeploymentView {
            id: deployment.id.clone(),
            flow: deployment.flow.clone(),
            name: deployment.name.clone(),
            full_name: deployment.full_name(),
            entrypoint: deployment.entrypoint.clone(),
            work_pool: deployment.work_pool.clone(),
            parameters: Value::Object(deployment.parameters.clone()),
            tags: deployment.tags.clone(),
            description: deployment.description.clone(),
            retries: deployment.retries,
            retry_delay_seconds: deployment.retry_delay_seconds,
            paused: deployment.paused,
            schedules: deployment
                .schedules
                .iter()
                .map(ScheduleView::from)
                .collect(),
            last_runs: runs(last_runs),
            upcoming_runs: runs(upcoming_runs),
            created_at: time(deployment.created_at),
            updated_at: time(deployment.updated_at),
        }
    }
}

/// A worker.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Pool name.
    pub work_pool: String,
    /// Host.
    pub hostname: String,
    /// Max concurrent runs; 0 is unlimited.
    pub limit: u32,
    /// orch version.
    pub version: String,
    /// `online`, `offline` (silent past its lease) or `stopped`.
    pub status: &'static str,
    /// Registration time.
    pub started_at: Option<String>,
    /// Last heartbeat.
    pub last_heartbeat: Option<String>,
    /// Set on a clean shutdown.
    pub stopped_at: Option<String>,
    /// Runs it holds now.
    pub runs_in_flight: i64,
}

impl WorkerView {
    /// The view of `worker`; heartbeats at or after `online_since` mean online.
    pub fn new(worker: &Worker, online_since: i64) -> WorkerView {
        let status = if worker.stopped_at.is_some() {
            "stopped"
        } else if worker.last_heartbeat >= online_since {
            "online"
        } else {
            "offline"
        };
        WorkerView {
            id: worker.id.clone(),
            name: worker.name.clone(),
            work_pool: worker.work_pool.clone(),
            hostname: worker.hostname.clone(),
            limit: worker.limit,
            version: worker.version.clone(),
            status,
            started_at: time(worker.started_at),
            last_heartbeat: time(worker.last_heartbeat),
            stopped_at: worker.stopped_at.and_then(time),
            runs_in_flight: worker.runs_in_flight,
        }
    }
}

/// A work pool with its workers.
#[derive(Debug, Clone, Serialize)]
pub struct WorkPoolView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// `process`.
    #[serde(rename = "type")]
    pub pool_type: String,
    /// Free text.
    pub description: String,
    /// Paused pools hand out no runs.
    pub paused: bool,
    /// Max runs in flight; `null` is unlimited.
    pub concurrency_limit: Option<i64>,
    /// Runs Pending, Running or Cancelling.
    pub runs_in_flight: i64,
    /// Runs Scheduled (due or not).
    pub runs_waiting: i64,
    /// Workers online.
    pub workers_online: i64,
    /// Workers seen in the last 24 hours, most recent first.
    pub workers: Vec<WorkerView>,
}

impl WorkPoolView {
    /// The view of `pool` with its workers.
    pub fn new(pool: &WorkPool, workers: Vec<WorkerView>) -> WorkPoolView {
        WorkPoolView {
            id: pool.id.clone(),
            name: pool.name.clone(),
            pool_type: pool.pool_type.clone(),
            description: pool.description.clone(),
            paused: pool.paused,
            concurrency_limit: pool.concurrency_limit,
            runs_in_flight: pool.runs_in_flight,
            runs_waiting: pool.runs_waiting,
            workers_online: pool.workers_online,
            workers,
        }
    }
}

/// An artifact: what a flow run published. The same shape as the CLI's
/// `orch artifact ls --output json`.
#[derive(Debug, Clone, Serialize)]
pub struct ArtifactView {
    /// Id.
    pub id: String,
    /// Series key; `null` outside any series.
    pub key: Option<String>,
    /// `markdown`, `table`, `link` or `metrics`.
    pub kind: &'static str,
    /// What it is.
    pub description: String,
    /// The body: a Markdown string, an array of rows, `{url, title}` or `{name: number}`.
    pub data: Value,
    /// Its run.
    pub flow_run_id: String,
    /// Its run's name.
    pub flow_run_name: String,
    /// Its run's flow.
    pub flow: String,
    /// The task run that published it.
    pub task_run_id: Option<String>,
    /// When it was published.
    pub created_at: Option<String>,
}

impl From<&orch_store::Artifact> for ArtifactView {
    fn from(artifact: &orch_store::Artifact) -> ArtifactView {
        ArtifactView {
            id: artifact.id.clone(),
            key: artifact.key.clone(),
            kind: artifact.kind.as_str(),
            description: artifact.description.clone(),
            data: artifact.data.clone(),
            flow_run_id: artifact.flow_run_id.clone(),
            flow_run_name: artifact.flow_run_name.clone(),
            flow: artifact.flow.clone(),
            task_run_id: artifact.task_run_id.clone(),
            created_at: time(artifact.created_at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_with_micros_and_zero_is_none() {
        assert_eq!(time(0), None);
        assert_eq!(
            time(1_700_000_000_123_456).as_deref(),
            Some("2023-11-14T22:13:20.123456Z")
        );
    }

    #[test]
    fn durations_never_go_negative() {
        assert_eq!(duration(Some(2_000_000), Some(1_000_000)), Some(0.0));
        assert_eq!(duration(Some(1_000_000), Some(3_500_000)), Some(2.5));
        assert_eq!(duration(None, Some(1)), None);
    }
}
