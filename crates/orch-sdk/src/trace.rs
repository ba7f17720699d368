//! A span per task attempt, when the flow exports traces.
//!
//! The worker gives the flow `TRACEPARENT` (its run's root span) and, when
//! it exports traces itself, the collector's address
//! (`OTEL_EXPORTER_OTLP_ENDPOINT`...). Each attempt of each task is then a
//! span, a child of the run's span, named `task NAME`, with the task run's id,
//! name and attempt number; a failed attempt has an error status. Without the
//! collector's address nothing is built.

use std::sync::OnceLock;

use opentelemetry::Context;
use opentelemetry::trace::{Span as _, Status, Tracer as _};
use orch_core::TraceParent;
use orch_telemetry::{number, text};

/// The run's span, from `TRACEPARENT`, read once.
fn parent() -> &'static Context {
    static PARENT: OnceLock<Context> = OnceLock::new();
    PARENT.get_or_init(|| {
        let state = std::env::var(orch_telemetry::ENV_TRACESTATE).ok();
        std::env::var(orch_telemetry::ENV_TRACEPARENT)
            .ok()
            .and_then(|text| TraceParent::parse(&text).ok())
            .map_or_else(Context::new, |parent| {
                orch_telemetry::remote_parent(&parent, state.as_deref())
            })
    })
}

/// The span of one attempt of a task, while traces are exported.
pub(crate) struct AttemptSpan(opentelemetry::global::BoxedSpan);

/// Starts the span of attempt `attempt` of task run `task_run_id`.
pub(crate) fn attempt(name: &str, task_run_id: &str, attempt: u32) -> Option<AttemptSpan> {
    if !orch_telemetry::enabled() {
        return None;
    }
    let tracer = orch_telemetry::tracer("orch-sdk");
    let span = tracer
        .span_builder(format!("task {name}"))
        .with_attributes([
            text("orch.task_run.id", task_run_id),
            text("orch.task_run.name", name),
            number("orch.task_run.attempt", i64::from(attempt)),
        ])
        .start_with_context(&tracer, parent());
    Some(AttemptSpan(span))
}

impl AttemptSpan {
    /// Ends the span with the attempt's outcome (`error` when it failed).
    pub(crate) fn end(mut self, state: &str, error: Option<&str>) {
        self.0.set_attribute(text("orch.task_run.state", state));
        if let Some(error) = error {
            self.0.set_status(Status::error(error.to_owned()));
        }
        self.0.end();
    }
}
