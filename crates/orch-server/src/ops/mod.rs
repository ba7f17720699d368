//! The application layer: each use case written once, for both transports.
//!
//! gRPC handlers (`crate::grpc`) and REST handlers (`crate::api`) parse a
//! request, call one function here, and render its answer. A use case's store
//! call and its effects (watch events, worker wake-ups, scheduler wake-ups,
//! metrics) live here, so the transports cannot drift apart. Errors are the
//! store's [`StoreError`], mapped once onto a gRPC status
//! (`crate::error::status`) and once onto an HTTP status with a JSON body
//! (`crate::api::ApiError`).
//!
//! Where is cancel implemented? In [`flow_runs::cancel`].

pub mod artifacts;
pub mod automations;
pub mod deployments;
pub mod flow_runs;
pub mod work_pools;

pub use orch_store::StoreError;

/// The result of a use case.
pub type OpsResult<T> = Result<T, StoreError>;
