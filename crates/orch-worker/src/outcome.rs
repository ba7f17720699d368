//! The final state of a run, from how its process ended.

use std::collections::VecDeque;
use std::process::ExitStatus;

use nix::sys::signal::Signal;
use orch_proto::v1::{State, StateType};

/// How many stderr lines a Failed run's message quotes.
pub(crate) const STDERR_TAIL_LINES: usize = 20;

/// Longest stderr line quoted in a message, in characters; the state message
/// is a summary, the full line is in the run's logs.
const TAIL_LINE_CHARS: usize = 500;

/// Why the worker stopped a run's process itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StopReason {
    /// A user cancelled the run.
    Cancelled,
    /// The worker is shutting down and the run did not finish in time.
    Shutdown,
    /// The server no longer holds the run on this worker: its lease expired
    /// while the worker's heartbeats could not get through (the server
    /// Crashed it, and may have retried it elsewhere). Nothing is reported.
    Lost,
}

/// The last non-blank stderr lines of a run, quoted when it fails.
#[derive(Debug, Default)]
pub(crate) struct StderrTail {
    lines: VecDeque<String>,
}

impl StderrTail {
    /// Remembers `line`, forgetting the oldest beyond [`STDERR_TAIL_LINES`].
    pub(crate) fn push(&mut self, line: &str) {
        if line.trim().is_empty() {
            return;
        }
        let line = match line.char_indices().nth(TAIL_LINE_CHARS) {
            Some((cut, _)) => format!("{}…", &line[..cut]),
            None => line.to_owned(),
        };
        if self.lines.len() == STDERR_TAIL_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
    }

    /// The remembered lines, oldest first.
    pub(crate) fn lines(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().map(String::as_str)
    }
}

/// A final state to report for a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// Completed, Failed, Crashed or Cancelled.
    pub state: StateType,
    /// Why, for anything but Completed.
    pub message: String,
    /// The process's exit code, when it exited rather than died of a signal.
    pub exit_code: Option<i32>,
    /// What the process tree used, when it ran and was reaped.
    pub usage: Option<orch_core::ResourceUsage>,
}

impl Outcome {
    /// A run that could not even start.
    pub(crate) fn failed_to_start(message: String) -> Self {
        Self {
            state: StateType::Failed,
            message,
            exit_code: None,
            usage: None,
        }
    }

    /// The proposed state, as sent to the server.
    pub(crate) fn to_state(&self) -> State {
        state(self.state, self.message.clone())
    }
}

/// A proposed state of `state_type`, named after it.
pub(crate) fn state(state_type: StateType, message: String) -> State {
    State {
        r#type: state_type as i32,
        name: orch_proto::state::display_name(state_type).to_owned(),
        message,
        timestamp_micros: 0,
    }
}

/// The final state of a run whose process ended with `status`, given why the
/// worker stopped it (if it did) and what it last wrote to stderr.
pub(crate) fn classify(status: ExitStatus, stop: Option<StopReason>, tail: &StderrTail) -> Outcome {
    use std::os::unix::process::ExitStatusExt;

    let exit_code = status.code();
    let (state, message) = match (stop, exit_code) {
        (Some(StopReason::Cancelled), _) => (StateType::Cancelled, "cancelled by user".to_owned()),
        (Some(StopReason::Shutdown), _) => (
            StateType::Crashed,
            "worker shut down before the run finished".to_owned(),
        ),
        (Some(StopReason::Lost), _) => (
            StateType::Crashed,
            "stopped by its worker: the run's lease had expired".to_owned(),
        ),
        (None, Some(0)) => (StateType::Completed, String::new()),
        (None, Some(code)) => (StateType::Failed, failure_message(code, tail)),
        (None, None) => (
            StateType::Crashed,
            format!(
                "process killed by signal {}",
                signal_name(status.signal().unwrap_or_default())
            ),
        ),
    };
    Outcome {
        state,
        message,
        exit_code,
        usage: None,
    }
}

/// `exit code N`, followed by the stderr tail when there is one.
fn failure_message(code: i32, tail: &StderrTail) -> String {
    let mut message = format!("exit code {code}");
    if !tail.lines.is_empty() {
        message.push_str("; last stderr lines:");
        for line in tail.lines() {
            message.push('\n');
            message.push_str(line);
        }
    }
    message
}

/// "SIGKILL (9)", or "64" for a number nix has no name for.
fn signal_name(number: i32) -> String {
    match Signal::try_from(number) {
        Ok(signal) => format!("{} ({number})", signal.as_str()),
        Err(_) => number.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    fn exited(code: i32) -> ExitStatus {
        ExitStatus::from_raw(code << 8)
    }

    fn killed(signal: Signal) -> ExitStatus {
        ExitStatus::from_raw(signal as i32)
    }

    fn tail_of(lines: &[&str]) -> StderrTail {
        let mut tail = StderrTail::default();
        for line in lines {
            tail.push(line);
        }
        tail
    }

    #[test]
    fn exit_zero_completes() {
        let outcome = classify(exited(0), None, &tail_of(&["a warning"]));
        assert_eq!(outcome.state, StateType::Completed);
        assert_eq!(outcome.exit_code, Some(0));
    }

    #[test]
    fn nonzero_exit_fails_with_stderr_tail() {
        let outcome = classify(
            exited(3),
            None,
            &tail_of(&["Traceback:", "", "  boom", "   "]),
        );
        assert_eq!(outcome.state, StateType::Failed);
        assert_eq!(outcome.exit_code, Some(3));
        assert_eq!(
            outcome.message,
            "exit code 3; last stderr lines:\nTraceback:\n  boom"
        );
        let quiet = classify(exited(1), None, &StderrTail::default());
        assert_eq!(quiet.message, "exit code 1");
    }

    #[test]
    fn signal_crashes_with_its_name() {
        let outcome = classify(killed(Signal::SIGKILL), None, &StderrTail::default());
        assert_eq!(outcome.state, StateType::Crashed);
        assert_eq!(outcome.message, "process killed by signal SIGKILL (9)");
        assert_eq!(outcome.exit_code, None);
        assert_eq!(signal_name(64), "64");
    }

    #[test]
    fn the_workers_stop_reason_wins() {
        let cancelled = classify(
            killed(Signal::SIGTERM),
            Some(StopReason::Cancelled),
            &StderrTail::default(),
        );
        assert_eq!(cancelled.state, StateType::Cancelled);
        assert_eq!(cancelled.message, "cancelled by user");
        let shutdown = classify(
            exited(0),
            Some(StopReason::Shutdown),
            &StderrTail::default(),
        );
        assert_eq!(shutdown.state, StateType::Crashed);
        assert_eq!(shutdown.message, "worker shut down before the run finished");
    }

    #[test]
    fn tail_keeps_the_last_lines_only() {
        let mut tail = StderrTail::default();
        for n in 1..=25 {
            tail.push(&format!("line {n}"));
        }
        let lines: Vec<&str> = tail.lines().collect();
        assert_eq!(lines.len(), STDERR_TAIL_LINES);
        assert_eq!(lines.first(), Some(&"line 6"));
        assert_eq!(lines.last(), Some(&"line 25"));

        tail.push(&"é".repeat(TAIL_LINE_CHARS + 10));
        let long = tail.lines().last().unwrap();
        assert_eq!(long.chars().count(), TAIL_LINE_CHARS + 1);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn states_are_named_after_their_type() {
        let running = state(StateType::Running, String::new());
        assert_eq!(running.r#type, StateType::Running as i32);
        assert_eq!(running.name, "Running");
    }
}
