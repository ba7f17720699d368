//! A span per task attempt, when the flow exports traces.
//!
//! The worker gives the flow `TRACEPARENT` (its run's root span) and, when
//! it exports traces itself, the collector's address
//! (`OTEL_EXPORTER_OTLP_ENDPOINT`...). Each attempt of each task is then a
//! span, a child of its run's span, named `task NAME`, with the task run's id,
//! name and attempt number; a failed attempt has an error status. A subflow
//! call is a task run of the parent (its wrapper) with its span; the subflow
//! run's span is a child of that span, and the subflow's task spans children
//! of the subflow run's. Without the collector's address nothing is built.

use std::sync::OnceLock;

use opentelemetry::Context;
use opentelemetry::trace::{Span as _, Status, Tracer as _};
use orch_core::TraceParent;
use orch_telemetry::{number, text};

/// The span of the run this process executes, from `TRACEPARENT`, read once.
pub(crate) fn process_run() -> &'static Context {
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

/// The span context of a run: the remote parent made from `traceparent`.
pub(crate) fn run_context(traceparent: &TraceParent) -> Context {
    orch_telemetry::remote_parent(traceparent, None)
}

/// The `traceparent` of the span `context` holds, if it holds one.
pub(crate) fn traceparent_of(context: &Context) -> Option<TraceParent> {
    orch_telemetry::traceparent_of(context)
}

/// The SDK's tracer, looked up once: the global provider is set once per
/// process (when the flow starts exporting) and never replaced, and looking
/// it up for every attempt cost a lock, a scope and an allocation.
fn tracer() -> &'static opentelemetry::global::BoxedTracer {
    static TRACER: OnceLock<opentelemetry::global::BoxedTracer> = OnceLock::new();
    TRACER.get_or_init(|| orch_telemetry::tracer("orch-sdk"))
}

/// The span of one attempt of a task, while traces are exported.
///
/// Public through [`crate::embed`] for SDKs in other languages built on this one.
#[derive(Debug)]
pub struct AttemptSpan(opentelemetry::global::BoxedSpan);

/// Starts the span of attempt `attempt` of task run `task_run_id`, a child
/// of `run` (its run's span).
pub(crate) fn attempt(
    run: &Context,
    name: &str,
    task_run_id: &str,
    attempt: u32,
) -> Option<AttemptSpan> {
    if !orch_telemetry::enabled() {
        return None;
    }
    let tracer = tracer();
    let span = tracer
        .span_builder(format!("task {name}"))
        .with_attributes([
            text("orch.task_run.id", task_run_id),
            text("orch.task_run.name", name),
            number("orch.task_run.attempt", i64::from(attempt)),
        ])
        .start_with_context(tracer, run);
    Some(AttemptSpan(span))
}

impl AttemptSpan {
    /// The span's own `traceparent` (a subflow run's span is its child).
    pub fn traceparent(&self) -> TraceParent {
        let span = self.0.span_context();
        TraceParent {
            trace_id: span.trace_id().to_bytes(),
            span_id: span.span_id().to_bytes(),
            flags: span.trace_flags().to_u8(),
        }
    }

    /// The CPU time the attempt spent (`orch.task_run.cpu_seconds`), when measured.
    pub fn set_cpu_micros(&mut self, micros: Option<i64>) {
        if let Some(micros) = micros {
            self.0.set_attribute(opentelemetry::KeyValue::new(
                "orch.task_run.cpu_seconds",
                micros as f64 / 1e6,
            ));
        }
    }

    /// Ends the span with the attempt's outcome (`error` when it failed).
    pub fn end(mut self, state: &'static str, error: Option<&str>) {
        // A static string: no copy.
        self.0
            .set_attribute(opentelemetry::KeyValue::new("orch.task_run.state", state));
        if let Some(error) = error {
            self.0.set_status(Status::error(error.to_owned()));
        }
        self.0.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runs_context_gives_back_its_traceparent() {
        let parent =
            TraceParent::parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").unwrap();
        assert_eq!(traceparent_of(&run_context(&parent)), Some(parent));
        assert_eq!(traceparent_of(&Context::new()), None);
    }
}
