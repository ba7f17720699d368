//! The connection to the orch server and how its errors read.

use std::ops::Deref;
use std::time::Duration;

use orch_client::connect::{short_cause, tidy_cause};
use orch_client::retry::is_timeout;
use orch_client::{ClientOptions, ConnectError};
use orch_core::defaults;
use tonic::{Code, Status};

use crate::config_roles::ENV_REQUEST_TIMEOUT;
use crate::error::usage;

/// The CA certificate of `--tls-ca`, set once at start.
static TLS_CA: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();

/// Records `--tls-ca` (before any connection).
pub fn set_tls_ca(ca: Option<std::path::PathBuf>) {
    let _ = TLS_CA.set(ca);
}

/// The CA certificate to trust besides the system's: `--tls-ca`, else `ORCH_TLS_CA`.
pub fn tls_ca() -> Option<&'static std::path::Path> {
    TLS_CA.get().and_then(Option::as_deref)
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

/// None of several servers could be reached.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot reach any of the orch servers: {}. Start one with 'orch server start' or fix --api-url / ORCH_API_URL",
    servers.iter().map(|(url, cause)| format!("{url}: {cause}")).collect::<Vec<_>>().join("; ")
)]
pub struct NoneReachable {
    /// Each URL with why it could not be reached.
    pub servers: Vec<(String, String)>,
}

/// A connection to the orch server (orch-client's, see [`orch_client::Api`]
/// for its service clients), with the CLI's reading of failed calls.
#[derive(Debug, Clone)]
pub struct Api {
    inner: orch_client::Api,
}

impl Deref for Api {
    type Target = orch_client::Api;

    fn deref(&self) -> &orch_client::Api {
        &self.inner
    }
}

impl Api {
    /// Connects to the server at `url` (`http://` is assumed when no scheme is given), or
    /// to the first that answers of several comma-separated URLs; calls wait up to
    /// `request_timeout` for an answer.
    pub async fn connect(url: &str, request_timeout: Duration) -> anyhow::Result<Self> {
        let options = ClientOptions::new(url)
            .with_request_timeout(request_timeout)
            .with_tls_ca(tls_ca().map(std::path::Path::to_path_buf));
        match orch_client::Api::connect(&options).await {
            Ok(inner) => Ok(Self { inner }),
            Err(ConnectError::InvalidUrl { url, .. }) => Err(usage(format!(
                "invalid API URL {url:?}: expected e.g. {}",
                defaults::API_URL
            ))),
            Err(ConnectError::Unreachable { url, source }) => {
                let mut cause = short_cause(&source);
                if let Some(hint) = orch_proto::tls::hint(&url, &format!("{source:?}")) {
                    cause = format!("{cause}; {hint}");
                }
                Err(Unreachable { url, cause }.into())
            }
            Err(ConnectError::NoneReachable { servers }) => Err(NoneReachable { servers }.into()),
            Err(error) => Err(usage(error.to_string())),
        }
    }

    /// The error to report for a failed call: the server's own message, or
    /// [`Unreachable`] when the server cannot be reached.
    pub fn error(&self, status: Status) -> anyhow::Error {
        let problem = not_orch(&status).or_else(|| {
            // The connection broke before an answer: ask the peer in HTTP/2
            // whether it speaks it at all.
            connection_lost(&status)
                .then(|| probe_http2(&self.url()))
                .flatten()
        });
        if let Some(problem) = problem {
            return anyhow::anyhow!(
                "the server at {} does not speak orch's API ({problem}): is it an orch server? \
                 Check --api-url / ORCH_API_URL",
                self.url()
            );
        }
        if is_timeout(&status) {
            return anyhow::anyhow!(
                "the orch server at {} did not answer within {}s; it may be overloaded or stuck \
                 (set {ENV_REQUEST_TIMEOUT} or client.request_timeout_seconds to wait longer)",
                self.url(),
                self.request_timeout().as_secs_f64()
            );
        }
        if status.code() == Code::Unavailable {
            if let Some(all) = self.unreachable_servers() {
                return all.into();
            }
            return Unreachable {
                url: self.url().to_owned(),
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

impl Api {
    /// With several servers, each with why it could not be reached (one not
    /// tried yet says so); `None` with one server.
    pub fn unreachable_servers(&self) -> Option<NoneReachable> {
        let failures = self.failures();
        (failures.len() > 1).then(|| NoneReachable {
            servers: failures
                .into_iter()
                .map(|(url, cause)| {
                    let cause = cause.unwrap_or_else(|| {
                        "not tried yet (run the command again to use it)".to_owned()
                    });
                    (url, cause)
                })
                .collect(),
        })
    }
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
    let mut stream =
        std::net::TcpStream::connect_timeout(&address, defaults::CONNECT_TIMEOUT).ok()?;
    stream
        .set_read_timeout(Some(defaults::CONNECT_TIMEOUT))
        .ok()?;
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

/// The cause of an `Unavailable` status: its source's, else its message.
fn short_status_cause(status: &Status) -> String {
    match std::error::Error::source(status) {
        Some(source) => short_cause(source),
        None if status.message().trim().is_empty() => "the server is unavailable".to_owned(),
        None => tidy_cause(status.message()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn several_unreachable_servers_are_each_named_with_their_cause() {
        let error = NoneReachable {
            servers: vec![
                ("http://a:1".to_owned(), "connection refused".to_owned()),
                ("http://b:2".to_owned(), "timed out".to_owned()),
            ],
        };
        assert_eq!(
            error.to_string(),
            "cannot reach any of the orch servers: http://a:1: connection refused; \
             http://b:2: timed out. Start one with 'orch server start' or fix --api-url / \
             ORCH_API_URL"
        );
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
