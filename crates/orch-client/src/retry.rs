//! One retry policy for calls that must go through.
//!
//! A call that failed because the server was unreachable, restarting,
//! overloaded, slow or out of disk (`RESOURCE_EXHAUSTED`) may succeed if sent
//! again, so [`retry`] resends it with exponential backoff and jitter. A call
//! the server refused on its merits (not found, invalid argument, ...) is
//! returned to the caller at once: resending it cannot help. Only calls that
//! are safe to repeat belong in [`retry`]: reads, and writes the server
//! deduplicates (log lines by emitter and seq, state reports by transition id).
//!
//! With several servers ([`crate::failover`]) each attempt goes to the one
//! the client uses at that moment: an attempt that failed at the connection
//! level has already moved the client, so the retry goes to the next server.

use std::error::Error as _;
use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use tonic::{Code, Status};

/// The shortest wait before a retry.
const MIN_DELAY: Duration = Duration::from_millis(100);
/// The longest wait between retries: it bounds how long a client takes to
/// notice the server is back.
const MAX_DELAY: Duration = Duration::from_secs(2);

/// One attempt of a unary call: its reply, or its status. A call that ran
/// out of the request timeout fails with `DEADLINE_EXCEEDED`.
///
/// # Errors
///
/// The call's status.
pub async fn attempt<T>(
    call: impl Future<Output = Result<tonic::Response<T>, Status>>,
) -> Result<T, Status> {
    match call.await {
        Ok(response) => Ok(response.into_inner()),
        Err(status) if is_timeout(&status) => Err(Status::deadline_exceeded(
            "no answer within the request timeout",
        )),
        Err(status) => Err(status),
    }
}

/// Whether `status` says the call ran out of the request timeout.
pub fn is_timeout(status: &Status) -> bool {
    status.code() == Code::DeadlineExceeded
        || (status.code() == Code::Cancelled && status.message().contains("Timeout expired"))
}

/// Runs a call until it succeeds or fails for a reason retrying cannot fix.
///
/// `call` makes one attempt (use [`attempt`] inside it); transient failures
/// are retried with [`backoff`], without limit (bound the whole with
/// `tokio::time::timeout` where a deadline applies). The first failure is
/// logged as a warning naming `what`, later ones at debug level.
///
/// # Errors
///
/// The status of a failure that is not [`is_transient`].
pub async fn retry<T, F, Fut>(what: &str, call: F) -> Result<T, Status>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Status>>,
{
    let mut failures = 0_u32;
    let result = call
        .retry(backoff())
        .when(is_transient)
        .notify(|status, delay| {
            failures += 1;
            if failures == 1 {
                tracing::warn!(
                    "{what} failed: {}; retrying until it goes through",
                    describe(status)
                );
            } else {
                tracing::debug!(
                    "{what} failed again: {}; retrying in {}ms",
                    describe(status),
                    delay.as_millis()
                );
            }
        })
        .await;
    if failures > 0 && result.is_ok() {
        tracing::info!("{what} went through after {failures} retries");
    }
    result
}

/// The backoff between attempts of a call, or reconnects of a stream:
/// 100 ms doubling to 2 s, with jitter, without limit.
pub fn backoff() -> ExponentialBuilder {
    ExponentialBuilder::new()
        .with_min_delay(MIN_DELAY)
        .with_max_delay(MAX_DELAY)
        .with_jitter()
        .without_max_times()
}

/// Whether a failed call may succeed if sent again: the server was
/// unreachable, restarting, overloaded (`RESOURCE_EXHAUSTED`: its disk is
/// full, or a stream limit) or slow, rather than refusing it.
pub fn is_transient(status: &Status) -> bool {
    !matches!(
        status.code(),
        Code::InvalidArgument
            | Code::NotFound
            | Code::AlreadyExists
            | Code::PermissionDenied
            | Code::FailedPrecondition
            | Code::OutOfRange
            | Code::Unimplemented
            | Code::Unauthenticated
    )
}

/// A status as a short sentence for logs, with the transport cause if any.
pub fn describe(status: &Status) -> String {
    let mut text = if status.message().is_empty() {
        format!("{:?}", status.code())
    } else {
        format!("{} ({:?})", status.message(), status.code())
    };
    if let Some(source) = status.source() {
        text.push_str(": ");
        text.push_str(&error_chain(source));
    }
    text
}

/// An error and its sources joined with ": " ("transport error: tcp connect
/// error: Connection refused"), skipping repeats.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(error) = next {
        let part = error.to_string();
        if !parts.iter().any(|seen| seen.contains(&part)) {
            parts.push(part);
        }
        next = error.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outages_are_transient_refusals_are_not() {
        assert!(is_transient(&Status::unavailable("connection refused")));
        assert!(is_transient(&Status::resource_exhausted("disk full")));
        assert!(is_transient(&Status::deadline_exceeded("slow")));
        assert!(is_transient(&Status::internal("database is locked")));
        assert!(!is_transient(&Status::not_found("no such run")));
        assert!(!is_transient(&Status::invalid_argument("bad state")));
        assert!(!is_transient(&Status::unauthenticated("no key")));
    }

    #[test]
    fn describe_includes_code_and_message() {
        let text = describe(&Status::unavailable("server restarting"));
        assert_eq!(text, "server restarting (Unavailable)");
    }

    #[test]
    fn timeouts_are_recognised() {
        assert!(is_timeout(&Status::cancelled("Timeout expired")));
        assert!(is_timeout(&Status::deadline_exceeded("")));
        assert!(!is_timeout(&Status::cancelled("the run was cancelled")));
    }

    #[tokio::test]
    async fn a_refusal_is_returned_at_once_and_an_outage_retried() {
        let mut calls = 0;
        let result: Result<(), Status> = retry("test", || {
            calls += 1;
            async { Err(Status::not_found("gone")) }
        })
        .await;
        assert_eq!(result.unwrap_err().code(), Code::NotFound);
        assert_eq!(calls, 1);
        let mut calls = 0;
        let result = retry("test", || {
            calls += 1;
            let calls = calls;
            async move {
                if calls < 3 {
                    Err(Status::unavailable("restarting"))
                } else {
                    Ok(calls)
                }
            }
        })
        .await;
        assert_eq!(result.unwrap(), 3);
    }
}
