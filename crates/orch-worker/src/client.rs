//! The connection to the orch server and the retry policy every call follows.
//!
//! After start-up the worker must outlive server restarts, so calls that must
//! go through ([`retry`]) are retried with backoff for as long as the failure
//! looks transient. A call the server refuses on its merits (not found,
//! invalid argument, ...) is returned to the caller, since resending it
//! cannot help.

use std::error::Error as _;
use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use orch_proto::credentials::AuthChannel;
use orch_proto::v1::flow_run_service_client::FlowRunServiceClient;
use orch_proto::v1::worker_service_client::WorkerServiceClient;
use tonic::transport::Endpoint;
use tonic::{Code, Status};

use crate::WorkerError;

/// How long one attempt of a unary call may take before it counts as failed.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// How long connecting may take, at start-up and on every reconnect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// HTTP/2 pings detect a server that vanished without closing the connection
/// (a network partition), which would otherwise leave `Subscribe` hanging.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(20);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// Clients of the two services the worker talks to, over one channel.
///
/// Cloning is cheap: the clients share the underlying connection, which tonic
/// re-establishes on its own after the server comes back.
#[derive(Clone, Debug)]
pub(crate) struct Api {
    workers: WorkerServiceClient<AuthChannel>,
    flow_runs: FlowRunServiceClient<AuthChannel>,
}

impl Api {
    /// Connects to the server at `url`, failing at once if it does not answer.
    pub(crate) async fn connect(url: &str) -> Result<Self, WorkerError> {
        let endpoint = Endpoint::from_shared(url.to_owned())
            .map_err(|source| WorkerError::InvalidApiUrl {
                url: url.to_owned(),
                source,
            })?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
            .keep_alive_timeout(KEEPALIVE_TIMEOUT)
            .keep_alive_while_idle(true);
        let channel = endpoint
            .connect()
            .await
            .map_err(|error| WorkerError::Unreachable {
                url: url.to_owned(),
                cause: error_chain(&error),
            })?;
        let channel = orch_proto::credentials::with_credentials(channel, url, None);
        Ok(Self {
            workers: WorkerServiceClient::new(channel.clone())
                .max_decoding_message_size(orch_proto::MAX_MESSAGE_BYTES)
                .max_encoding_message_size(orch_proto::MAX_MESSAGE_BYTES),
            flow_runs: FlowRunServiceClient::new(channel)
                .max_decoding_message_size(orch_proto::MAX_MESSAGE_BYTES)
                .max_encoding_message_size(orch_proto::MAX_MESSAGE_BYTES),
        })
    }

    /// A client of `WorkerService`.
    pub(crate) fn workers(&self) -> WorkerServiceClient<AuthChannel> {
        self.workers.clone()
    }

    /// A client of `FlowRunService`.
    pub(crate) fn flow_runs(&self) -> FlowRunServiceClient<AuthChannel> {
        self.flow_runs.clone()
    }
}

/// Runs one attempt of a unary call under [`CALL_TIMEOUT`].
pub(crate) async fn attempt<T>(
    call: impl Future<Output = Result<tonic::Response<T>, Status>>,
) -> Result<T, Status> {
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(result) => result.map(tonic::Response::into_inner),
        Err(_) => Err(Status::deadline_exceeded(format!(
            "no answer within {}s",
            CALL_TIMEOUT.as_secs()
        ))),
    }
}

/// Runs a call until it succeeds or fails for a reason retrying cannot fix.
///
/// `call` makes one attempt (use [`attempt`] inside it); transient failures
/// are retried with exponential backoff, without limit. The first failure
/// is logged as a warning naming `what`, later ones only at debug level.
pub(crate) async fn retry<T, F, Fut>(what: &str, call: F) -> Result<T, Status>
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
            let delay = delay.as_millis();
            if failures == 1 {
                tracing::warn!(
                    "{what} failed: {}; retrying until it goes through",
                    describe(status)
                );
            } else {
                tracing::debug!(
                    "{what} failed again: {}; retrying in {delay}ms",
                    describe(status)
                );
            }
        })
        .await;
    if failures > 0 && result.is_ok() {
        tracing::info!("{what} went through after {failures} retries");
    }
    result
}

/// The backoff between attempts of a call, or reconnects of a stream. Its
/// cap bounds how long the worker takes to notice the server is back.
pub(crate) fn backoff() -> ExponentialBuilder {
    ExponentialBuilder::new()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(2))
        .with_jitter()
        .without_max_times()
}

/// Whether a failed call may succeed if sent again: the server was
/// unreachable, restarting, overloaded or slow, rather than refusing it.
pub(crate) fn is_transient(status: &Status) -> bool {
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
pub(crate) fn describe(status: &Status) -> String {
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
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
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
        assert!(is_transient(&Status::deadline_exceeded("slow")));
        assert!(is_transient(&Status::internal("database is locked")));
        assert!(!is_transient(&Status::not_found("no such run")));
        assert!(!is_transient(&Status::invalid_argument("bad state")));
    }

    #[test]
    fn describe_includes_code_and_message() {
        let text = describe(&Status::unavailable("server restarting"));
        assert_eq!(text, "server restarting (Unavailable)");
    }
}
