//! orch's pure domain: run states and the transitions between them, run
//! parameters, the deployment file format, and name suggestions.
//!
//! This crate does no I/O (no network, no clocks, no async) but one:
//! [`input_file`] reads the files a user names (deploy, config, TLS and
//! secret files) with one size limit, for every part of orch. The server,
//! worker and CLI build on it so they all agree on the same rules.
//!
//! - [`state`]: [`StateType`], named states ([`names`]) and
//!   [`validate_transition`].
//! - [`params`]: `--param` / `--params` parsing and merging over defaults.
//! - [`deploy_file`]: the `deploy/orch.toml` format ([`parse_deploy_file`]).
//! - [`schedule`]: when schedules fire ([`Schedule`]), in their time zone.
//! - [`auth`]: token scopes, principals and the permission each action needs.
//! - [`automation`]: triggers, filters, cooldowns and retries of automations.
//! - [`artifact`]: what a flow run publishes, and its limits ([`artifact::validate`]).
//! - [`calendar`]: exchange and user calendars ([`Calendar`]).
//! - [`policy`]: catch-up and concurrency rules of a deployment ([`RunPolicy`]).
//! - [`retry`]: whether a failing flow run is retried, and when ([`retry::decide`]).
//! - [`retention`]: how long finished runs and logs are kept ([`RetentionPolicy`]).
//! - [`defaults`]: the default of every shared setting (late after, lease, ...).
//! - [`task_run`]: when a reported task run snapshot replaces the stored one.
//! - [`suggest`]: "did you mean ...?" hints ([`close_matches`]).
//! - [`identifier`]: the naming rule of each kind of name (flows, pools,
//!   tokens, artifact keys...: [`NameKind::check`]).
//! - [`input_file`]: reading a user-named file within [`limits::MAX_INPUT_FILE_BYTES`].
//! - [`settings`]: the range of every numeric setting, whatever its source.
//! - [`limits`]: sizes every part agrees on ([`limits::MAX_MESSAGE_BYTES`], ...).
//! - [`flow_env`]: a deployment's `env` and `secrets`, variable names, redaction.
//! - [`trace_context`]: `traceparent` and the trace of a run ([`RunTrace`]).
//! - [`trace_state`]: `tracestate` and a caller's whole context ([`CallerTrace`]).
//! - [`usage`]: what a run's processes cost ([`ResourceUsage`]).
//! - [`rollup_window`]: a time window as whole hours and partial edges ([`HourSplit`]).
//! - [`subflow`]: a flow run called by another: how it starts, ends with its parent.
//! - [`error`]: the crate's one error type, [`Error`].

pub mod artifact;
pub mod auth;
pub mod automation;
pub mod calendar;
pub mod container;
pub mod defaults;
pub mod deploy_file;
pub mod env_vars;
pub mod error;
pub mod flow_env;
pub mod identifier;
pub mod input_file;
pub mod limits;
pub mod params;
pub mod policy;
pub mod records;
pub mod retention;
pub mod retry;
pub mod rollup_window;
pub mod run_deletion;
pub mod schedule;
pub mod settings;
pub mod state;
pub mod subflow;
pub mod suggest;
pub mod task_run;
pub mod trace_context;
pub mod trace_state;
pub mod usage;

pub use calendar::{Calendar, CalendarSpec, DayStatus};
pub use container::{ContainerSettings, PullPolicy};
pub use deploy_file::{
    DeployFile, DeploymentSpec, ScheduleRule, ScheduleSpec, parse_deploy_file,
    parse_deploy_file_with,
};
pub use error::{Error, Result};
pub use flow_env::FlowEnvironment;
pub use identifier::{NameKind, validate_name};
pub use params::{build_overrides, merge_parameters, parse_param};
pub use policy::{CatchUp, CollisionStrategy, RunPolicy, triage};
pub use retention::{Retention, RetentionPolicy};
pub use retry::{RetryDecision, RetryPolicy};
pub use rollup_window::{HOUR_MICROS, HourSplit, hour_of};
pub use schedule::{Schedule, parse_timezone};
pub use state::{
    StateType, names, parse_state_filter, sql_in, state_type_of_name, validate_lease_correction,
    validate_transition,
};
pub use suggest::{close_matches, did_you_mean};
pub use task_run::{TaskSnapshot, task_snapshot_applies};
pub use trace_context::{RunTrace, TraceParent};
pub use trace_state::{CallerTrace, TraceState};
pub use usage::ResourceUsage;
