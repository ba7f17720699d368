//! Turning a run's stdout and stderr into log lines.
//!
//! One task reads both pipes, so a run's line numbers (`seq`) follow the
//! order in which lines were read, across both streams.

use std::future::Future;
use std::io;
use std::time::{SystemTime, UNIX_EPOCH};

use orch_client::{Report, Shipper};
use orch_proto::v1::LogLine;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, BufReader};

use crate::outcome::StderrTail;

/// A longer line is cut into several log lines of at most this many bytes,
/// so that no single log line can exceed what the server accepts.
pub(crate) const MAX_LINE_BYTES: usize = 1024 * 1024;

/// Which pipe a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    /// The `stream` field of a log line.
    fn name(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        }
    }

    /// The `level` field of a log line.
    fn level(self) -> &'static str {
        match self {
            Self::Stdout => "INFO",
            Self::Stderr => "WARN",
        }
    }
}

/// Makes the log lines of one run and queues them for shipping.
#[derive(Debug)]
pub(crate) struct RunLog {
    flow_run_id: String,
    emitter: String,
    /// The seq of the last line made; the first line is 1.
    seq: u64,
    sender: Shipper,
    /// Values replaced by `***` in every line (the run's secrets).
    secrets: Vec<String>,
}

impl RunLog {
    /// Lines of run `flow_run_id`, written by worker `emitter`.
    pub(crate) fn new(flow_run_id: String, emitter: String, sender: Shipper) -> Self {
        Self {
            flow_run_id,
            emitter,
            seq: 0,
            sender,
            secrets: Vec::new(),
        }
    }

    /// Hides these values (the run's secrets, and each line of a
    /// multi-line one) as `***` in every line.
    pub(crate) fn with_secrets(mut self, secrets: Vec<String>) -> Self {
        self.secrets = orch_core::flow_env::redaction_values(&secrets);
        self
    }

    /// Numbers `message` and queues it.
    async fn emit(&mut self, stream: Stream, message: String) {
        self.seq += 1;
        let line = LogLine {
            flow_run_id: self.flow_run_id.clone(),
            emitter: self.emitter.clone(),
            seq: self.seq,
            timestamp_micros: now_micros(),
            stream: stream.name().to_owned(),
            level: stream.level().to_owned(),
            message,
            ..LogLine::default()
        };
        self.sender.send(Report::Log(line)).await;
    }
}

/// Reads `stdout` and `stderr` to their ends (or until `stop` resolves),
/// shipping every line through `log`. Returns the stderr tail.
///
/// `stop` exists for flows that leave a background process holding the pipes
/// open after they exit: the reader cannot wait for those forever.
pub(crate) async fn pump(
    stdout: impl AsyncRead + Unpin,
    stderr: impl AsyncRead + Unpin,
    mut log: RunLog,
    stop: impl Future<Output = ()>,
) -> StderrTail {
    let mut tail = StderrTail::default();
    let mut stdout = PipeReader::new(stdout);
    let mut stderr = PipeReader::new(stderr);
    tokio::pin!(stop);
    while stdout.open || stderr.open {
        let run = &log.flow_run_id;
        let (stream, line) = tokio::select! {
            read = stdout.read_line(), if stdout.open => (Stream::Stdout, stdout.finish(read, run)),
            read = stderr.read_line(), if stderr.open => (Stream::Stderr, stderr.finish(read, run)),
            () = &mut stop => break,
        };
        if let Some(message) = line {
            emit(&mut log, &mut tail, stream, message).await;
        }
    }
    // Stopped early: ship the partial lines read so far.
    if let Some(message) = stdout.take_line() {
        emit(&mut log, &mut tail, Stream::Stdout, message).await;
    }
    if let Some(message) = stderr.take_line() {
        emit(&mut log, &mut tail, Stream::Stderr, message).await;
    }
    tail
}

/// Ships a line, remembering it in the stderr tail if it is one.
async fn emit(log: &mut RunLog, tail: &mut StderrTail, stream: Stream, message: String) {
    // Before anything keeps the line: the tail ends up in the run's state message.
    let message = match orch_core::flow_env::redact(&message, &log.secrets) {
        std::borrow::Cow::Borrowed(_) => message,
        std::borrow::Cow::Owned(redacted) => redacted,
    };
    if stream == Stream::Stderr {
        tail.push(&message);
    }
    log.emit(stream, message).await;
}

/// One pipe and the line being read from it.
struct PipeReader<R> {
    reader: BufReader<R>,
    line: Vec<u8>,
    open: bool,
}

impl<R: AsyncRead + Unpin> PipeReader<R> {
    fn new(reader: R) -> Self {
        Self {
            reader: BufReader::new(reader),
            line: Vec::new(),
            open: true,
        }
    }

    /// Reads the rest of a line; see [`read_line`].
    async fn read_line(&mut self) -> io::Result<bool> {
        read_line(&mut self.reader, &mut self.line).await
    }

    /// What a [`read_line`](Self::read_line) produced: a line, or at the
    /// end of the pipe what was left without a final newline.
    fn finish(&mut self, read: io::Result<bool>, flow_run_id: &str) -> Option<String> {
        match read {
            Ok(true) => {}
            Ok(false) => self.open = false,
            Err(error) => {
                tracing::warn!("cannot read the output of run {flow_run_id}: {error}");
                self.open = false;
            }
        }
        self.take_line()
    }

    /// The line read so far, decoded, leaving the buffer empty.
    fn take_line(&mut self) -> Option<String> {
        if self.line.is_empty() {
            return None;
        }
        let message = decode_line(&self.line);
        self.line.clear();
        Some(message)
    }
}

/// Appends bytes from `reader` to `line` up to and including a newline, or
/// until `line` holds [`MAX_LINE_BYTES`]. Returns false at end of input
/// (`line` then holds any unterminated rest).
///
/// Cancel-safe: bytes are only consumed from `reader` once they are in `line`,
/// so when used in `select!` a read can be resumed by calling it again.
async fn read_line(
    reader: &mut (impl AsyncBufRead + Unpin),
    line: &mut Vec<u8>,
) -> io::Result<bool> {
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(false);
        }
        let room = MAX_LINE_BYTES.saturating_sub(line.len());
        let window = &available[..available.len().min(room)];
        let (used, complete) = match window.iter().position(|&byte| byte == b'\n') {
            Some(newline) => (newline + 1, true),
            None => (window.len(), line.len() + window.len() >= MAX_LINE_BYTES),
        };
        line.extend_from_slice(&window[..used]);
        reader.consume(used);
        if complete {
            return Ok(true);
        }
    }
}

/// A line's text: trailing "\n" or "\r\n" removed, invalid UTF-8 replaced.
pub(crate) fn decode_line(bytes: &[u8]) -> String {
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    String::from_utf8_lossy(bytes).into_owned()
}

/// Microseconds since the Unix epoch.
fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_micros()).unwrap_or(i64::MAX)
        })
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use orch_client::ShipperOptions;
    use orch_client::shipper::{Outbox, queue};

    use super::*;

    /// A shipper whose lines are kept for inspection instead of shipped.
    fn capture() -> (Shipper, Outbox) {
        queue(ShipperOptions::default())
    }

    /// The lines queued so far.
    fn lines(outbox: &mut Outbox) -> Vec<LogLine> {
        outbox
            .drain_now()
            .into_iter()
            .filter_map(|report| match report {
                Report::Log(line) => Some(line),
                Report::TaskRun(_) => None,
            })
            .collect()
    }

    #[test]
    fn lines_lose_their_line_ending_only() {
        assert_eq!(decode_line(b"plain\n"), "plain");
        assert_eq!(decode_line(b"windows\r\n"), "windows");
        assert_eq!(
            decode_line(b"no newline at the end"),
            "no newline at the end"
        );
        assert_eq!(
            decode_line(b"inner\rcarriage return\n"),
            "inner\rcarriage return"
        );
        assert_eq!(decode_line(b"  indented  \n"), "  indented  ");
        assert_eq!(decode_line(b"\n"), "");
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        assert_eq!(decode_line(b"caf\xe9 ok\n"), "caf\u{fffd} ok");
    }

    #[tokio::test]
    async fn read_line_splits_on_newlines_and_keeps_the_rest_at_eof() {
        let mut reader = BufReader::new(&b"one\r\ntwo\nrest"[..]);
        let mut line = Vec::new();
        assert!(read_line(&mut reader, &mut line).await.unwrap());
        assert_eq!(line, b"one\r\n");
        line.clear();
        assert!(read_line(&mut reader, &mut line).await.unwrap());
        assert_eq!(line, b"two\n");
        line.clear();
        assert!(!read_line(&mut reader, &mut line).await.unwrap());
        assert_eq!(line, b"rest");
    }

    #[tokio::test]
    async fn a_huge_line_is_cut_into_pieces() {
        let mut input = vec![b'x'; MAX_LINE_BYTES + 10];
        input.push(b'\n');
        let mut reader = BufReader::new(&input[..]);
        let mut line = Vec::new();
        assert!(read_line(&mut reader, &mut line).await.unwrap());
        assert_eq!(line.len(), MAX_LINE_BYTES);
        line.clear();
        assert!(read_line(&mut reader, &mut line).await.unwrap());
        assert_eq!(line.len(), 11);
    }

    #[tokio::test]
    async fn pump_numbers_lines_across_both_streams() {
        let (sender, mut captured) = capture();
        let log = RunLog::new("run-1".to_owned(), "worker-1".to_owned(), sender);
        let stdout = &b"out 1\r\nout 2\n"[..];
        let stderr = &b"err 1\n\nerr \xff last"[..];
        let tail = pump(stdout, stderr, log, std::future::pending()).await;

        let lines = lines(&mut captured);
        let mut seqs: Vec<u64> = lines.iter().map(|line| line.seq).collect();
        seqs.sort_unstable();
        assert_eq!(seqs, [1, 2, 3, 4, 5]);
        let of = |stream: &str| -> Vec<(String, String)> {
            lines
                .iter()
                .filter(|line| line.stream == stream)
                .map(|line| (line.level.clone(), line.message.clone()))
                .collect()
        };
        let info = |message: &str| ("INFO".to_owned(), message.to_owned());
        let warn = |message: &str| ("WARN".to_owned(), message.to_owned());
        assert_eq!(of("stdout"), [info("out 1"), info("out 2")]);
        assert_eq!(
            of("stderr"),
            [warn("err 1"), warn(""), warn("err \u{fffd} last")]
        );
        assert!(lines.iter().all(|line| line.flow_run_id == "run-1"
            && line.emitter == "worker-1"
            && line.timestamp_micros > 0));
        assert_eq!(
            tail.lines().collect::<Vec<_>>(),
            ["err 1", "err \u{fffd} last"]
        );
    }

    #[tokio::test]
    async fn secret_values_are_hidden_before_lines_are_shipped_or_kept() {
        let (sender, mut captured) = capture();
        let log = RunLog::new("run-1".to_owned(), "worker-1".to_owned(), sender)
            .with_secrets(vec!["s3cr3t-value".to_owned()]);
        let stdout = &b"key is s3cr3t-value\n"[..];
        let stderr = &b"failed with s3cr3t-value!\n"[..];
        let tail = pump(stdout, stderr, log, std::future::pending()).await;
        let mut messages: Vec<String> = lines(&mut captured)
            .into_iter()
            .map(|l| l.message)
            .collect();
        messages.sort();
        assert_eq!(messages, ["failed with ***!", "key is ***"]);
        assert_eq!(tail.lines().collect::<Vec<_>>(), ["failed with ***!"]);
    }

    #[tokio::test]
    async fn pump_stops_on_request_and_keeps_partial_lines() {
        let (sender, mut captured) = capture();
        let log = RunLog::new("run-1".to_owned(), "worker-1".to_owned(), sender);
        // A pipe whose writer stays open, like one inherited by a daemon.
        let (mut writer, stdout) = tokio::io::duplex(64);
        writer.write_all(b"done\nhalf a li").await.unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let pumping = tokio::spawn(pump(stdout, tokio::io::empty(), log, async {
            let _ = stopped.await;
        }));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        stop.send(()).unwrap();
        pumping.await.unwrap();
        let messages: Vec<String> = lines(&mut captured)
            .into_iter()
            .map(|line| line.message)
            .collect();
        assert_eq!(messages, ["done", "half a li"]);
        drop(writer);
    }
}
