//! The root span of each flow run, exported when the run reaches its final
//! state (a [`crate::effects`] effect; nothing at all while traces are off).
//!
//! The span is built at the end with explicit times: it starts when the run
//! was created and ends at its final state; each state of its history is a
//! span event at the time it was entered. Its trace and span ids are the
//! run's own (see [`orch_core::RunTrace`]), which the worker and the flow
//! parented their spans on while it ran; a run created with a `traceparent`
//! is a child of the caller's span.

use opentelemetry::trace::{Event, Span as _, SpanKind, Status, Tracer as _};
use opentelemetry::{Array, KeyValue, StringValue, Value};
use orch_core::StateType;
use orch_store::{FlowRun, State, Transition};
use orch_telemetry::{number, text, time_of};

use crate::state::AppState;

/// The header (REST) and metadata key (gRPC) of a caller's trace context.
pub(crate) const TRACEPARENT: &str = orch_telemetry::TRACEPARENT;
/// The header (REST) and metadata key (gRPC) of its vendor part.
pub(crate) const TRACESTATE: &str = orch_telemetry::TRACESTATE;

/// The caller's trace context from the raw `traceparent` and `tracestate`
/// values of a request (headers or metadata; `get` reads one by name), or
/// what is wrong with them, for a 400 / INVALID_ARGUMENT.
pub(crate) fn caller_trace<'a>(
    get: impl Fn(&'static str) -> Option<&'a [u8]>,
) -> Result<Option<orch_core::CallerTrace>, String> {
    let text = |name: &'static str| {
        get(name)
            .map(|bytes| {
                std::str::from_utf8(bytes)
                    .ok()
                    .filter(|text| text.is_ascii())
                    .ok_or_else(|| format!("the {name} header must be ASCII"))
            })
            .transpose()
    };
    orch_core::CallerTrace::from_values(text(TRACEPARENT)?, text(TRACESTATE)?)
}

/// Exports the run's span if `transition` ended it and traces are on.
pub(crate) fn observe_transition(state: &AppState, transition: &Transition) {
    if !orch_telemetry::enabled() || !transition.to.is_terminal() {
        return;
    }
    let store = state.store().clone();
    let run = transition.run.clone();
    tokio::spawn(async move {
        match store.flow_runs().flow_run_history(&run.id).await {
            Ok(history) => export_run_span(&run, &history),
            Err(error) => {
                tracing::warn!(%error, run = run.id, "cannot read the run's states for its span");
            }
        }
    });
}

/// Builds and ends the root span of `run`, finished, with its `history`.
pub(crate) fn export_run_span(run: &FlowRun, history: &[State]) {
    let trace = run.trace();
    let tracer = orch_telemetry::tracer("orch-server");
    let parent = match &run.trace_parent {
        Some(parent) => orch_telemetry::remote_parent(
            parent,
            run.trace_state.as_ref().map(orch_core::TraceState::as_str),
        ),
        None => opentelemetry::Context::new(),
    };
    let events = history
        .iter()
        .map(|state| {
            let mut attributes = vec![text("orch.state.type", state.kind.as_str())];
            if !state.message.is_empty() {
                attributes.push(text("orch.state.message", state.message.clone()));
            }
            Event::new(state.name.clone(), time_of(state.timestamp), attributes, 0)
        })
        .collect();
    let name = if run.deployment.is_empty() {
        format!("flow-run {}", run.flow)
    } else {
        format!("flow-run {}", run.deployment)
    };
    let builder = tracer
        .span_builder(name)
        .with_kind(SpanKind::Internal)
        .with_start_time(time_of(run.created_at))
        .with_attributes(attributes(run))
        .with_events(events);
    let mut span = orch_telemetry::with_ids(trace.trace_id, trace.span_id, || {
        builder.start_with_context(&tracer, &parent)
    });
    if matches!(run.state.kind, StateType::Failed | StateType::Crashed) {
        span.set_status(Status::error(run.state.message.clone()));
    }
    span.end_with_timestamp(time_of(run.end_time.unwrap_or(run.state.timestamp)));
}

/// The attributes of a run's span.
fn attributes(run: &FlowRun) -> Vec<KeyValue> {
    let keys: Vec<StringValue> = run.parameters.keys().cloned().map(Into::into).collect();
    let mut attributes = vec![
        text("orch.flow_run.id", run.id.clone()),
        text("orch.flow_run.name", run.name.clone()),
        text("orch.flow", run.flow.clone()),
        text("orch.deployment", run.deployment.clone()),
        text("orch.work_pool", run.work_pool.clone()),
        text("orch.worker", run.worker_name.clone()),
        number("orch.flow_run.attempt", i64::from(run.run_count)),
        KeyValue::new(
            "orch.flow_run.parameter_keys",
            Value::Array(Array::String(keys)),
        ),
        text("orch.flow_run.state", run.state.kind.as_str()),
        text("orch.flow_run.state_name", run.state.name.clone()),
    ];
    if let Some(code) = run.exit_code {
        attributes.push(number("orch.flow_run.exit_code", i64::from(code)));
    }
    if let Some(usage) = run.usage {
        attributes.extend([
            KeyValue::new("orch.flow_run.cpu_seconds", usage.cpu_seconds()),
            KeyValue::new(
                "orch.flow_run.cpu_user_seconds",
                orch_core::usage::micros_to_seconds(usage.cpu_user_micros),
            ),
            KeyValue::new(
                "orch.flow_run.cpu_system_seconds",
                orch_core::usage::micros_to_seconds(usage.cpu_system_micros),
            ),
            number("orch.flow_run.max_rss_bytes", usage.max_rss_bytes),
            KeyValue::new("orch.flow_run.wall_seconds", usage.wall_seconds()),
        ]);
    }
    attributes
}
