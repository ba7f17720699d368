//! What the CLI shows of each resource: serde views for `--output json` (states as
//! `COMPLETED`, times in RFC 3339, parameters as JSON objects, full ids) and the tables
//! and listings for people.

pub mod artifact;
pub mod automation;
pub mod calendar;
pub mod concurrency;
pub mod deploy;
pub mod deployment;
pub mod flow;
pub mod flow_run;
pub mod log;
pub mod schedule;
pub mod server;
pub mod state;
pub mod task_run;
pub mod work_pool;
pub mod worker;

/// The CLI's display methods on the shared records (`orch_proto::json`).
pub mod prelude {
    pub use super::deployment::ScheduleDisplay;
    pub use super::flow_run::FlowRunDisplay;
    pub use super::log::LogLineDisplay;
    pub use super::state::StateDisplay;
    pub use super::work_pool::WorkPoolDisplay;
}

/// `value` (a JSON value or object) on one line, for tables and listings.
pub fn compact_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|error| format!("(not JSON: {error})"))
}
