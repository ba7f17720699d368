//! The connection to the orch server and how its errors read.

use std::time::Duration;

use orch_proto::credentials::{AuthChannel, with_credentials};
use orch_proto::v1::concurrency_limit_service_client::ConcurrencyLimitServiceClient;
use orch_proto::v1::deployment_service_client::DeploymentServiceClient;
use orch_proto::v1::flow_run_service_client::FlowRunServiceClient;
use orch_proto::v1::schedule_service_client::ScheduleServiceClient;
use orch_proto::v1::server_service_client::ServerServiceClient;
use orch_proto::v1::work_pool_service_client::WorkPoolServiceClient;
use orch_proto::v1::worker_service_client::WorkerServiceClient;
use tonic::transport::Endpoint;
use tonic::{Code, Status};

use crate::error::usage;

/// Sets the message size limits every orch client and the server share.
macro_rules! limited {
    ($client:expr) => {
        $client
            .max_decoding_message_size(orch_proto::MAX_MESSAGE_BYTES)
            .max_encoding_message_size(orch_proto::MAX_MESSAGE_BYTES)
    };
}

/// How long to wait for the server to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a call may wait for the server's answer (streams: for its start),
/// unless `ORCH_REQUEST_TIMEOUT_SECONDS` says otherwise.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Environment variable overriding [`REQUEST_TIMEOUT`], in seconds.
pub const REQUEST_TIMEOUT_VAR: &str = "ORCH_REQUEST_TIMEOUT_SECONDS";

/// The request timeout in force: [`REQUEST_TIMEOUT_VAR`] when set to a positive number.
fn request_timeout() -> Duration {
    std::env::var(REQUEST_TIMEOUT_VAR)
        .ok()
        .and_then(|text| text.trim().parse::<f64>().ok())
        .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
        .filter(|timeout| !timeout.is_zero())
        .unwrap_or(REQUEST_TIMEOUT)
}

/// The server could not be reached.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot reach the orch server at {url}: {cause}. Start it with 'orch server start' or set --api-url / ORCH_API_URL"
)]
pub struct Unreachable {
    /// The API URL tried.
    pub url: String,
    /// A short cause, e.g. `connection refused`.
    pub cause: String,
}

/// A connected client of the orch API.
#[derive(Debug, Clone)]
pub struct Api {
    channel: AuthChannel,
    url: String,
    timeout: Duration,
}

impl Api {
    /// Connects to the server at `url` (`http://` is assumed when no scheme is given).
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let url = normalize_url(url);
        let endpoint = Endpoint::from_shared(url.clone())
            .map_err(|_| {
                usage(format!(
                    "invalid API URL {url:?}: expected e.g. {}",
                    crate::config::DEFAULT_API_URL
                ))
            })?
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(request_timeout())
            .tcp_nodelay(true);
        let channel = endpoint.connect().await.map_err(|error| Unreachable {
            url: url.clone(),
            cause: short_cause(&error),
        })?;
        Ok(Self {
            channel: with_credentials(channel, &url, None),
            url,
            timeout: request_timeout(),
        })
    }

    /// The URL it is connected to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Flows, deployments and starting runs.
    pub fn deployments(&self) -> DeploymentServiceClient<AuthChannel> {
        limited!(DeploymentServiceClient::new(self.channel.clone()))
    }

    /// Flow runs and their logs.
    pub fn flow_runs(&self) -> FlowRunServiceClient<AuthChannel> {
        limited!(FlowRunServiceClient::new(self.channel.clone()))
    }

    /// The server itself.
    pub fn server(&self) -> ServerServiceClient<AuthChannel> {
        limited!(ServerServiceClient::new(self.channel.clone()))
    }

    /// Work pools.
    pub fn work_pools(&self) -> WorkPoolServiceClient<AuthChannel> {
        limited!(WorkPoolServiceClient::new(self.channel.clone()))
    }

    /// Task runs.
    pub fn task_runs(
        &self,
    ) -> orch_proto::v1::task_run_service_client::TaskRunServiceClient<AuthChannel> {
        limited!(
            orch_proto::v1::task_run_service_client::TaskRunServiceClient::new(
                self.channel.clone()
            )
        )
    }

    /// Workers.
    pub fn workers(&self) -> WorkerServiceClient<AuthChannel> {
        limited!(WorkerServiceClient::new(self.channel.clone()))
    }

    /// A deployment's schedules and upcoming runs.
    pub fn schedules(&self) -> ScheduleServiceClient<AuthChannel> {
        limited!(ScheduleServiceClient::new(self.channel.clone()))
    }

    /// The connection, for services without a helper here.
    pub fn channel(&self) -> AuthChannel {
        self.channel.clone()
    }

    /// Tag concurrency limits.
    pub fn concurrency_limits(&self) -> ConcurrencyLimitServiceClient<AuthChannel> {
        limited!(ConcurrencyLimitServiceClient::new(self.channel.clone()))
    }

    /// The error to report for a failed call: the server's own message, or
    /// [`Unreachable`] when the server cannot be reached.
    pub fn error(&self, status: Status) -> anyhow::Error {
        let problem = not_orch(&status).or_else(|| {
            // The connection broke before an answer: ask the peer in HTTP/2
            // whether it speaks it at all.
            connection_lost(&status)
                .then(|| probe_http2(&self.url))
                .flatten()
        });
        if let Some(problem) = problem {
            return anyhow::anyhow!(
                "the server at {} does not speak orch's API ({problem}): is it an orch server? \
                 Check --api-url / ORCH_API_URL",
                self.url
            );
        }
        if is_timeout(&status) {
            return anyhow::anyhow!(
                "the orch server at {} did not answer within {}s; it may be overloaded or stuck \
                 (set {REQUEST_TIMEOUT_VAR} to wait longer)",
                self.url,
                self.timeout.as_secs_f64()
            );
        }
        if status.code() == Code::Unavailable {
            return Unreachable {
                url: self.url.clone(),
                cause: short_status_cause(&status),
            }
            .into();
        }
        let message = status.message().trim();
        if message.is_empty() {
            anyhow::anyhow!("the server answered: {}", status.code().description())
        } else {
            anyhow::anyhow!("{message}")
        }
    }
}

/// Whether the call ran out of the request timeout.
fn is_timeout(status: &Status) -> bool {
    status.code() == Code::DeadlineExceeded
        || (status.code() == Code::Cancelled && status.message().contains("Timeout expired"))
}

/// Why the peer is not an orch server, when the call's failure says so: it
/// answered HTTP/1.1 (or something else) to HTTP/2, or HTTP/2 without gRPC.
fn not_orch(status: &Status) -> Option<&'static str> {
    let mut text = status.message().to_owned();
    let mut source = std::error::Error::source(status);
    while let Some(error) = source {
        text.push_str(": ");
        text.push_str(&error.to_string());
        source = error.source();
    }
    let text = text.to_lowercase();
    if text.contains("h2 protocol error")
        || text.contains("frame with invalid size")
        || text.contains("invalid http version")
        || text.contains("http2 error: connection error detected: frame")
    {
        Some("it did not answer in HTTP/2")
    } else if text.contains("grpc-status header missing") || text.contains("invalid content-type") {
        Some("it answered HTTP, not gRPC")
    } else {
        None
    }
}

/// Whether the call failed because the connection closed before an answer.
fn connection_lost(status: &Status) -> bool {
    let message = status.message().to_lowercase();
    matches!(
        status.code(),
        Code::Cancelled | Code::Unknown | Code::Unavailable
    ) && [
        "operation was canceled",
        "transport error",
        "connection closed",
        "connection reset",
    ]
    .iter()
    .any(|cause| message.contains(cause))
}

/// Sends the HTTP/2 connection preface to `url`'s host and reads the first
/// bytes of the answer: an HTTP/1 status line means the peer does not speak
/// HTTP/2, so it cannot be an orch server. `None` when it cannot tell.
fn probe_http2(url: &str) -> Option<&'static str> {
    use std::io::{Read, Write};
    let address = url.split("://").nth(1)?.split('/').next()?;
    let address = std::net::ToSocketAddrs::to_socket_addrs(address)
        .ok()?
        .next()?;
    let mut stream = std::net::TcpStream::connect_timeout(&address, CONNECT_TIMEOUT).ok()?;
    stream.set_read_timeout(Some(CONNECT_TIMEOUT)).ok()?;
    stream.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").ok()?;
    let mut first = [0_u8; 8];
    let read = stream.read(&mut first).ok()?;
    first[..read]
        .starts_with(b"HTTP/")
        .then_some("it answered in HTTP/1, not HTTP/2")
}

/// Turns a call's result into its reply or a reportable error: `.await.reply(&api)?`.
pub trait Reply<T> {
    /// The reply's message, or [`Api::error`].
    fn reply(self, api: &Api) -> anyhow::Result<T>;
}

impl<T> Reply<T> for Result<tonic::Response<T>, Status> {
    fn reply(self, api: &Api) -> anyhow::Result<T> {
        self.map(tonic::Response::into_inner)
            .map_err(|status| api.error(status))
    }
}

/// `url` with `http://` in front when it has no scheme, and no trailing slash.
pub fn normalize_url(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    if url.contains("://") {
        url.to_owned()
    } else {
        format!("http://{url}")
    }
}

/// The innermost cause of `error`, e.g. `connection refused`.
fn short_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut innermost = error;
    while let Some(source) = innermost.source() {
        innermost = source;
    }
    tidy_cause(&innermost.to_string())
}

/// The cause of an `Unavailable` status: its source's, else its message.
fn short_status_cause(status: &Status) -> String {
    match std::error::Error::source(status) {
        Some(source) => short_cause(source),
        None if status.message().trim().is_empty() => "the server is unavailable".to_owned(),
        None => tidy_cause(status.message()),
    }
}

/// Lower-cases the first letter and drops an OS error number: `Connection refused (os
/// error 111)` becomes `connection refused`.
fn tidy_cause(cause: &str) -> String {
    let cause = match cause.find(" (os error ") {
        Some(index) => &cause[..index],
        None => cause,
    };
    let cause = cause.trim().trim_end_matches('.');
    let mut chars = cause.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => "unknown error".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_get_a_scheme_and_lose_a_trailing_slash() {
        assert_eq!(normalize_url("127.0.0.1:4200"), "http://127.0.0.1:4200");
        assert_eq!(normalize_url("http://h:1/"), "http://h:1");
        assert_eq!(normalize_url("https://h"), "https://h");
    }

    #[test]
    fn causes_are_short_and_lower_case() {
        assert_eq!(
            tidy_cause("Connection refused (os error 111)"),
            "connection refused"
        );
        assert_eq!(tidy_cause("tcp connect error."), "tcp connect error");
        assert_eq!(tidy_cause(""), "unknown error");
    }

    #[test]
    fn protocol_failures_say_the_peer_is_not_an_orch_server() {
        let http1 = Status::unknown("h2 protocol error: http2 error");
        assert_eq!(not_orch(&http1), Some("it did not answer in HTTP/2"));
        let html = Status::unknown("grpc-status header missing, mapped from HTTP status code 404");
        assert_eq!(not_orch(&html), Some("it answered HTTP, not gRPC"));
        assert_eq!(not_orch(&Status::not_found("run x not found")), None);
        assert!(is_timeout(&Status::cancelled("Timeout expired")));
        assert!(!is_timeout(&Status::cancelled("the run was cancelled")));
    }

    #[test]
    fn unreachable_reads_as_one_actionable_line() {
        let error = Unreachable {
            url: "http://127.0.0.1:1".to_owned(),
            cause: "connection refused".to_owned(),
        };
        assert_eq!(
            error.to_string(),
            "cannot reach the orch server at http://127.0.0.1:1: connection refused. \
             Start it with 'orch server start' or set --api-url / ORCH_API_URL"
        );
    }
}
