//! Records as the store returns them. Times are microseconds since the Unix epoch.

use orch_core::{RunPolicy, StateType};
use serde_json::{Map, Value};

/// JSON object, as stored in parameter columns.
pub type JsonObject = Map<String, Value>;

/// A work pool, with live counts.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkPool {
    /// Id (uuid).
    pub id: String,
    /// Unique name.
    pub name: String,
    /// "process" or "docker".
    pub pool_type: String,
    /// Free text.
    pub description: String,
    /// Runs of a paused pool are not handed out.
    pub paused: bool,
    /// Max runs Pending + Running + Cancelling at once.
    pub concurrency_limit: Option<i64>,
    /// Creation time.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
    /// Runs Pending, Running or Cancelling now.
    pub runs_in_flight: i64,
    /// Runs Scheduled now.
    pub runs_waiting: i64,
    /// Workers that heartbeated recently.
    pub workers_online: i64,
    /// Default container settings of a `docker` pool.
    pub container: orch_core::ContainerSettings,
}

/// A flow (a named piece of code that deployments run).
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    /// Id.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Creation time.
    pub created_at: i64,
    /// How many deployments it has.
    pub deployment_count: i64,
}

/// One schedule of a deployment: the deploy file's [`orch_core::ScheduleSpec`],
/// as stored (one definition for the file, the store and the scheduler).
pub type Schedule = orch_core::ScheduleSpec;

/// A deployment: a flow + entrypoint + pool + parameters + schedules.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    /// Id.
    pub id: String,
    /// The flow's id.
    pub flow_id: String,
    /// The flow's name.
    pub flow: String,
    /// Unique within the flow.
    pub name: String,
    /// argv run on the worker host.
    pub entrypoint: Vec<String>,
    /// The pool's name.
    pub work_pool: String,
    /// The pool's id.
    pub work_pool_id: String,
    /// Default parameters.
    pub parameters: JsonObject,
    /// Tags copied onto its runs.
    pub tags: Vec<String>,
    /// Free text.
    pub description: String,
    /// Flow-level retries.
    pub retries: u32,
    /// Delay before a retry.
    pub retry_delay_seconds: u64,
    /// Folder relative entrypoints are resolved against.
    pub base_dir: String,
    /// Runs of a paused deployment are not handed out.
    pub paused: bool,
    /// Schedules, in declaration order.
    pub schedules: Vec<Schedule>,
    /// Catch-up after downtime and the deployment's concurrency limit.
    pub policy: RunPolicy,
    /// Its own retention (deploy file); empty: the server's settings.
    pub retention: orch_core::Retention,
    /// Variables and secret names its runs receive.
    pub environment: orch_core::FlowEnvironment,
    /// Its container settings (for a `docker` pool), over the pool's.
    pub container: orch_core::ContainerSettings,
    /// Creation time.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
}

impl Deployment {
    /// What its deploy file declared (the spec it was applied with, as
    /// stored), e.g. to put it on the wire with `orch_proto::deploy`.
    pub fn spec(&self) -> orch_core::DeploymentSpec {
        orch_core::DeploymentSpec {
            flow: self.flow.clone(),
            name: self.name.clone(),
            entrypoint: self.entrypoint.clone(),
            work_pool: self.work_pool.clone(),
            parameters: self.parameters.clone(),
            tags: self.tags.clone(),
            description: self.description.clone(),
            retries: self.retries,
            retry_delay_seconds: self.retry_delay_seconds,
            paused: self.paused,
            schedules: self.schedules.clone(),
            policy: self.policy,
            retention: self.retention,
            environment: self.environment.clone(),
            container: self.container.clone(),
        }
    }
}

impl Deployment {
    /// "flow/name".
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.flow, self.name)
    }
}

/// A run's state and a flow run: the records declared once in
/// [`orch_core::records`] (times in microseconds; their JSON shape too).
pub use orch_core::records::{FlowRun, State};

/// A run handed to a worker. Its `Debug` hides the credential.
#[derive(Clone, PartialEq)]
pub struct ClaimedRun {
    /// The run, now Pending.
    pub run: FlowRun,
    /// argv.
    pub entrypoint: Vec<String>,
    /// Where relative programs are found.
    pub base_dir: String,
    /// The deployment's variables and the names of its secrets, as of the claim.
    pub environment: orch_core::FlowEnvironment,
    /// The key the run's flow process uses (see
    /// [`Tokens::create_run_credential`](crate::Tokens::create_run_credential)),
    /// when the claim was asked to make one.
    pub credential: Option<String>,
    /// Its container settings (the deployment's over the pool's) when the
    /// pool runs containers; `None` otherwise.
    pub container: Option<orch_core::ContainerSettings>,
}

impl std::fmt::Debug for ClaimedRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimedRun")
            .field("run", &self.run)
            .field("entrypoint", &self.entrypoint)
            .field("base_dir", &self.base_dir)
            .field("environment", &self.environment)
            .field("container", &self.container)
            .field("credential", &self.credential.as_ref().map(|_| "***"))
            .finish()
    }
}

/// A log line.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    /// Server-assigned, increasing (0 before it is stored).
    pub id: i64,
    /// The run.
    pub flow_run_id: String,
    /// Who wrote it.
    pub emitter: String,
    /// Per-emitter sequence number.
    pub seq: i64,
    /// When it was written.
    pub timestamp: i64,
    /// stdout, stderr, sdk.
    pub stream: String,
    /// INFO, WARN, ...
    pub level: String,
    /// The text.
    pub message: String,
    /// Task run, if any.
    pub task_run_id: String,
}

/// A worker.
#[derive(Debug, Clone, PartialEq)]
pub struct Worker {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Pool name.
    pub work_pool: String,
    /// Pool id.
    pub work_pool_id: String,
    /// Host it runs on.
    pub hostname: String,
    /// Max concurrent runs, 0 = unlimited.
    pub limit: u32,
    /// orch version.
    pub version: String,
    /// Registration time.
    pub started_at: i64,
    /// Last heartbeat.
    pub last_heartbeat: i64,
    /// Set on a clean shutdown.
    pub stopped_at: Option<i64>,
    /// Runs it holds now.
    pub runs_in_flight: i64,
    /// How often it said it heartbeats (micros), if it did.
    pub heartbeat_interval: Option<i64>,
}

/// Heartbeats a worker may miss before it is shown offline.
pub const MISSED_HEARTBEATS_OFFLINE: i64 = 3;

impl Worker {
    /// Whether it counts as online at `now`: not stopped, heartbeating within
    /// the lease (`online_since` = now - lease), and, when it said how often
    /// it heartbeats, not missing 3 heartbeats in a row.
    pub fn is_online(&self, now: i64, online_since: i64) -> bool {
        let missed_too_many = self.heartbeat_interval.is_some_and(|interval| {
            now - self.last_heartbeat > MISSED_HEARTBEATS_OFFLINE * interval
        });
        self.stopped_at.is_none() && self.last_heartbeat >= online_since && !missed_too_many
    }
}

/// Filters for listing flow runs.
#[derive(Debug, Clone, Default)]
pub struct FlowRunFilter {
    /// State type.
    pub state_type: Option<StateType>,
    /// State name (e.g. Late), compared case-insensitively.
    pub state_name: Option<String>,
    /// Flow name.
    pub flow: Option<String>,
    /// Deployment id.
    pub deployment_id: Option<String>,
    /// Pool name.
    pub work_pool: Option<String>,
    /// Only runs that are no subflow run.
    pub top_level: bool,
    /// At most this many, newest first.
    pub limit: u32,
}

/// A run with its state history (oldest first) and task runs.
#[derive(Debug, Clone)]
pub struct RunDetail {
    /// The run.
    pub run: FlowRun,
    /// Its states, oldest first.
    pub history: Vec<State>,
    /// Its task runs, in creation order.
    pub task_runs: Vec<crate::TaskRun>,
    /// The subflow runs it called, oldest first.
    pub subflow_runs: Vec<FlowRun>,
}
