//! The application layer: each use case written once, for both transports.
//!
//! gRPC handlers (`crate::grpc`) and REST handlers (`crate::api`) parse a
//! request, call one function here, and render its answer. A use case makes
//! its store call here; the effects of the state changes the store returns
//! (watch events, worker wake-ups, kill requests, metrics) are produced by
//! [`crate::effects::apply`], so the transports cannot drift apart. Errors are
//! one [`OpsError`], whose [`ErrorKind`] is mapped once onto a gRPC status
//! (`crate::error::status`) and once onto an HTTP status with a JSON body
//! (`crate::api::ApiError`).
//!
//! Where is cancel implemented? In [`flow_runs::cancel`].

pub mod access;
pub mod artifacts;
pub mod audit;
pub mod automations;
pub mod concurrency;
pub mod deployments;
mod error;
pub mod flow_runs;
pub mod follow;
pub mod overview;
pub mod run_reads;
pub mod schedules;
pub mod secrets;
pub mod server;
pub mod subflows;
pub mod task_runs;
pub mod tokens;
pub mod use_cases;
pub mod work_pools;
pub mod workers;

pub use error::{ErrorKind, OpsError};
pub use orch_store::StoreError;

/// The result of a use case.
pub type OpsResult<T> = Result<T, OpsError>;
