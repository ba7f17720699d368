//! How failures end the process: one `error: ` line on stderr and an exit code.

use std::fmt;

/// Exit code of a failure.
pub const EXIT_FAILURE: i32 = 1;
/// Exit code of bad input: a malformed argument, environment variable or config file.
pub const EXIT_USAGE: i32 = 2;

/// Bad input from the user, reported with exit code 2. Its message says what to fix.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Shorthand for an [`anyhow::Error`] wrapping a [`UsageError`].
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    UsageError(message.into()).into()
}

/// The exit code for `error`.
pub fn exit_code(error: &anyhow::Error) -> i32 {
    if error.is::<UsageError>() {
        EXIT_USAGE
    } else {
        EXIT_FAILURE
    }
}

/// Whether `error` is only stdout closing early (e.g. `orch flow-run ls | head`).
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// `error` and its causes on one line, for `error: ...`.
pub fn one_line(error: &anyhow::Error) -> String {
    let text = format!("{error:#}");
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_errors_exit_with_two_and_others_with_one() {
        assert_eq!(exit_code(&usage("bad")), EXIT_USAGE);
        assert_eq!(exit_code(&anyhow::anyhow!("failed")), EXIT_FAILURE);
        assert_eq!(
            exit_code(&usage("bad").context("while parsing")),
            EXIT_USAGE
        );
    }

    #[test]
    fn messages_fit_on_one_line() {
        let error = anyhow::anyhow!("first\nsecond").context("outer");
        assert_eq!(one_line(&error), "outer: first second");
    }
}
