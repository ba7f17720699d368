//! The process's span queue and its export thread.
//!
//! Two kinds of finished spans wait here for the exporter: the SDK's own
//! spans (the server's and the worker's, ended through the tracer provider,
//! which hands them to [`Batcher`] as its span processor), and task attempts
//! ([`crate::TaskAttempt`]), recorded as small plain structs without building
//! an SDK span at all. One thread, named `OpenTelemetry...` like the SDK's
//! batch processor's, wakes when a batch is full, when the schedule delay has
//! passed, or when asked to flush; it hands the SDK's spans to the
//! maintained OTLP exporter (any [`SpanExporter`]), and writes the attempts
//! straight into OTLP requests ([`crate::otlp`]) sent by an
//! [`AttemptSink`], `max batch` spans a call.
//!
//! The limits are the standard variables: `OTEL_BSP_MAX_QUEUE_SIZE` (spans
//! over it are dropped and counted), `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` (512)
//! and `OTEL_BSP_SCHEDULE_DELAY` (5000 ms). The queue's default is
//! [`DEFAULT_MAX_QUEUE`], not the SDK's 2048: a flow of many short tasks on a
//! busy machine outran 2048 while the export thread waited for a core, and a
//! dropped attempt is a hole in the run's trace; a queued attempt is about
//! 200 bytes, so the default bounds the queue near 13 MB.
//!
//! The queue is one per process (like the global tracer provider): the task
//! path pushes onto it with one uncontended lock and no allocation of the
//! queue's own (the thread swaps its vector for an emptied one of a batch's
//! capacity when it takes it).

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use opentelemetry::Context;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};

use crate::attempt::TaskAttempt;
use crate::otlp::AttemptEncoder;
use crate::transport::AttemptSink;

/// Spans waiting at most when `OTEL_BSP_MAX_QUEUE_SIZE` is unset.
pub(crate) const DEFAULT_MAX_QUEUE: usize = 65_536;

/// How long a flush waits for the export thread.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// The batch limits, from the standard `OTEL_BSP_*` variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Spans waiting at most; more are dropped.
    pub max_queue: usize,
    /// Spans handed to the exporter in one call at most.
    pub max_batch: usize,
    /// The longest a span waits before its batch is exported.
    pub delay: Duration,
}

impl Limits {
    /// The limits the environment sets (the defaults otherwise).
    pub(crate) fn from_env() -> Limits {
        Limits::from_lookup(|name| std::env::var(name).ok())
    }

    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Limits {
        let number = |name: &str, default: u64| {
            lookup(name)
                .and_then(|value| value.trim().parse::<u64>().ok())
                .unwrap_or(default)
        };
        let max_queue =
            usize::try_from(number("OTEL_BSP_MAX_QUEUE_SIZE", DEFAULT_MAX_QUEUE as u64).max(1))
                .unwrap_or(usize::MAX);
        let max_batch = usize::try_from(number("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512).max(1))
            .unwrap_or(usize::MAX)
            .min(max_queue);
        Limits {
            max_queue,
            max_batch,
            delay: Duration::from_millis(number("OTEL_BSP_SCHEDULE_DELAY", 5000)),
        }
    }
}

/// What waits for the export thread.
struct Queue {
    /// Whether spans are taken (a [`Batcher`] runs).
    open: bool,
    limits: Limits,
    sdk: Vec<SpanData>,
    attempts: Vec<TaskAttempt>,
    /// Spans dropped because the queue was full.
    dropped: u64,
    /// Flushes asked for, and the last one done (a ticket number).
    flush_asked: u64,
    flush_done: u64,
    /// The thread should export what is left and end.
    stop: bool,
}

impl Queue {
    fn len(&self) -> usize {
        self.sdk.len() + self.attempts.len()
    }

    /// Whether the thread should export now rather than wait.
    fn due(&self) -> bool {
        self.stop || self.flush_asked > self.flush_done || self.len() >= self.limits.max_batch
    }
}

static QUEUE: Mutex<Queue> = Mutex::new(Queue {
    open: false,
    limits: Limits {
        max_queue: DEFAULT_MAX_QUEUE,
        max_batch: 512,
        delay: Duration::from_secs(5),
    },
    sdk: Vec::new(),
    attempts: Vec::new(),
    dropped: 0,
    flush_asked: 0,
    flush_done: 0,
    stop: false,
});
/// Wakes the export thread.
static WAKE: Condvar = Condvar::new();
/// Wakes those waiting for a flush.
static DONE: Condvar = Condvar::new();

fn queue() -> MutexGuard<'static, Queue> {
    QUEUE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Queues `span` for export, or drops it when the queue is full or no
/// exporter runs.
fn push(span: impl FnOnce(&mut Queue)) {
    let mut queue = queue();
    if !queue.open {
        return;
    }
    if queue.len() >= queue.limits.max_queue {
        queue.dropped += 1;
        return;
    }
    span(&mut queue);
    // Only the span that fills a batch wakes the thread (a wake-up is a
    // system call); the others wait for the schedule delay.
    if queue.len() == queue.limits.max_batch {
        WAKE.notify_one();
    }
}

/// How many spans wait (for tests).
#[cfg(test)]
pub(crate) fn queued() -> usize {
    queue().len()
}

/// Queues a finished task attempt.
pub(crate) fn push_attempt(attempt: TaskAttempt) {
    push(|queue| queue.attempts.push(attempt));
}

/// The span processor of the process's tracer provider: queues its spans,
/// and owns the export thread.
#[derive(Debug)]
pub(crate) struct Batcher {
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Batcher {
    /// Opens the queue and starts the export thread, which hands the SDK's
    /// spans to `exporter` (whose resource is already set) and task attempts,
    /// encoded by `encoder`, to `attempts`.
    pub(crate) fn start<E: SpanExporter + 'static>(
        exporter: E,
        encoder: AttemptEncoder,
        attempts: Box<dyn AttemptSink>,
        limits: Limits,
    ) -> std::io::Result<Batcher> {
        {
            let mut queue = queue();
            queue.open = true;
            queue.stop = false;
            queue.limits = limits;
            queue.dropped = 0;
            queue.flush_done = queue.flush_asked;
            queue.attempts.reserve(limits.max_batch);
        }
        let thread = std::thread::Builder::new()
            .name("OpenTelemetry.orch.Batch".to_owned())
            .spawn(move || export_loop(&exporter, encoder, attempts))
            .inspect_err(|_| queue().open = false)?;
        Ok(Batcher {
            thread: Mutex::new(Some(thread)),
        })
    }
}

/// Asks the thread to export what is queued and waits until it has, at most `timeout`.
fn flush(timeout: Duration, stop: bool) -> OTelSdkResult {
    let mut queue = queue();
    if !queue.open {
        return Err(OTelSdkError::AlreadyShutdown);
    }
    queue.flush_asked += 1;
    let ticket = queue.flush_asked;
    if stop {
        queue.open = false;
        queue.stop = true;
    }
    WAKE.notify_one();
    let deadline = Instant::now() + timeout;
    while queue.flush_done < ticket {
        let now = Instant::now();
        if now >= deadline {
            return Err(OTelSdkError::Timeout(timeout));
        }
        queue = DONE
            .wait_timeout(queue, deadline - now)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
    Ok(())
}

impl SpanProcessor for Batcher {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if span.span_context.is_sampled() {
            push(|queue| queue.sdk.push(span));
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        flush(FLUSH_TIMEOUT, false)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        // Only the processor whose thread runs closes the queue.
        let Some(thread) = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return Err(OTelSdkError::AlreadyShutdown);
        };
        let dropped = queue().dropped;
        if dropped > 0 {
            tracing::warn!(
                "{dropped} span(s) were dropped: more than OTEL_BSP_MAX_QUEUE_SIZE waited for \
                 the collector; raise it or lower OTEL_BSP_SCHEDULE_DELAY"
            );
        }
        // On a timeout the thread is left to finish on its own.
        flush(timeout, true)?;
        thread
            .join()
            .map_err(|_| OTelSdkError::InternalFailure("the export thread panicked".into()))
    }
}

/// The export thread: waits for a batch (or the delay, a flush, the end),
/// exports it, until asked to stop.
fn export_loop<E: SpanExporter>(
    exporter: &E,
    mut encoder: AttemptEncoder,
    mut sink: Box<dyn AttemptSink>,
) {
    // The exporter's own instrumentation (HTTP client, gRPC) makes no spans
    // of its own here, as in the SDK's batch processor.
    let _suppressed = Context::enter_telemetry_suppressed_scope();
    // The attempts' vector the queue gets back each time (emptied, its
    // capacity kept).
    let mut spare = Vec::with_capacity(queue().limits.max_batch);
    let mut deadline = Instant::now() + queue().limits.delay;
    loop {
        let mut queue = queue();
        while !queue.due() {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            queue = WAKE
                .wait_timeout(queue, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        let limits = queue.limits;
        let sdk = std::mem::take(&mut queue.sdk);
        let mut attempts = std::mem::replace(&mut queue.attempts, spare);
        let (ticket, stop) = (queue.flush_asked, queue.stop);
        drop(queue);
        export(exporter, sdk, limits.max_batch);
        for batch in attempts.chunks(limits.max_batch) {
            if let Err(error) = sink.send(encoder.encode(batch)) {
                tracing::warn!(
                    "could not export {} task span(s) to {}: {error}",
                    batch.len(),
                    crate::Telemetry::endpoint()
                );
            }
        }
        attempts.clear();
        spare = attempts;
        deadline = Instant::now() + limits.delay;
        queue = self::queue();
        queue.flush_done = ticket;
        drop(queue);
        DONE.notify_all();
        if stop {
            break;
        }
    }
    if let Err(error) = exporter.shutdown() {
        tracing::warn!("the span exporter did not shut down cleanly: {error}");
    }
}

/// Hands the SDK's spans to `exporter`, `max_batch` spans a call.
fn export<E: SpanExporter>(exporter: &E, sdk: Vec<SpanData>, max_batch: usize) {
    if sdk.is_empty() {
        return;
    }
    let mut spans = sdk.into_iter();
    loop {
        let batch: Vec<SpanData> = spans.by_ref().take(max_batch).collect();
        if batch.is_empty() {
            return;
        }
        let count = batch.len();
        if let Err(error) = futures::executor::block_on(exporter.export(batch)) {
            tracing::warn!(
                "could not export {count} span(s) to {}: {error}",
                crate::Telemetry::endpoint()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limits_are_the_standard_variables_or_their_defaults() {
        let defaults = Limits::from_lookup(|_| None);
        assert_eq!(
            defaults,
            Limits {
                max_queue: DEFAULT_MAX_QUEUE,
                max_batch: 512,
                delay: Duration::from_secs(5)
            }
        );
        let set = Limits::from_lookup(|name| {
            match name {
                "OTEL_BSP_MAX_QUEUE_SIZE" => Some("100"),
                "OTEL_BSP_MAX_EXPORT_BATCH_SIZE" => Some("500"),
                "OTEL_BSP_SCHEDULE_DELAY" => Some(" 250 "),
                _ => None,
            }
            .map(str::to_owned)
        });
        // A batch is never larger than the queue.
        assert_eq!(
            set,
            Limits {
                max_queue: 100,
                max_batch: 100,
                delay: Duration::from_millis(250)
            }
        );
        let invalid = Limits::from_lookup(|_| Some("many".to_owned()));
        assert_eq!(invalid, defaults);
    }
}
