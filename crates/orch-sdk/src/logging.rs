//! `tracing` inside flows and tasks: to the server (tagged with flow run and
//! task run) when orchestrated, to the console when standalone.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use orch_proto::v1 as pb;
use tracing::field::{Field, Visit};
use tracing::span;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::output::current_task_run_id;
use crate::record::now_micros;
use crate::reporter::Reporter;

/// Default filter: the flow's own logs at info, the transport's only when it warns.
const DEFAULT_FILTER: &str = "info,h2=warn,hyper=warn,hyper_util=warn,tonic=warn,tower=warn";

fn filter() -> EnvFilter {
    EnvFilter::try_from_env(orch_client::flow_env::LOG)
        .unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER))
}

/// Console logging for standalone runs.
pub(crate) fn init_console() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_target(false)
        .with_writer(std::io::stderr)
        .try_init();
}

tokio::task_local! {
    /// The subflow run whose code is running now, if any: its lines go to
    /// its own run. A task-local does not follow `tokio::spawn`: spawned
    /// work finds the subflow through its span instead ([`SubflowWriter`]).
    pub(crate) static CURRENT_SUBFLOW: Arc<LogWriter>;
}

/// The log writer of the subflow run in whose code a span was created,
/// kept in the span's extensions: an event inside that span (in work
/// spawned with `.in_current_span()`, `.instrument(span)`, or
/// [`crate::FlowContext::spawn`]) goes to that subflow run.
struct SubflowWriter(Arc<LogWriter>);

/// The span a subflow run's code runs in (created inside
/// [`CURRENT_SUBFLOW`]'s scope, so it carries the subflow's writer).
/// ERROR level: kept by any log filter that lets any line through.
pub(crate) fn subflow_span(writer: &Arc<LogWriter>) -> tracing::Span {
    CURRENT_SUBFLOW.sync_scope(
        writer.clone(),
        || tracing::error_span!("orch.subflow", flow_run_id = %writer.flow_run_id()),
    )
}

/// Ships every event to the server as a log line of `flow_run_id` (or of
/// the subflow run whose code logs it).
pub(crate) fn init_server(reporter: Reporter, flow_run_id: String) {
    let layer = ServerLayer {
        writer: LogWriter::new(reporter, flow_run_id),
    };
    let _ = tracing_subscriber::registry()
        .with(layer.with_filter(filter()))
        .try_init();
}

struct ServerLayer {
    writer: LogWriter,
}

/// Writes log lines of one flow run as one emitter (`sdk-<uuid>`, numbered
/// 1, 2, 3...), the run's secrets hidden as `***` (each whole value and
/// each line of a multi-line one, by the [`Reporter`]) and each line cut to
/// the server's limit. The Rust SDK's `tracing` layer writes through it, and so
/// do SDKs built on this one ([`crate::embed`]).
#[derive(Debug)]
pub struct LogWriter {
    reporter: Reporter,
    flow_run_id: String,
    emitter: String,
    seq: AtomicU64,
}

impl LogWriter {
    /// A writer for `flow_run_id`, hiding the values of the variables
    /// `ORCH_SECRET_NAMES` names.
    pub fn new(reporter: Reporter, flow_run_id: String) -> LogWriter {
        LogWriter {
            reporter,
            flow_run_id,
            emitter: format!("sdk-{}", uuid::Uuid::new_v4()),
            seq: AtomicU64::new(0),
        }
    }

    /// The run whose lines it writes.
    pub fn flow_run_id(&self) -> &str {
        &self.flow_run_id
    }

    /// Queues a line at `level` ("INFO", "WARN"...), of `task_run_id` when not empty.
    pub fn write(&self, level: &str, message: &str, task_run_id: String) {
        self.reporter.log(pb::LogLine {
            id: 0,
            flow_run_id: self.flow_run_id.clone(),
            emitter: self.emitter.clone(),
            seq: self.seq.fetch_add(1, Ordering::Relaxed) + 1,
            timestamp_micros: now_micros(),
            stream: "sdk".into(),
            level: level.to_owned(),
            message: within_line_limit(self.reporter.redact(message).into_owned()),
            task_run_id,
        });
    }
}

impl<S> Layer<S> for ServerLayer
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, _attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let Ok(writer) = CURRENT_SUBFLOW.try_with(Arc::clone) else {
            return;
        };
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SubflowWriter(writer));
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let mut text = MessageText::default();
        event.record(&mut text);
        if event.metadata().target().starts_with("orch_client") {
            // The shipper's own troubles (the server is unreachable) cannot
            // be shipped by it: stderr reaches the run's logs through the worker.
            eprintln!("orch-sdk: {}", text.finish());
            return;
        }
        let level = event.metadata().level().as_str();
        let message = text.finish();
        let write = |writer: &LogWriter| {
            let task = current_task_run_id(writer.flow_run_id()).unwrap_or_default();
            writer.write(level, &message, task);
        };
        if CURRENT_SUBFLOW.try_with(|writer| write(writer)).is_ok() {
            return;
        }
        // Outside the subflow's task (spawned work): the nearest span
        // created in a subflow's code names it.
        let spanned = ctx.event_scope(event).and_then(|scope| {
            scope.into_iter().find_map(|span| {
                span.extensions()
                    .get::<SubflowWriter>()
                    .map(|w| w.0.clone())
            })
        });
        match spanned {
            Some(writer) => write(&writer),
            None => write(&self.writer),
        }
    }
}

/// `message`, cut to the server's log line limit (on a character boundary)
/// with a note saying so: the server refuses longer lines.
fn within_line_limit(mut message: String) -> String {
    const NOTE: &str = " [... cut: log lines are limited to 1 MiB]";
    let limit = orch_core::limits::MAX_LOG_LINE_BYTES;
    if message.len() > limit {
        let mut end = limit - NOTE.len();
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push_str(NOTE);
    }
    message
}

/// The event's message followed by its other fields as `key=value`.
#[derive(Default)]
struct MessageText {
    message: String,
    fields: String,
}

impl MessageText {
    fn finish(self) -> String {
        match (self.message.is_empty(), self.fields.is_empty()) {
            (_, true) => self.message,
            (true, false) => self.fields,
            (false, false) => format!("{} {}", self.message, self.fields),
        }
    }
}

impl Visit for MessageText {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            if !self.fields.is_empty() {
                self.fields.push(' ');
            }
            let _ = write!(self.fields, "{}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            if !self.fields.is_empty() {
                self.fields.push(' ');
            }
            let _ = write!(self.fields, "{}={value}", field.name());
        }
    }
}
