//! Sending encoded task attempts to the collector ([`crate::otlp`]).
//!
//! The maintained exporter takes `SpanData` only, so the bytes written
//! straight from task attempts go through this small transport instead,
//! configured from the same standard variables the maintained exporter
//! reads:
//!
//! - the protocol: `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, else
//!   `OTEL_EXPORTER_OTLP_PROTOCOL`: `grpc`, or `http/protobuf` (anything
//!   else, like the maintained exporter built without JSON);
//! - the address: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as it is, else
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` (plus `/v1/traces` over HTTP);
//! - headers: `OTEL_EXPORTER_OTLP_TRACES_HEADERS`, else
//!   `OTEL_EXPORTER_OTLP_HEADERS` (`key=value,...`, values percent-decoded);
//! - the timeout of a request: `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`, else
//!   `OTEL_EXPORTER_OTLP_TIMEOUT`, in milliseconds (10 s).
//!
//! HTTP is a POST of `application/x-protobuf` through reqwest's blocking
//! client (the client the maintained exporter uses, built on the export
//! thread); gRPC is the unary `TraceService/Export` call through tonic, with
//! a codec passing the encoded request through. Failures the OTLP
//! specification calls transient (no answer, HTTP 429/502/503/504, gRPC
//! `UNAVAILABLE` and the like) are retried with backon's exponential
//! back-off, as the maintained exporter's recommended policy does (3
//! retries, 100 ms to 1.6 s, with jitter).

use std::time::Duration;

use backon::{BlockingRetryable as _, ExponentialBuilder};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::Bytes;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

/// Where encoded requests of task attempts go.
pub(crate) trait AttemptSink: Send + 'static {
    /// Sends one encoded `ExportTraceServiceRequest`.
    ///
    /// # Errors
    ///
    /// The collector did not take it (after the retries), said for the log.
    fn send(&mut self, request: &[u8]) -> Result<(), String>;
}

const HTTP_DEFAULT: &str = "http://localhost:4318";
const GRPC_DEFAULT: &str = "http://localhost:4317";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// The transport's settings, from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Settings {
    pub grpc: bool,
    /// The URL requests go to (gRPC: the server's).
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
}

impl Settings {
    /// The settings the standard variables describe.
    pub(crate) fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Settings {
        let set = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let either = |traces: &str, all: &str| set(traces).or_else(|| set(all));
        let grpc = either(
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        )
        .is_some_and(|protocol| protocol.trim() == "grpc");
        let url = match set(crate::ENV_TRACES_ENDPOINT) {
            Some(url) => url.trim().to_owned(),
            None => {
                let base = set(crate::ENV_ENDPOINT);
                let default = if grpc { GRPC_DEFAULT } else { HTTP_DEFAULT };
                let base = base.as_deref().map_or(default, str::trim);
                if grpc {
                    base.to_owned()
                } else {
                    format!("{}/v1/traces", base.trim_end_matches('/'))
                }
            }
        };
        let headers = either(
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
            "OTEL_EXPORTER_OTLP_HEADERS",
        )
        .map(|text| parse_headers(&text))
        .unwrap_or_default();
        let timeout = [
            "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
            "OTEL_EXPORTER_OTLP_TIMEOUT",
        ]
        .iter()
        .find_map(|name| set(name).and_then(|value| value.trim().parse::<u64>().ok()))
        .map_or(DEFAULT_TIMEOUT, Duration::from_millis);
        Settings {
            grpc,
            url,
            headers,
            timeout,
        }
    }
}

/// `key=value,key2=value2`, values percent-decoded; pairs without a key or
/// a value are left out (as the maintained exporter does).
fn parse_headers(text: &str) -> Vec<(String, String)> {
    text.split(',')
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, value)| {
            let value = value.trim();
            let decoded = percent_encoding::percent_decode_str(value)
                .decode_utf8()
                .map_or_else(|_| value.to_owned(), |text| text.into_owned());
            (key.trim().to_owned(), decoded)
        })
        .filter(|(key, value)| !key.is_empty() && !value.is_empty())
        .collect()
}

/// The back-off between attempts of one request.
fn backoff(timeout: Duration) -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_millis(1600))
        .with_max_times(3)
        .with_total_delay(Some(timeout))
        .with_jitter()
}

/// A failed request, and whether trying again may help.
struct Failure {
    message: String,
    transient: bool,
}

/// The transport of the configured protocol.
pub(crate) fn from_settings(settings: &Settings) -> Result<Box<dyn AttemptSink>, String> {
    if settings.grpc {
        Ok(Box::new(Grpc::new(settings)?))
    } else {
        Ok(Box::new(Http::new(settings)?))
    }
}

/// OTLP/HTTP with protobuf bodies.
struct Http {
    url: String,
    headers: reqwest::header::HeaderMap,
    timeout: Duration,
    /// Built on the export thread at the first request (reqwest's blocking
    /// client may not be built or dropped inside an async runtime).
    client: Option<reqwest::blocking::Client>,
}

impl Http {
    fn new(settings: &Settings) -> Result<Http, String> {
        let url = reqwest::Url::parse(&settings.url).map_err(|error| {
            format!(
                "cannot export traces to '{}': {error}; set {} to a URL like http://collector:4318",
                settings.url,
                crate::ENV_ENDPOINT
            )
        })?;
        let mut headers = reqwest::header::HeaderMap::new();
        for (key, value) in &settings.headers {
            let name = reqwest::header::HeaderName::from_bytes(key.as_bytes());
            let value = reqwest::header::HeaderValue::from_str(value);
            match (name, value) {
                (Ok(name), Ok(value)) => {
                    headers.insert(name, value);
                }
                _ => tracing::warn!(
                    "the OTLP header '{key}' is not a valid HTTP header; it is not sent"
                ),
            }
        }
        Ok(Http {
            url: url.into(),
            headers,
            timeout: settings.timeout,
            client: None,
        })
    }

    fn post(client: &reqwest::blocking::Client, http: &Http, body: &[u8]) -> Result<(), Failure> {
        let response = client
            .post(&http.url)
            .headers(http.headers.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
            .body(body.to_vec())
            .send()
            .map_err(|error| Failure {
                message: format!("no answer from {}: {error}", http.url),
                transient: true,
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        Err(Failure {
            message: format!("{} answered {status}", http.url),
            transient: matches!(status.as_u16(), 429 | 502 | 503 | 504),
        })
    }
}

impl AttemptSink for Http {
    fn send(&mut self, request: &[u8]) -> Result<(), String> {
        if self.client.is_none() {
            let client = reqwest::blocking::Client::builder()
                .user_agent(concat!("orch-telemetry/", env!("CARGO_PKG_VERSION")))
                .timeout(self.timeout)
                .build()
                .map_err(|error| format!("cannot build the HTTP client for traces: {error}"))?;
            self.client = Some(client);
        }
        let http = &*self;
        let client = http.client.as_ref().expect("built above");
        (|| Http::post(client, http, request))
            .retry(backoff(http.timeout))
            .sleep(std::thread::sleep)
            .when(|failure| failure.transient)
            .call()
            .map_err(|failure| failure.message)
    }
}

/// OTLP/gRPC: the unary `Export` call with the request passed through.
struct Grpc {
    url: String,
    channel: Channel,
    metadata: MetadataMap,
    timeout: Duration,
}

impl Grpc {
    /// Connects lazily (inside the caller's tokio runtime, like the
    /// maintained exporter's channel).
    fn new(settings: &Settings) -> Result<Grpc, String> {
        let invalid = |error: &dyn std::fmt::Display| {
            format!(
                "cannot export traces to '{}': {error}; set {} to a URL like http://collector:4317",
                settings.url,
                crate::ENV_ENDPOINT
            )
        };
        let mut endpoint = Endpoint::from_shared(settings.url.clone())
            .map_err(|error| invalid(&error))?
            .timeout(settings.timeout);
        if settings.url.starts_with("https:") {
            endpoint = endpoint
                .tls_config(ClientTlsConfig::new().with_native_roots())
                .map_err(|error| invalid(&error))?;
        }
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(format!(
                "cannot export traces over gRPC to '{}' from outside a tokio runtime; \
                 set OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
                settings.url
            ));
        }
        let channel = endpoint.connect_lazy();
        let mut metadata = MetadataMap::new();
        for (key, value) in &settings.headers {
            let name = MetadataKey::from_bytes(key.to_ascii_lowercase().as_bytes());
            let value = MetadataValue::try_from(value.as_str());
            match (name, value) {
                (Ok(name), Ok(value)) => {
                    metadata.insert(name, value);
                }
                _ => tracing::warn!(
                    "the OTLP header '{key}' is not valid gRPC metadata; it is not sent"
                ),
            }
        }
        Ok(Grpc {
            url: settings.url.clone(),
            channel,
            metadata,
            timeout: settings.timeout,
        })
    }

    fn export(&self, body: Bytes) -> Result<(), Failure> {
        let mut client = tonic::client::Grpc::new(self.channel.clone());
        let mut request = tonic::Request::new(body);
        *request.metadata_mut() = self.metadata.clone();
        let call = async {
            client
                .ready()
                .await
                .map_err(|error| tonic::Status::unavailable(format!("cannot connect: {error}")))?;
            client
                .unary(request, PathAndQuery::from_static(EXPORT_PATH), PassThrough)
                .await
        };
        match futures::executor::block_on(call) {
            Ok(_) => Ok(()),
            Err(status) => Err(Failure {
                message: format!("{} answered {status}", self.url),
                transient: matches!(
                    status.code(),
                    tonic::Code::Cancelled
                        | tonic::Code::DeadlineExceeded
                        | tonic::Code::Aborted
                        | tonic::Code::OutOfRange
                        | tonic::Code::Unavailable
                        | tonic::Code::DataLoss
                ),
            }),
        }
    }
}

impl AttemptSink for Grpc {
    fn send(&mut self, request: &[u8]) -> Result<(), String> {
        let body = Bytes::copy_from_slice(request);
        (|| self.export(body.clone()))
            .retry(backoff(self.timeout))
            .sleep(std::thread::sleep)
            .when(|failure| failure.transient)
            .call()
            .map_err(|failure| failure.message)
    }
}

/// A codec sending an already encoded message as it is (and reading the
/// answer, an `ExportTraceServiceResponse`, as bytes it does not need).
#[derive(Debug, Clone, Copy, Default)]
struct PassThrough;

impl Codec for PassThrough {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = PassThrough;
    type Decoder = PassThrough;

    fn encoder(&mut self) -> PassThrough {
        PassThrough
    }

    fn decoder(&mut self) -> PassThrough {
        PassThrough
    }
}

impl Encoder for PassThrough {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        use prost::bytes::BufMut as _;
        dst.put(item);
        Ok(())
    }
}

impl Decoder for PassThrough {
    type Item = Bytes;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, tonic::Status> {
        use prost::bytes::Buf as _;
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// A sink keeping what it is sent (for tests).
#[cfg(test)]
#[derive(Debug, Clone, Default)]
pub(crate) struct Recorded(std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>);

#[cfg(test)]
impl Recorded {
    /// The requests sent so far, decoded by opentelemetry-proto.
    pub(crate) fn decoded(
        &self,
    ) -> Vec<opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest> {
        use prost::Message as _;
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|bytes| {
                opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::decode(
                    bytes.as_slice(),
                )
                .expect("a valid ExportTraceServiceRequest")
            })
            .collect()
    }
}

#[cfg(test)]
impl AttemptSink for Recorded {
    fn send(&mut self, request: &[u8]) -> Result<(), String> {
        self.0.lock().unwrap().push(request.to_vec());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Settings {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(|name| {
            vars.iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
        })
    }

    #[test]
    fn the_settings_are_the_standard_variables() {
        let http = settings(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "x-key=s3cr%3Dt, empty=,=nokey,b = 2",
            ),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
        ]);
        assert_eq!(
            http,
            Settings {
                grpc: false,
                url: "http://collector:4318/v1/traces".into(),
                headers: vec![("x-key".into(), "s3cr=t".into()), ("b".into(), "2".into())],
                timeout: Duration::from_millis(2500),
            }
        );
        // The traces variables win, and their endpoint is taken as it is.
        let traces = settings(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://all:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://traces:9999/custom",
            ),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "a=1"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "t=2"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "1"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "3"),
        ]);
        assert_eq!(
            traces,
            Settings {
                grpc: true,
                url: "http://traces:9999/custom".into(),
                headers: vec![("t".into(), "2".into())],
                timeout: Duration::from_millis(3),
            }
        );
        let grpc = settings(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon"),
        ]);
        assert_eq!(grpc.url, "http://collector:4317");
        assert_eq!(grpc.timeout, DEFAULT_TIMEOUT);
        assert_eq!(settings(&[]).url, "http://localhost:4318/v1/traces");
    }

    #[test]
    fn an_invalid_address_is_refused_with_what_to_set() {
        let error = from_settings(&settings(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url")]))
            .err()
            .expect("an invalid URL is refused");
        assert!(error.contains("not a url") && error.contains("OTEL_EXPORTER_OTLP_ENDPOINT"));
    }
}
