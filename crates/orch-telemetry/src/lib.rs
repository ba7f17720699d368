//! OpenTelemetry traces of orch (issue 23), off unless configured.
//!
//! The standard variables turn them on: `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) names the collector,
//! `OTEL_EXPORTER_OTLP_PROTOCOL` picks `http/protobuf` (the default) or
//! `grpc`, `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` describe the
//! process. With none set, [`Telemetry::from_env`] answers `None`: no
//! exporter, no thread, no span is built ([`enabled`] is false).
//!
//! Spans are exported in batches on a thread of their own ([`batch`]), by
//! the maintained OTLP exporter; [`Telemetry`] flushes them when dropped.
//! A task attempt's span ([`TaskAttempt`]) is recorded as a plain struct,
//! not an SDK span, so that tracing costs tasks almost nothing, and the
//! export thread writes attempts straight into OTLP protobuf ([`otlp`]) and
//! sends them itself ([`transport`]), bypassing the maintained exporter's
//! per-span conversion, which cost more than the task's whole path.
//!
//! Ids: a run's trace and root span ids are known before the run's span is
//! built (see [`orch_core::RunTrace`]), so that the worker and the flow can
//! parent their spans on it while it is still open; [`with_ids`] makes the
//! next span built on this thread take them.

mod attempt;
mod batch;
mod otlp;
mod transport;

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator, SdkTracer, SdkTracerProvider};
use orch_core::TraceParent;

pub use attempt::TaskAttempt;
pub use opentelemetry;

/// The header (REST) and metadata key (gRPC) carrying a caller's trace context.
pub const TRACEPARENT: &str = "traceparent";
/// The header (REST) and metadata key (gRPC) carrying its vendor part.
pub const TRACESTATE: &str = "tracestate";
/// The variable the flow process gets its run's trace context in.
pub const ENV_TRACEPARENT: &str = "TRACEPARENT";
/// The variable carrying the vendor part of the trace context.
pub const ENV_TRACESTATE: &str = "TRACESTATE";
/// The collector's address, for every signal.
pub const ENV_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// The collector's address, for traces only.
pub const ENV_TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
/// The service name of the process's spans.
pub const ENV_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";

/// The variables the worker passes on to flows when it traces itself, so
/// that an SDK flow exports its task spans to the same collector. Headers
/// (which may hold a vendor's key) are not among them: pass them with
/// `--pass-env` if flows should have them.
pub const PASSED_TO_FLOWS: [&str; 6] = [
    ENV_ENDPOINT,
    ENV_TRACES_ENDPOINT,
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_RESOURCE_ATTRIBUTES",
];

/// The instrumentation scope of task attempts' spans.
const ATTEMPT_SCOPE: &str = "orch-sdk";

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether this process exports traces (a [`Telemetry`] is alive).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Whether the environment names a collector.
pub fn configured() -> bool {
    [ENV_ENDPOINT, ENV_TRACES_ENDPOINT]
        .iter()
        .any(|name| std::env::var(name).is_ok_and(|value| !value.trim().is_empty()))
}

/// The process's trace exporter; dropping it flushes what is left.
#[derive(Debug)]
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Telemetry {
    /// Starts exporting traces if the environment names a collector, as
    /// `default_service` unless `OTEL_SERVICE_NAME` says otherwise; installs
    /// the provider as the global one.
    ///
    /// # Errors
    ///
    /// The exporter cannot be built from the variables (an unknown protocol,
    /// an invalid address), said for the operator to fix.
    pub fn from_env(default_service: &str) -> Result<Option<Telemetry>, String> {
        if !configured() {
            return Ok(None);
        }
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .build()
            .map_err(|error| {
                format!(
                    "cannot export traces as {ENV_ENDPOINT} asks: {error}; fix the OTEL_EXPORTER_OTLP_* \
                     variables or unset {ENV_ENDPOINT} to run without traces"
                )
            })?;
        let mut resource = Resource::builder();
        if std::env::var(ENV_SERVICE_NAME).is_err() {
            resource = resource.with_service_name(default_service.to_owned());
        }
        let resource = resource.build();
        let attempts = transport::from_settings(&transport::Settings::from_lookup(|name| {
            std::env::var(name).ok()
        }))?;
        let provider = Telemetry::provider(exporter, attempts, resource, batch::Limits::from_env())
            .map_err(|error| format!("cannot start the thread exporting traces: {error}"))?;
        opentelemetry::global::set_tracer_provider(provider.clone());
        ENABLED.store(true, Ordering::Relaxed);
        Ok(Some(Telemetry { provider }))
    }

    /// A provider whose spans `exporter` exports, and whose task attempts
    /// go to `attempts`, from a thread of their own, within `limits`.
    fn provider<E: opentelemetry_sdk::trace::SpanExporter + 'static>(
        mut exporter: E,
        attempts: Box<dyn transport::AttemptSink>,
        resource: Resource,
        limits: batch::Limits,
    ) -> std::io::Result<SdkTracerProvider> {
        // The processor owns the exporter on its thread: the provider's
        // resource is given to the exporter here, once.
        exporter.set_resource(&resource);
        let scope = opentelemetry::InstrumentationScope::builder(ATTEMPT_SCOPE).build();
        let encoder = otlp::AttemptEncoder::new(&resource, &scope);
        let batcher = batch::Batcher::start(exporter, encoder, attempts, limits)?;
        Ok(SdkTracerProvider::builder()
            .with_span_processor(batcher)
            .with_id_generator(OrchIds::default())
            .with_resource(resource)
            .build())
    }

    /// A tracer of this provider, named after the component using it.
    pub fn tracer(&self, name: &'static str) -> SdkTracer {
        self.provider.tracer(name)
    }

    /// Exports the spans ended so far (waits for the batch to be sent): for
    /// a process that exits without dropping its [`Telemetry`].
    pub fn flush(&self) {
        if let Err(error) = self.provider.force_flush() {
            tracing::warn!("could not export spans: {error}");
        }
    }

    /// Where spans go, for the start-up line.
    pub fn endpoint() -> String {
        std::env::var(ENV_TRACES_ENDPOINT)
            .or_else(|_| std::env::var(ENV_ENDPOINT))
            .unwrap_or_default()
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        ENABLED.store(false, Ordering::Relaxed);
        if let Err(error) = self.provider.shutdown() {
            tracing::warn!("could not export the last spans: {error}");
        }
    }
}

/// The global tracer (a no-op one unless a [`Telemetry`] is alive).
pub fn tracer(name: &'static str) -> opentelemetry::global::BoxedTracer {
    opentelemetry::global::tracer(name)
}

thread_local! {
    /// Ids the next span built on this thread takes (see [`with_ids`]).
    static NEXT_IDS: Cell<(Option<TraceId>, Option<SpanId>)> = const { Cell::new((None, None)) };
}

/// Random ids, unless [`with_ids`] set the next ones.
#[derive(Debug, Default)]
struct OrchIds {
    random: RandomIdGenerator,
}

impl IdGenerator for OrchIds {
    fn new_trace_id(&self) -> TraceId {
        let (trace, span) = NEXT_IDS.get();
        match trace {
            Some(trace) => {
                NEXT_IDS.set((None, span));
                trace
            }
            None => self.random.new_trace_id(),
        }
    }

    fn new_span_id(&self) -> SpanId {
        let (trace, span) = NEXT_IDS.get();
        match span {
            Some(span) => {
                NEXT_IDS.set((trace, None));
                span
            }
            None => self.random.new_span_id(),
        }
    }
}

/// Runs `build` (which starts one span) so that the span gets `span_id`,
/// and `trace_id` when it has no parent.
pub fn with_ids<R>(trace_id: [u8; 16], span_id: [u8; 8], build: impl FnOnce() -> R) -> R {
    NEXT_IDS.set((
        Some(TraceId::from_bytes(trace_id)),
        Some(SpanId::from_bytes(span_id)),
    ));
    let built = build();
    NEXT_IDS.set((None, None));
    built
}

/// A context whose (remote) parent span is `parent`, with `state` as the
/// vendor part.
pub fn remote_parent(parent: &TraceParent, state: Option<&str>) -> Context {
    let state = state
        .and_then(|text| text.parse::<TraceState>().ok())
        .unwrap_or_default();
    let span_context = SpanContext::new(
        TraceId::from_bytes(parent.trace_id),
        SpanId::from_bytes(parent.span_id),
        TraceFlags::new(parent.flags),
        true,
        state,
    );
    Context::new().with_remote_span_context(span_context)
}

/// The time of `micros` since the Unix epoch.
pub fn time_of(micros: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(u64::try_from(micros).unwrap_or(0))
}

/// An attribute of a string value.
pub fn text(key: &'static str, value: impl Into<String>) -> KeyValue {
    KeyValue::new(key, value.into())
}

/// An attribute of an integer value.
pub fn number(key: &'static str, value: i64) -> KeyValue {
    KeyValue::new(key, value)
}

/// The `traceparent` of the current span of `context`, if it has one.
pub fn traceparent_of(context: &Context) -> Option<TraceParent> {
    let span = context.span();
    let span_context = span.span_context();
    span_context.is_valid().then(|| TraceParent {
        trace_id: span_context.trace_id().to_bytes(),
        span_id: span_context.span_id().to_bytes(),
        flags: span_context.trace_flags().to_u8(),
    })
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{Span, Tracer};
    use opentelemetry_sdk::trace::InMemorySpanExporter;

    use super::*;

    #[test]
    fn a_span_takes_the_ids_it_is_given() {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .with_id_generator(OrchIds::default())
            .build();
        let tracer = provider.tracer("test");
        let mut root = with_ids([7; 16], [9; 8], || tracer.start("root"));
        root.end();
        // A child of a remote parent keeps the parent's trace, takes the span id.
        let parent =
            TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        let context = remote_parent(&parent, Some("vendor=1"));
        let mut child = with_ids([7; 16], [3; 8], || {
            tracer.start_with_context("child", &context)
        });
        child.end();
        let mut random = tracer.start("random");
        random.end();
        let spans = exporter.get_finished_spans().unwrap();
        assert_eq!(
            spans[0].span_context.trace_id(),
            TraceId::from_bytes([7; 16])
        );
        assert_eq!(spans[0].span_context.span_id(), SpanId::from_bytes([9; 8]));
        assert_eq!(
            spans[1].span_context.trace_id(),
            TraceId::from_bytes(parent.trace_id)
        );
        assert_eq!(spans[1].span_context.span_id(), SpanId::from_bytes([3; 8]));
        assert_eq!(spans[1].parent_span_id, SpanId::from_bytes(parent.span_id));
        assert_ne!(spans[2].span_context.span_id(), SpanId::from_bytes([3; 8]));
        assert_ne!(
            spans[2].span_context.trace_id(),
            TraceId::from_bytes([7; 16])
        );
    }

    /// The names of this process's threads.
    fn threads() -> Vec<String> {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(Result::ok)
            .filter_map(|task| std::fs::read_to_string(task.path().join("comm")).ok())
            .collect()
    }

    #[test]
    fn sdk_spans_and_task_attempts_are_exported_together_then_the_thread_ends() {
        let exporter = InMemorySpanExporter::default();
        let requests = transport::Recorded::default();
        let limits = batch::Limits {
            max_queue: 100,
            max_batch: 2,
            delay: Duration::from_secs(3600),
        };
        let provider = Telemetry::provider(
            exporter.clone(),
            Box::new(requests.clone()),
            Resource::builder().with_service_name("svc").build(),
            limits,
        )
        .unwrap();
        // A thread names itself once it runs: wait for it (bounded).
        assert!(exporter_thread_is(true));
        let tracer = provider.tracer("test");
        let run = with_ids([7; 16], [9; 8], || tracer.start("flow-run x"));
        let run_context = Context::new().with_span(run);
        for attempt in 1..=3 {
            let mut span = TaskAttempt::child_of(&run_context, "step", "task-1", attempt);
            span.set_cpu_micros(Some(10));
            span.end("Completed", None);
        }
        run_context.span().end();
        // Full batches go without waiting for the (hour-long) delay; a flush
        // sends the rest.
        provider.force_flush().unwrap();
        let spans = exporter.get_finished_spans().unwrap();
        assert_eq!(spans.len(), 1, "{spans:#?}");
        assert_eq!(spans[0].name, "flow-run x");
        // The attempts went straight to the sink, 2 spans a request at most.
        let sent = requests.decoded();
        assert_eq!(
            sent.iter()
                .map(|request| request.resource_spans[0].scope_spans[0].spans.len())
                .collect::<Vec<_>>(),
            [2, 1]
        );
        for request in &sent {
            let resource = request.resource_spans[0].resource.as_ref().unwrap();
            assert!(resource.attributes.iter().any(|kv| kv.key == "service.name"
                && format!("{:?}", kv.value).contains("svc")));
            let scope_spans = &request.resource_spans[0].scope_spans[0];
            assert_eq!(scope_spans.scope.as_ref().unwrap().name, ATTEMPT_SCOPE);
            for span in &scope_spans.spans {
                assert_eq!(span.name, "task step");
                assert_eq!(span.parent_span_id, [9; 8]);
                assert_eq!(span.trace_id, [7; 16]);
                // Local parent: the "has is-remote" bit only, and sampled.
                assert_eq!(span.flags, 0x101);
            }
        }
        provider.shutdown().unwrap();
        // Closed: an attempt ended now is not queued.
        TaskAttempt::child_of(&Context::new(), "late", "task-2", 1).end("Completed", None);
        assert_eq!(batch::queued(), 0);
        assert!(exporter_thread_is(false));
    }

    /// Whether the export thread comes to be `running` (or not) within 5 s.
    fn exporter_thread_is(running: bool) -> bool {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let found = threads()
                .iter()
                .any(|name| name.starts_with("OpenTelemetry"));
            if found == running {
                return true;
            }
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn nothing_is_configured_without_the_variables() {
        // The test environment sets none of them.
        if !configured() {
            assert!(Telemetry::from_env("test").unwrap().is_none());
            assert!(!enabled());
        }
    }
}
