//! The SDK's errors.

use std::time::Duration;

/// Why a task did not produce a value.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// Every attempt failed (or the error was not retryable). The cause follows
    /// in the error chain (`{:#}` shows it).
    #[error("task \"{task}\" failed after {attempts} attempt(s)")]
    Failed {
        /// Task name.
        task: String,
        /// Attempts made.
        attempts: u32,
        /// The last error with its chain.
        message: String,
        /// The last error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// The flow run was cancelled (or timed out) before the task finished.
    #[error("task \"{task}\" was cancelled")]
    Cancelled {
        /// Task name.
        task: String,
    },
}

/// The error of an attempt that ran past its timeout; use
/// `error.is::<TaskTimedOut>()` in a `retry_if` condition.
#[derive(Debug, Clone, thiserror::Error)]
#[error("timed out after {}", humanize(*.after))]
pub struct TaskTimedOut {
    /// The timeout.
    pub after: Duration,
}

/// The error of an attempt whose code panicked.
#[derive(Debug, Clone, thiserror::Error)]
#[error("panicked: {message}")]
pub struct TaskPanicked {
    /// The panic message.
    pub message: String,
}

/// Why a flow command could not run.
#[derive(Debug, thiserror::Error)]
pub enum SdkError {
    /// The parameters do not fit the flow's parameter type.
    #[error(
        "invalid parameters for flow \"{flow}\": {reason}. Check the deployment's parameters and --param values"
    )]
    Parameters {
        /// Flow name.
        flow: String,
        /// What serde said.
        reason: String,
    },
    /// The command line was not understood.
    #[error("{0}")]
    Usage(String),
}

/// `1.5s`, `250ms`.
pub(crate) fn humanize(duration: Duration) -> String {
    if duration >= Duration::from_secs(1) {
        format!("{}s", duration.as_secs_f64())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a non-text panic payload".to_string()
    }
}
