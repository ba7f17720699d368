//! The log shipper: one task that batches the log lines of every run into
//! `WriteLogs` calls and retries a failed batch until the server stores it.
//!
//! Lines and flush requests travel through one FIFO queue, so when the
//! shipper reaches a flush request, every line queued before it is in a batch
//! the server has acknowledged. A run uses this to report its final state
//! only after all its logs are stored.

use std::time::Duration;

use orch_proto::v1::{LogLine, WriteLogsRequest};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::client::{self, Api};

/// A batch is sent once it holds this many lines...
pub(crate) const BATCH_LINES: usize = 200;

/// ...or this many bytes of messages, keeping requests well under the
/// server's default 4 MiB message limit...
const BATCH_BYTES: usize = 2 * 1024 * 1024;

/// ...or when its first line has waited this long.
pub(crate) const BATCH_DELAY: Duration = Duration::from_millis(50);

/// Lines waiting to be shipped before readers wait: during a long outage the
/// flows' output is eventually held back by their pipes, not by our memory.
const QUEUE_CAPACITY: usize = 20_000;

/// What the shipper is asked to do.
#[derive(Debug)]
enum Request {
    /// Ship this line.
    Line(LogLine),
    /// Answer once everything queued before has been stored.
    Flush(oneshot::Sender<()>),
}

/// The handle runs use to queue lines; cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct LogSender {
    queue: mpsc::Sender<Request>,
}

impl LogSender {
    /// Queues `line`, waiting for room when the queue is full.
    pub(crate) async fn send(&self, line: LogLine) {
        if self.queue.send(Request::Line(line)).await.is_err() {
            tracing::error!("the log shipper has stopped; a log line was lost");
        }
    }

    /// Resolves once every line queued before this call has been stored by
    /// the server.
    pub(crate) async fn flush(&self) {
        let (done, stored) = oneshot::channel();
        if self.queue.send(Request::Flush(done)).await.is_ok() {
            let _ = stored.await;
        }
    }
}

/// Starts the shipper. It stops, after storing what is queued, once every
/// [`LogSender`] is dropped.
pub(crate) fn start(api: Api) -> (LogSender, JoinHandle<()>) {
    let (queue, requests) = mpsc::channel(QUEUE_CAPACITY);
    let task = tokio::spawn(ship(api, requests));
    (LogSender { queue }, task)
}

/// The shipper's loop: collect a batch, send it when full, late or flushed.
async fn ship(api: Api, mut requests: mpsc::Receiver<Request>) {
    let mut batch = Batch::default();
    loop {
        let request = match batch.deadline {
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
            Some(Request::Line(line)) => {
                if batch.push(line) {
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

/// Lines collected for the next `WriteLogs`.
#[derive(Debug, Default)]
struct Batch {
    lines: Vec<LogLine>,
    bytes: usize,
    /// When the batch must go even if not full: set by its first line.
    deadline: Option<Instant>,
}

impl Batch {
    /// Adds a line; true when the batch is full and must be sent now.
    fn push(&mut self, line: LogLine) -> bool {
        self.deadline
            .get_or_insert_with(|| Instant::now() + BATCH_DELAY);
        // Rough wire size: the message plus ids and field tags.
        self.bytes += line.message.len() + line.flow_run_id.len() + line.emitter.len() + 32;
        self.lines.push(line);
        self.lines.len() >= BATCH_LINES || self.bytes >= BATCH_BYTES
    }

    /// Sends the batch, retrying until the server stores it, and empties it.
    ///
    /// Resending is safe: the server drops lines it already has, by
    /// (flow_run_id, emitter, seq).
    async fn write(&mut self, api: &Api) {
        self.deadline = None;
        self.bytes = 0;
        if self.lines.is_empty() {
            return;
        }
        let lines = std::mem::take(&mut self.lines);
        let count = lines.len();
        let what = format!("writing {count} log lines");
        let result = client::retry(&what, || {
            let mut flow_runs = api.flow_runs();
            let request = WriteLogsRequest {
                lines: lines.clone(),
            };
            async move { client::attempt(flow_runs.write_logs(request)).await }
        })
        .await;
        if let Err(status) = result {
            // Only a refusal ends up here, and resending the same lines would
            // be refused again; holding them would block every other run's logs.
            tracing::error!(
                "the server refused {count} log lines, dropping them: {}",
                client::describe(&status)
            );
        }
    }
}

/// A [`LogSender`] whose lines are kept for inspection instead of shipped.
#[cfg(test)]
pub(crate) fn capture() -> (LogSender, Captured) {
    let (queue, requests) = mpsc::channel(QUEUE_CAPACITY);
    (LogSender { queue }, Captured(requests))
}

/// The lines queued through a [`capture`]d sender.
#[cfg(test)]
pub(crate) struct Captured(mpsc::Receiver<Request>);

#[cfg(test)]
impl Captured {
    /// The lines queued so far, acknowledging any flush request.
    pub(crate) fn lines(&mut self) -> Vec<LogLine> {
        let mut lines = Vec::new();
        while let Ok(request) = self.0.try_recv() {
            match request {
                Request::Line(line) => lines.push(line),
                Request::Flush(done) => {
                    let _ = done.send(());
                }
            }
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(message: &str) -> LogLine {
        LogLine {
            message: message.to_owned(),
            ..LogLine::default()
        }
    }

    #[test]
    fn batch_is_full_at_the_line_limit() {
        let mut batch = Batch::default();
        for _ in 1..BATCH_LINES {
            assert!(!batch.push(line("x")));
        }
        assert!(batch.deadline.is_some());
        assert!(batch.push(line("x")));
    }

    #[test]
    fn batch_is_full_at_the_byte_limit() {
        let mut batch = Batch::default();
        assert!(!batch.push(line(&"x".repeat(BATCH_BYTES / 2))));
        assert!(batch.push(line(&"x".repeat(BATCH_BYTES / 2))));
    }
}
