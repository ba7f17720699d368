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
use orch_core::TraceParent;

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

/// The span of one attempt of a task, while traces are exported: a plain
/// record ([`orch_telemetry::TaskAttempt`]), queued for the export thread
/// when it ends; no SDK span is built on the task's path.
///
/// Public through [`crate::embed`] for SDKs in other languages built on this one.
#[derive(Debug)]
pub struct AttemptSpan(orch_telemetry::TaskAttempt);

/// Starts the span of attempt `attempt` of task run `task_run_id`, a child
/// of `run` (its run's span).
pub(crate) fn attempt(
    run: &Context,
    name: &str,
    task_run_id: &str,
    attempt: u32,
) -> Option<AttemptSpan> {
    orch_telemetry::TaskAttempt::start(run, name, task_run_id, attempt).map(AttemptSpan)
}

impl AttemptSpan {
    /// The span's own `traceparent` (a subflow run's span is its child).
    pub fn traceparent(&self) -> TraceParent {
        self.0.traceparent()
    }

    /// The CPU time the attempt spent (`orch.task_run.cpu_seconds`), when measured.
    pub fn set_cpu_micros(&mut self, micros: Option<i64>) {
        self.0.set_cpu_micros(micros);
    }

    /// Ends the span with the attempt's outcome (`error` when it failed).
    pub fn end(self, state: &'static str, error: Option<&str>) {
        self.0.end(state, error);
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
