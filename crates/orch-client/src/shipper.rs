//! The one shipper of log lines and task run reports, used by the worker
//! (a flow's output) and the SDK (its `tracing` events and task states).
//!
//! One task batches what is queued into `WriteLogs` and `ReportTaskRuns`
//! calls: a batch goes when it holds [`ShipperOptions::batch_items`] reports
//! or [`ShipperOptions::batch_bytes`] bytes, or when its first report has
//! waited [`ShipperOptions::batch_delay`]. A batch that fails for a transient
//! reason (server unreachable, `UNAVAILABLE`, `RESOURCE_EXHAUSTED` while its
//! disk is full, ...) is resent with backoff until the server stores it, in
//! order, before anything queued after it; resending is safe because the
//! server drops log lines it already has (by `flow_run_id`, `emitter`,
//! `seq`). A batch the server refuses on its merits is dropped with an error
//! log: resending it would be refused again and would hold back every other
//! report.
//!
//! **Bound.** At most [`ShipperOptions::queue_bytes`] of reports are held,
//! queued or in flight. When that is reached:
//! - [`Shipper::send`] waits for room (the worker: a flow that writes faster
//!   than the server stores is slowed down by its own pipe, nothing is lost);
//! - [`Shipper::try_send`] hands a log line back at once, for callers that
//!   cannot wait (the SDK's `tracing` layer writes it to stderr, where the
//!   worker ships it as output);
//! - a task run report is always admitted: it carries a state, it is small,
//!   and a task makes few of them.
//!
//! **Flush.** Reports and flush requests travel through one FIFO queue:
//! [`Shipper::flush`] resolves once everything queued before it has been
//! stored. Once every [`Shipper`] is dropped, the task stores what is queued
//! and ends.

mod batch;

use std::sync::Arc;
use std::time::Duration;

use orch_proto::v1::{LogLine, TaskRun};
use prost::Message as _;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::Api;
use batch::Batch;

/// What a flow or worker reports.
#[derive(Clone, Debug, PartialEq)]
pub enum Report {
    /// A log line of a flow run.
    Log(LogLine),
    /// A task run's state (with the history entries new since its last report).
    TaskRun(TaskRun),
}

impl Report {
    /// Its size on the wire, plus a little for the request around it.
    fn weight(&self) -> usize {
        16 + match self {
            Report::Log(line) => line.encoded_len(),
            Report::TaskRun(run) => run.encoded_len(),
        }
    }
}

/// How reports are batched and how many may wait.
#[derive(Clone, Copy, Debug)]
pub struct ShipperOptions {
    /// A batch is sent once it holds this many reports...
    pub batch_items: usize,
    /// ...or this many bytes, keeping requests well under
    /// `orch_proto::MAX_MESSAGE_BYTES` (a log line is at most 1 MiB)...
    pub batch_bytes: usize,
    /// ...or when its first report has waited this long.
    pub batch_delay: Duration,
    /// Most bytes of reports held, queued or in flight.
    pub queue_bytes: usize,
}

impl Default for ShipperOptions {
    fn default() -> Self {
        Self {
            batch_items: 500,
            batch_bytes: 2 * 1024 * 1024,
            batch_delay: Duration::from_millis(50),
            queue_bytes: 64 * 1024 * 1024,
        }
    }
}

/// What the shipping task is asked to do.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "nearly every request is a report; boxing it would allocate once per log line"
)]
enum Request {
    /// Ship this report; the permit is its room in the queue.
    Report(Report, Option<OwnedSemaphorePermit>),
    /// Answer once everything queued before has been stored.
    Flush(oneshot::Sender<()>),
}

/// The handle reports are queued through; cheap to clone.
#[derive(Clone, Debug)]
pub struct Shipper {
    queue: mpsc::UnboundedSender<Request>,
    room: Arc<Semaphore>,
    capacity: usize,
}

/// The other end of a [`Shipper`]'s queue: [`Outbox::ship`] starts the task
/// that sends what is queued to the server.
#[derive(Debug)]
pub struct Outbox {
    requests: mpsc::UnboundedReceiver<Request>,
    options: ShipperOptions,
}

/// A queue of reports: the [`Shipper`] to fill it and the [`Outbox`] to
/// ship it (`outbox.ship(&api)`).
pub fn queue(options: ShipperOptions) -> (Shipper, Outbox) {
    let (queue, requests) = mpsc::unbounded_channel();
    let capacity = options.queue_bytes.clamp(1, Semaphore::MAX_PERMITS);
    let shipper = Shipper {
        queue,
        room: Arc::new(Semaphore::new(capacity)),
        capacity,
    };
    (shipper, Outbox { requests, options })
}

impl Shipper {
    /// A queue shipping to `api` in a task of its own, which ends once every
    /// clone of the returned [`Shipper`] is dropped and the queue is stored.
    pub fn start(api: &Api, options: ShipperOptions) -> (Self, JoinHandle<()>) {
        let (shipper, outbox) = queue(options);
        (shipper, outbox.ship(api))
    }

    /// Queues `report`, waiting for room when the queue is full.
    pub async fn send(&self, report: Report) {
        let permit = match &report {
            Report::TaskRun(_) => self.try_room(&report),
            Report::Log(_) => {
                let weight = self.weight(&report);
                self.room.clone().acquire_many_owned(weight).await.ok()
            }
        };
        self.push(Request::Report(report, permit));
    }

    /// Queues `report` without waiting. A log line is handed back when the
    /// queue is full; a task run report is always queued.
    ///
    /// # Errors
    ///
    /// The log line, when there is no room for it.
    #[allow(
        clippy::result_large_err,
        reason = "the line is handed back as it was given, for the caller to write elsewhere"
    )]
    pub fn try_send(&self, report: Report) -> Result<(), Report> {
        let permit = self.try_room(&report);
        if permit.is_none() && matches!(report, Report::Log(_)) {
            return Err(report);
        }
        self.push(Request::Report(report, permit));
        Ok(())
    }

    /// Resolves once every report queued before this call has been stored
    /// by the server (or refused by it). Bound it with a timeout where the
    /// server may stay unreachable.
    pub async fn flush(&self) {
        let (done, stored) = oneshot::channel();
        if self.queue.send(Request::Flush(done)).is_ok() {
            let _ = stored.await;
        }
    }

    /// Room for `report`, if there is some now.
    fn try_room(&self, report: &Report) -> Option<OwnedSemaphorePermit> {
        let weight = self.weight(report);
        self.room.clone().try_acquire_many_owned(weight).ok()
    }

    /// How much of the queue `report` takes (all of it at the most).
    fn weight(&self, report: &Report) -> u32 {
        let weight = report.weight().min(self.capacity);
        u32::try_from(weight).unwrap_or(u32::MAX)
    }

    fn push(&self, request: Request) {
        if self.queue.send(request).is_err() {
            tracing::error!("the report shipper has stopped; a report was lost");
        }
    }
}

impl Outbox {
    /// Starts the task that ships the queue to `api`.
    pub fn ship(self, api: &Api) -> JoinHandle<()> {
        tokio::spawn(ship(api.clone(), self.requests, self.options))
    }

    /// The reports queued so far, without shipping them (flush requests are
    /// answered): for tests of what a producer queues.
    pub fn drain_now(&mut self) -> Vec<Report> {
        let mut reports = Vec::new();
        while let Ok(request) = self.requests.try_recv() {
            match request {
                Request::Report(report, _) => reports.push(report),
                Request::Flush(done) => {
                    let _ = done.send(());
                }
            }
        }
        reports
    }
}

/// The shipping loop: collect a batch, send it when full, late or flushed.
async fn ship(api: Api, mut requests: mpsc::UnboundedReceiver<Request>, options: ShipperOptions) {
    let mut batch = Batch::new(options);
    loop {
        let request = match batch.deadline() {
            Some(deadline) => tokio::select! {
                request = requests.recv() => request,
                () = tokio::time::sleep_until(deadline) => {
                    batch.write(&api).await;
                    continue;
                }
            },
            None => requests.recv().await,
        };
        match request {
            Some(Request::Report(report, permit)) => {
                if batch.push(report, permit) {
                    batch.write(&api).await;
                }
            }
            Some(Request::Flush(done)) => {
                batch.write(&api).await;
                let _ = done.send(());
            }
            None => {
                batch.write(&api).await;
                return;
            }
        }
    }
}
