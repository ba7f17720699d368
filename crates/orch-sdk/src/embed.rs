//! The Rust SDK's machinery, for SDKs in other languages built on it: the
//! Python SDK (`sdks/python`) binds these with PyO3, so that the flow
//! protocol (`docs/flow-protocol.md`) is implemented once: the connection
//! (credentials, TLS), the bounded batching shipper, task run records and
//! their state history, log lines (numbering, secrets hidden, size limit),
//! concurrency slots, artifacts (checked with the server's rules), events
//! and subflow runs (created, then reported with their own credential),
//! task attempt spans (exported when the worker passed a collector's
//! address, children of the run's span from `TRACEPARENT`) and task CPU time.
//!
//! Everything here needs a tokio runtime: [`Reporter::start`] spawns the
//! shipper on the current one, and the `async` functions run on it.

use serde_json::Value;

pub use crate::app::parameters_from_env;
pub use crate::logging::LogWriter;
pub use crate::record::{MAX_RESULT_BYTES, TaskRecord, now_micros};
pub use crate::reporter::Reporter;
pub use crate::slots::{Acquired, SlotLease, acquire as acquire_slots};
pub use crate::subflow::{
    SubflowError, SubflowRun, report_state as report_subflow_state, start as start_subflow_run,
};
pub use crate::trace::AttemptSpan;
pub use opentelemetry::Context as TraceContext;
pub use orch_core::{StateType, TraceParent};
pub use orch_telemetry::Telemetry;

use crate::{ArtifactError, EmitError, Published};

/// Checks an artifact with the server's rules: its key, its kind
/// (`"markdown"`, `"table"`, `"link"`, `"metrics"`), description and body.
///
/// # Errors
///
/// [`ArtifactError::Invalid`] with the server's message.
pub fn check_artifact(
    key: &str,
    kind: &str,
    description: &str,
    data: &Value,
) -> Result<orch_core::artifact::ArtifactKind, ArtifactError> {
    use orch_core::artifact;
    let invalid = |error: orch_core::Error| ArtifactError::Invalid(error.to_string());
    artifact::validate_key(key).map_err(invalid)?;
    let kind: artifact::ArtifactKind = kind.parse().map_err(invalid)?;
    artifact::validate(&format!("artifact \"{key}\""), kind, description, data).map_err(invalid)?;
    Ok(kind)
}

/// Checks an artifact ([`check_artifact`]) and publishes it on run
/// `flow_run_id`, attached to `task_run_id` when given (queued task run
/// reports are flushed first, as the server requires).
///
/// # Errors
///
/// [`ArtifactError::Invalid`] for a refused artifact, [`ArtifactError::Server`]
/// when the server cannot be reached after a few retries.
pub async fn publish_artifact(
    reporter: &Reporter,
    flow_run_id: &str,
    task_run_id: Option<String>,
    key: &str,
    kind: &str,
    description: &str,
    data: &Value,
) -> Result<Published, ArtifactError> {
    let kind = check_artifact(key, kind, description, data)?;
    crate::artifact::publish(
        reporter,
        flow_run_id,
        task_run_id,
        key,
        kind,
        description,
        data,
    )
    .await
}

/// Records the custom event `name` of run `flow_run_id` with `payload`.
///
/// # Errors
///
/// [`EmitError`] when the server refuses or cannot record it.
pub async fn emit_event(
    reporter: &Reporter,
    flow_run_id: &str,
    name: &str,
    payload: &Value,
) -> Result<(), EmitError> {
    if name.is_empty() {
        return Err(EmitError::Invalid(
            "an event needs a name, e.g. \"no-data\"".into(),
        ));
    }
    crate::emit::send(reporter, flow_run_id, name, payload).await
}

/// Starts exporting task spans as `orch-flow` when the environment names a
/// collector (`OTEL_EXPORTER_OTLP_ENDPOINT`...); `None` (no exporter, no
/// thread) when it does not. Call it inside the tokio runtime (the gRPC
/// exporter needs one); keep the [`Telemetry`] for the process's life and
/// [`Telemetry::flush`] it before exiting.
///
/// # Errors
///
/// The variables cannot make an exporter (an unknown protocol...).
pub fn start_traces() -> Result<Option<Telemetry>, String> {
    Telemetry::from_env("orch-flow")
}

/// The span context of the run this process executes, from `TRACEPARENT`
/// (and `TRACESTATE`): the parent of its task spans. Empty without it.
pub fn process_trace_context() -> TraceContext {
    crate::trace::process_run().clone()
}

/// The span context of a (subflow) run whose span is `traceparent`.
pub fn trace_context_of(traceparent: &TraceParent) -> TraceContext {
    crate::trace::run_context(traceparent)
}

/// The `traceparent` of the span `context` holds, if any.
pub fn traceparent_of(context: &TraceContext) -> Option<TraceParent> {
    crate::trace::traceparent_of(context)
}

/// Starts the span of attempt `attempt` of task run `task_run_id` (named
/// `task NAME`), a child of `run`; `None` while traces are not exported.
pub fn attempt_span(
    run: &TraceContext,
    name: &str,
    task_run_id: &str,
    attempt: u32,
) -> Option<AttemptSpan> {
    crate::trace::attempt(run, name, task_run_id, attempt)
}
