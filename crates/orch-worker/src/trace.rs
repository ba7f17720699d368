//! The worker's part of a run's trace: its span (claim to final report, a
//! child of the run's root span), and the variables that let the flow's own
//! spans join the trace (`TRACEPARENT`, the caller's `TRACESTATE` if it sent
//! one, and the collector's address when the worker exports traces itself).
//!
//! The span is a `tracing` span: the `tracing-opentelemetry` layer the CLI
//! installs when traces are on exports it, and log lines written inside it
//! carry its `trace_id` and `span_id` fields (JSON logs). With traces off it
//! is a plain `tracing` span whose fields still name the run's trace.

use orch_core::TraceParent;
use orch_proto::v1::ClaimedRun;
use tracing::field;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::outcome::Outcome;

/// The span of one claimed run, parented on the run's root span.
pub(crate) fn run_span(claimed: &ClaimedRun, worker_id: &str) -> tracing::Span {
    let run = claimed.run.clone().unwrap_or_default();
    let parent = TraceParent::parse(&claimed.traceparent).ok();
    let span = tracing::info_span!(
        target: "orch_worker::run",
        "flow_run",
        otel.name = %format!("worker run {}", run.deployment),
        orch.flow_run.id = %run.id,
        orch.flow_run.name = %run.name,
        orch.worker = %worker_id,
        trace_id = %parent.as_ref().map(TraceParent::trace_id_hex).unwrap_or_default(),
        span_id = field::Empty,
        orch.flow_run.state = field::Empty,
        orch.flow_run.exit_code = field::Empty,
        orch.flow_run.cpu_seconds = field::Empty,
        orch.flow_run.max_rss_bytes = field::Empty,
        orch.flow_run.wall_seconds = field::Empty,
    );
    if orch_telemetry::enabled()
        && let Some(parent) = &parent
    {
        let state = tracestate(claimed);
        let _ = span.set_parent(orch_telemetry::remote_parent(parent, state.as_deref()));
        if let Some(own) = orch_telemetry::traceparent_of(&span.context()) {
            span.record("span_id", field::display(own.span_id_hex()));
        }
    }
    span
}

/// Records how the run ended on its span.
pub(crate) fn record_outcome(span: &tracing::Span, outcome: &Outcome) {
    span.record(
        "orch.flow_run.state",
        field::display(format!("{:?}", outcome.state)),
    );
    if let Some(code) = outcome.exit_code {
        span.record("orch.flow_run.exit_code", code);
    }
    if let Some(usage) = outcome.usage {
        span.record("orch.flow_run.cpu_seconds", usage.cpu_seconds());
        span.record("orch.flow_run.max_rss_bytes", usage.max_rss_bytes);
        span.record("orch.flow_run.wall_seconds", usage.wall_seconds());
    }
}

/// The run's `tracestate`, if the server sent a valid one.
fn tracestate(claimed: &ClaimedRun) -> Option<String> {
    orch_core::TraceState::parse(&claimed.tracestate)
        .ok()
        .flatten()
        .map(|state| state.to_string())
}

/// The variables the flow gets for tracing: `TRACEPARENT` naming the run's
/// span, `TRACESTATE` when its caller sent one, and, when this worker exports traces, where to (see
/// [`orch_telemetry::PASSED_TO_FLOWS`]).
pub(crate) fn flow_variables(claimed: &ClaimedRun) -> Vec<(&'static str, String)> {
    let mut variables = Vec::new();
    if TraceParent::parse(&claimed.traceparent).is_ok() {
        variables.push((orch_telemetry::ENV_TRACEPARENT, claimed.traceparent.clone()));
        if let Some(state) = tracestate(claimed) {
            variables.push((orch_telemetry::ENV_TRACESTATE, state));
        }
    }
    if orch_telemetry::enabled() {
        for name in orch_telemetry::PASSED_TO_FLOWS {
            if let Ok(value) = std::env::var(name) {
                variables.push((name, value));
            }
        }
    }
    variables
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flow_gets_the_runs_traceparent_only_when_valid() {
        let claimed = ClaimedRun {
            traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
            ..ClaimedRun::default()
        };
        let variables = flow_variables(&claimed);
        assert!(variables.contains(&(
            "TRACEPARENT",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned()
        )));
        // An older server sends none.
        let variables = flow_variables(&ClaimedRun::default());
        assert!(variables.iter().all(|(name, _)| *name != "TRACEPARENT"));
    }

    #[test]
    fn the_flow_gets_the_callers_tracestate_with_its_traceparent() {
        let traced = |tracestate: &str| ClaimedRun {
            traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
            tracestate: tracestate.into(),
            ..ClaimedRun::default()
        };
        let variables = flow_variables(&traced("rojo=00f067aa0ba902b7"));
        assert!(variables.contains(&("TRACESTATE", "rojo=00f067aa0ba902b7".to_owned())));
        // None sent, or one that is not W3C's: no variable.
        for none in ["", "not a tracestate"] {
            let variables = flow_variables(&traced(none));
            assert!(
                variables.iter().all(|(name, _)| *name != "TRACESTATE"),
                "{none}"
            );
        }
    }
}
