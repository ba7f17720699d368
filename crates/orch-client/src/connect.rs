//! The one way to open a connection to the orch server.
//!
//! [`ClientOptions`] says where and how (timeouts, keepalive, credentials);
//! [`Api`] is the connection, handing out a client of each gRPC service with
//! orch's message size limit set. Every call goes through the [`Credentials`]
//! interceptor, the one place a credential is attached to a request, and
//! through [`Failover`], which sends it to one of the servers named (several
//! replicas on one database may be), moving to the next when one fails.

use std::fmt;
use std::time::Duration;

use orch_core::defaults;
use orch_proto::v1::artifact_service_client::ArtifactServiceClient;
use orch_proto::v1::audit_service_client::AuditServiceClient;
use orch_proto::v1::automation_service_client::AutomationServiceClient;
use orch_proto::v1::concurrency_limit_service_client::ConcurrencyLimitServiceClient;
use orch_proto::v1::deployment_service_client::DeploymentServiceClient;
use orch_proto::v1::flow_run_service_client::FlowRunServiceClient;
use orch_proto::v1::schedule_service_client::ScheduleServiceClient;
use orch_proto::v1::secret_service_client::SecretServiceClient;
use orch_proto::v1::server_service_client::ServerServiceClient;
use orch_proto::v1::task_run_service_client::TaskRunServiceClient;
use orch_proto::v1::token_service_client::TokenServiceClient;
use orch_proto::v1::work_pool_service_client::WorkPoolServiceClient;
use orch_proto::v1::worker_service_client::WorkerServiceClient;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use crate::failover::{Failover, Rotation};
pub use crate::urls::normalize_url;
use crate::urls::split_urls;

/// The request metadata key a credential travels in.
pub const AUTHORIZATION: &str = "authorization";

/// Where the server is and how to talk to it. Start from [`ClientOptions::new`]
/// (the defaults of [`orch_core::defaults`]) and change what differs.
#[derive(Clone)]
pub struct ClientOptions {
    /// The server's URL, or the URLs of several replicas separated by
    /// commas (tried in order, see [`crate::failover`]); `http://` is
    /// assumed when no scheme is given.
    pub url: String,
    /// How long connecting may take, at start and on every reconnect.
    pub connect_timeout: Duration,
    /// How long a call may wait for the server's answer (a stream: for its
    /// start). A call past it fails with `CANCELLED: Timeout expired`.
    pub request_timeout: Duration,
    /// Interval of HTTP/2 pings, which detect a server that vanished without
    /// closing the connection (a network partition), idle or not.
    pub keepalive_interval: Duration,
    /// How long a ping may go unanswered before the connection is dropped.
    pub keepalive_timeout: Duration,
    /// The API key sent as `authorization: Bearer <key>` with every call.
    pub api_key: Option<String>,
    /// A CA certificate (PEM) to trust for `https://` besides the system's
    /// roots (`--tls-ca`); `None`: `ORCH_TLS_CA` when set.
    pub tls_ca: Option<std::path::PathBuf>,
}

impl ClientOptions {
    /// Options for the server at `url` (or the replicas of a comma-separated
    /// list), with the defaults for everything else.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            connect_timeout: defaults::CONNECT_TIMEOUT,
            request_timeout: defaults::REQUEST_TIMEOUT,
            keepalive_interval: defaults::KEEPALIVE_INTERVAL,
            keepalive_timeout: defaults::KEEPALIVE_TIMEOUT,
            api_key: None,
            tls_ca: None,
        }
    }

    /// The same options trusting the CA certificate in `ca` for `https://`.
    #[must_use]
    pub fn with_tls_ca(mut self, ca: Option<std::path::PathBuf>) -> Self {
        self.tls_ca = ca;
        self
    }

    /// The same options with another request timeout.
    #[must_use]
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The same options with an API key (`None` or empty: no credential).
    #[must_use]
    pub fn with_api_key(mut self, key: Option<String>) -> Self {
        self.api_key = key.filter(|key| !key.trim().is_empty());
        self
    }

    /// The servers' URLs, normalized, in the order given.
    ///
    /// # Errors
    ///
    /// [`ConnectError::InvalidUrl`] when the setting names no URL.
    pub fn urls(&self) -> Result<Vec<String>, ConnectError> {
        let urls = split_urls(&self.url);
        if urls.is_empty() {
            return Err(ConnectError::InvalidUrl {
                url: self.url.clone(),
                reason: "it names no server".to_owned(),
            });
        }
        Ok(urls)
    }

    /// The endpoint of the server at `url` (normalized), or why it is unusable.
    fn endpoint(&self, url: &str) -> Result<Endpoint, ConnectError> {
        let url = url.to_owned();
        let endpoint = Endpoint::from_shared(url.clone())
            .map_err(|error| ConnectError::InvalidUrl {
                url: url.clone(),
                reason: error_text(&error),
            })?
            .connect_timeout(self.connect_timeout)
            .timeout(self.request_timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(self.keepalive_interval)
            .keep_alive_timeout(self.keepalive_timeout)
            .keep_alive_while_idle(true);
        orch_proto::tls::secure(endpoint, &url, self.tls_ca.as_deref()).map_err(ConnectError::Tls)
    }
}

impl fmt::Debug for ClientOptions {
    /// Everything but the API key, which is only said to be set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOptions")
            .field("url", &self.url)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("keepalive_interval", &self.keepalive_interval)
            .field("keepalive_timeout", &self.keepalive_timeout)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("tls_ca", &self.tls_ca)
            .finish()
    }
}

/// Why a connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL is not one a channel can be opened to.
    #[error(
        "invalid orch API URL {url:?}: {reason}. Expected something like {}",
        defaults::API_URL
    )]
    InvalidUrl {
        /// The URL as normalized.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The server did not accept the connection.
    #[error(
        "cannot reach the orch server at {url}: {}. {}",
        short_cause(.source),
        orch_proto::tls::hint(url, &format!("{source:?}")).unwrap_or("Start it with 'orch server start' or set --api-url / ORCH_API_URL")
    )]
    Unreachable {
        /// The URL tried.
        url: String,
        /// The transport's error.
        #[source]
        source: tonic::transport::Error,
    },
    /// None of several servers accepted the connection.
    #[error(
        "cannot reach any of the orch servers: {}. Start one with 'orch server start' or fix --api-url / ORCH_API_URL",
        servers.iter().map(|(url, cause)| format!("{url}: {cause}")).collect::<Vec<_>>().join("; ")
    )]
    NoneReachable {
        /// Each URL tried, with why it could not be reached (a TLS hint included).
        servers: Vec<(String, String)>,
    },
    /// The API key cannot be sent in a request header.
    #[error(
        "the orch API key is not usable: it must be printable ASCII without spaces; check --api-key / ORCH_API_KEY"
    )]
    InvalidApiKey,
    /// TLS cannot be set up (an unreadable CA file), with what to do.
    #[error("{0}")]
    Tls(String),
}

/// Attaches the configured credential to every request: the one place where
/// requests get their `authorization` header.
#[derive(Clone, Default)]
pub struct Credentials {
    bearer: Option<AsciiMetadataValue>,
}

impl Credentials {
    /// No credential: requests go out as they are.
    pub fn none() -> Self {
        Self::default()
    }

    /// `authorization: Bearer <key>` on every request.
    ///
    /// # Errors
    ///
    /// [`ConnectError::InvalidApiKey`] when `key` cannot be a header value.
    pub fn bearer(key: &str) -> Result<Self, ConnectError> {
        let key = key.trim();
        if key.is_empty() || !key.bytes().all(|byte| byte.is_ascii_graphic()) {
            return Err(ConnectError::InvalidApiKey);
        }
        let mut value: AsciiMetadataValue = MetadataValue::try_from(format!("Bearer {key}"))
            .map_err(|_| ConnectError::InvalidApiKey)?;
        value.set_sensitive(true);
        Ok(Self {
            bearer: Some(value),
        })
    }

    /// Whether a credential is attached.
    pub fn is_set(&self) -> bool {
        self.bearer.is_some()
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bearer = if self.is_set() {
            "Bearer <redacted>"
        } else {
            "none"
        };
        f.debug_tuple("Credentials").field(&bearer).finish()
    }
}

impl Interceptor for Credentials {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.bearer {
            request.metadata_mut().insert(AUTHORIZATION, value.clone());
        }
        Ok(request)
    }
}

/// The transport every service client of an [`Api`] runs on: the
/// [`Failover`] over one channel per server, through the [`Credentials`]
/// interceptor.
pub type Transport = InterceptedService<Failover, Credentials>;

/// A connection to the orch server (to one of several replicas at a time,
/// see [`crate::failover`]). Cloning is cheap: clones share the connections,
/// which are re-established on their own after a server comes back.
#[derive(Clone, Debug)]
pub struct Api {
    transport: Transport,
    failover: Failover,
    request_timeout: Duration,
}

/// Sets the message size limits every orch client and the server share.
macro_rules! limited {
    ($client:ident, $transport:expr) => {
        $client::new($transport)
            .max_decoding_message_size(orch_proto::MAX_MESSAGE_BYTES)
            .max_encoding_message_size(orch_proto::MAX_MESSAGE_BYTES)
    };
}

impl Api {
    /// Connects now, failing at once if no server answers. Of several
    /// URLs, the first that accepts the connection is used; the others are
    /// connected to when calls fail over to them.
    ///
    /// # Errors
    ///
    /// A URL or the API key is unusable, or no server can be reached
    /// ([`ConnectError::Unreachable`] for one URL,
    /// [`ConnectError::NoneReachable`] naming each of several).
    pub async fn connect(options: &ClientOptions) -> Result<Self, ConnectError> {
        let urls = options.urls()?;
        let credentials = credentials(options, &urls)?;
        let endpoints = urls
            .iter()
            .map(|url| options.endpoint(url))
            .collect::<Result<Vec<_>, _>>()?;
        let mut rotation = Rotation::new(urls.clone());
        let mut unreached = Vec::new();
        for (index, endpoint) in endpoints.iter().enumerate() {
            match endpoint.connect().await {
                Ok(channel) => {
                    rotation.start_at(index);
                    let channels = endpoints
                        .iter()
                        .enumerate()
                        .map(|(other, endpoint)| {
                            if other == index {
                                channel.clone()
                            } else {
                                endpoint.connect_lazy()
                            }
                        })
                        .collect();
                    for (url, cause) in unreached {
                        tracing::warn!(
                            "cannot reach the orch server at {url} ({cause}); using {}",
                            urls[index]
                        );
                    }
                    return Ok(Self::over(channels, rotation, credentials, options));
                }
                Err(source) if urls.len() == 1 => {
                    return Err(ConnectError::Unreachable {
                        url: urls[index].clone(),
                        source,
                    });
                }
                Err(source) => {
                    let mut cause = short_cause(&source);
                    if let Some(hint) = orch_proto::tls::hint(&urls[index], &format!("{source:?}"))
                    {
                        cause = format!("{cause}; {hint}");
                    }
                    unreached.push((urls[index].clone(), cause));
                }
            }
        }
        Err(ConnectError::NoneReachable { servers: unreached })
    }

    /// A connection opened on first use: creating it never fails for an
    /// unreachable server; calls do, until one is reachable. Of several URLs,
    /// calls go to the first until it fails.
    ///
    /// # Errors
    ///
    /// A URL or the API key is unusable.
    pub fn connect_lazy(options: &ClientOptions) -> Result<Self, ConnectError> {
        let urls = options.urls()?;
        let credentials = credentials(options, &urls)?;
        let channels = urls
            .iter()
            .map(|url| {
                options
                    .endpoint(url)
                    .map(|endpoint| endpoint.connect_lazy())
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::over(
            channels,
            Rotation::new(urls),
            credentials,
            options,
        ))
    }

    fn over(
        channels: Vec<Channel>,
        rotation: Rotation,
        credentials: Credentials,
        options: &ClientOptions,
    ) -> Self {
        let failover = Failover::new(channels, rotation);
        Self {
            transport: InterceptedService::new(failover.clone(), credentials),
            failover,
            request_timeout: options.request_timeout,
        }
    }

    /// The URL of the server calls go to now, normalized (`http://host:port`).
    pub fn url(&self) -> String {
        let rotation = self.failover.snapshot();
        rotation.urls()[rotation.current()].clone()
    }

    /// Every server's URL, in the order given.
    pub fn urls(&self) -> Vec<String> {
        self.failover.snapshot().urls().to_vec()
    }

    /// Every server's URL, starting with the one calls go to now: the list
    /// to hand on (to a flow process), so that it starts where this client is.
    pub fn urls_from_current(&self) -> Vec<String> {
        let rotation = self.failover.snapshot();
        crate::urls::rotated(rotation.urls(), rotation.current())
    }

    /// Each server's URL with why the last call to it failed (`None`: it
    /// answered, or was not tried), for an error naming every server.
    pub fn failures(&self) -> Vec<(String, Option<String>)> {
        self.failover.snapshot().report()
    }

    /// The same connection, sending `key` as its credential instead: e.g. a
    /// subflow run's own credential, used beside its parent's.
    ///
    /// # Errors
    ///
    /// [`ConnectError::InvalidApiKey`] when `key` cannot be a header value.
    pub fn with_api_key(&self, key: &str) -> Result<Self, ConnectError> {
        Ok(Self {
            transport: InterceptedService::new(self.failover.clone(), Credentials::bearer(key)?),
            failover: self.failover.clone(),
            request_timeout: self.request_timeout,
        })
    }

    /// How long a call waits for an answer.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// The transport, for a service without a helper here.
    pub fn transport(&self) -> Transport {
        self.transport.clone()
    }

    /// Flows, deployments and starting runs.
    pub fn deployments(&self) -> DeploymentServiceClient<Transport> {
        limited!(DeploymentServiceClient, self.transport())
    }

    /// Flow runs: their states and logs.
    pub fn flow_runs(&self) -> FlowRunServiceClient<Transport> {
        limited!(FlowRunServiceClient, self.transport())
    }

    /// Task runs.
    pub fn task_runs(&self) -> TaskRunServiceClient<Transport> {
        limited!(TaskRunServiceClient, self.transport())
    }

    /// The server itself.
    pub fn server(&self) -> ServerServiceClient<Transport> {
        limited!(ServerServiceClient, self.transport())
    }

    /// Work pools.
    pub fn work_pools(&self) -> WorkPoolServiceClient<Transport> {
        limited!(WorkPoolServiceClient, self.transport())
    }

    /// Workers: registration, claims, heartbeats, events.
    pub fn workers(&self) -> WorkerServiceClient<Transport> {
        limited!(WorkerServiceClient, self.transport())
    }

    /// A deployment's schedules and upcoming runs.
    pub fn schedules(&self) -> ScheduleServiceClient<Transport> {
        limited!(ScheduleServiceClient, self.transport())
    }

    /// Tag concurrency limits and their slots.
    pub fn concurrency_limits(&self) -> ConcurrencyLimitServiceClient<Transport> {
        limited!(ConcurrencyLimitServiceClient, self.transport())
    }

    /// Artifacts flows publish.
    pub fn artifacts(&self) -> ArtifactServiceClient<Transport> {
        limited!(ArtifactServiceClient, self.transport())
    }

    /// Secrets (names in, never values out).
    pub fn secrets(&self) -> SecretServiceClient<Transport> {
        limited!(SecretServiceClient, self.transport())
    }

    /// Automations and the custom events that trigger them.
    pub fn automations(&self) -> AutomationServiceClient<Transport> {
        limited!(AutomationServiceClient, self.transport())
    }

    /// API tokens (admin).
    pub fn tokens(&self) -> TokenServiceClient<Transport> {
        limited!(TokenServiceClient, self.transport())
    }

    /// The audit trail.
    pub fn audit(&self) -> AuditServiceClient<Transport> {
        limited!(AuditServiceClient, self.transport())
    }
}

/// The interceptor for `options`: one key for every URL (replicas share
/// one database, so one key is valid on all): the explicit one, else the
/// credentials file's entry for the first URL that has one.
fn credentials(options: &ClientOptions, urls: &[String]) -> Result<Credentials, ConnectError> {
    let explicit = options
        .api_key
        .as_deref()
        .filter(|key| !key.trim().is_empty());
    let key = urls
        .iter()
        .find_map(|url| orch_proto::credentials::api_key_for(url, explicit));
    match key {
        Some(key) => Credentials::bearer(&key),
        None => Ok(Credentials::none()),
    }
}

/// An error and its sources, as one line.
fn error_text(error: &(dyn std::error::Error + 'static)) -> String {
    crate::retry::error_chain(error)
}

/// The innermost cause of `error`, short and lower-case: `connection refused`.
pub fn short_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut innermost = error;
    while let Some(source) = innermost.source() {
        innermost = source;
    }
    tidy_cause(&innermost.to_string())
}

/// Lower-cases the first letter and drops an OS error number: `Connection
/// refused (os error 111)` becomes `connection refused`.
pub fn tidy_cause(cause: &str) -> String {
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
    fn causes_are_short_and_lower_case() {
        assert_eq!(
            tidy_cause("Connection refused (os error 111)"),
            "connection refused"
        );
        assert_eq!(tidy_cause("tcp connect error."), "tcp connect error");
        assert_eq!(tidy_cause(""), "unknown error");
    }

    #[test]
    fn api_keys_are_checked_and_never_printed() {
        assert!(matches!(
            Credentials::bearer("two words"),
            Err(ConnectError::InvalidApiKey)
        ));
        assert!(matches!(
            Credentials::bearer("caf\u{e9}"),
            Err(ConnectError::InvalidApiKey)
        ));
        let credentials = Credentials::bearer("orch_secret_123").unwrap();
        assert!(credentials.is_set());
        assert!(!format!("{credentials:?}").contains("secret"));
        let options = ClientOptions::new("h:1").with_api_key(Some("orch_secret_123".into()));
        assert!(!format!("{options:?}").contains("secret"));
        let none = ClientOptions::new("h:1").with_api_key(Some("  ".into()));
        assert!(none.api_key.is_none());
    }

    #[test]
    fn a_list_naming_no_server_is_explained() {
        let error = Api::connect_lazy(&ClientOptions::new(" , ")).unwrap_err();
        assert!(error.to_string().contains("it names no server"), "{error}");
    }

    #[tokio::test]
    async fn a_lazy_connection_starts_with_the_first_url_and_knows_them_all() {
        let api = Api::connect_lazy(&ClientOptions::new("a:1, b:2")).unwrap();
        assert_eq!(api.url(), "http://a:1");
        assert_eq!(api.urls(), ["http://a:1", "http://b:2"]);
        assert_eq!(api.urls_from_current(), ["http://a:1", "http://b:2"]);
    }

    #[test]
    fn a_bad_url_is_explained() {
        let error = Api::connect_lazy(&ClientOptions::new("http://bad host:1")).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("invalid orch API URL \"http://bad host:1\""),
            "{error}"
        );
    }
}
