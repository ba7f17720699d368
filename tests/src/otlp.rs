//! A test OpenTelemetry collector: an OTLP/HTTP endpoint on loopback that
//! decodes the protobuf export requests (`POST /v1/traces`) it receives and
//! keeps their spans for the test to look at; or the same as an OTLP/gRPC
//! endpoint (the collector's `TraceService/Export`, served by tonic).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message;

/// A span as received: ids in lower-case hex, attributes as text.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedSpan {
    /// `service.name` of the process that sent it.
    pub service: String,
    /// The span's name.
    pub name: String,
    /// 32 hex digits.
    pub trace_id: String,
    /// 16 hex digits.
    pub span_id: String,
    /// 16 hex digits; empty for a root span.
    pub parent_span_id: String,
    /// The W3C `tracestate` of its span context ("" when none).
    pub trace_state: String,
    /// Attribute values as text (arrays joined with commas).
    pub attributes: BTreeMap<String, String>,
    /// The events' names, in order.
    pub events: Vec<String>,
    /// The status code: 0 unset, 1 ok, 2 error.
    pub status_code: i32,
    /// Start and end, in nanoseconds since the epoch.
    pub start_unix_nano: u64,
    /// End.
    pub end_unix_nano: u64,
}

impl ReceivedSpan {
    /// The attribute `key`, or "" when missing.
    pub fn attribute(&self, key: &str) -> &str {
        self.attributes.get(key).map_or("", String::as_str)
    }
}

/// The collector; stops when dropped.
pub struct OtlpCollector {
    url: String,
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
    requests: Arc<Mutex<usize>>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl OtlpCollector {
    /// Listens on an ephemeral loopback port.
    pub fn start() -> OtlpCollector {
        Self::start_on("127.0.0.1:0")
    }

    /// Listens on `address` (`127.0.0.1:4318`, the default OTLP/HTTP endpoint).
    pub fn start_on(address: &str) -> OtlpCollector {
        let listener = std::net::TcpListener::bind(address).expect("bind the collector");
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let spans = Arc::new(Mutex::new(Vec::new()));
        let requests = Arc::new(Mutex::new(0));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (kept, counted) = (spans.clone(), requests.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = axum::Router::new().route(
                    "/v1/traces",
                    axum::routing::post(move |body: axum::body::Bytes| {
                        let (kept, counted) = (kept.clone(), counted.clone());
                        async move {
                            *counted.lock().unwrap() += 1;
                            match ExportTraceServiceRequest::decode(body) {
                                Ok(request) => {
                                    kept.lock().unwrap().extend(spans_of(request));
                                    (
                                        axum::http::StatusCode::OK,
                                        [("content-type", "application/x-protobuf")],
                                        ExportTraceServiceResponse::default().encode_to_vec(),
                                    )
                                }
                                Err(_) => (
                                    axum::http::StatusCode::BAD_REQUEST,
                                    [("content-type", "text/plain")],
                                    b"not an ExportTraceServiceRequest".to_vec(),
                                ),
                            }
                        }
                    }),
                );
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        OtlpCollector {
            url,
            spans,
            requests,
            _stop: stop,
        }
    }

    /// An OTLP/gRPC collector on an ephemeral loopback port (for
    /// `OTEL_EXPORTER_OTLP_PROTOCOL=grpc`).
    pub fn start_grpc() -> OtlpCollector {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the collector");
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let spans = Arc::new(Mutex::new(Vec::new()));
        let requests = Arc::new(Mutex::new(0));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let service = GrpcTraces {
            spans: spans.clone(),
            requests: requests.clone(),
        };
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
                let _ = tonic::transport::Server::builder()
                    .add_service(TraceServiceServer::new(service))
                    .serve_with_incoming_shutdown(incoming, async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        OtlpCollector {
            url,
            spans,
            requests,
            _stop: stop,
        }
    }

    /// `http://127.0.0.1:PORT`, for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().unwrap().clone()
    }

    /// How many export requests arrived.
    pub fn requests(&self) -> usize {
        *self.requests.lock().unwrap()
    }

    /// Waits (bounded by `within`) until `done` holds for the spans received.
    pub fn wait_for(
        &self,
        what: &str,
        within: Duration,
        done: impl Fn(&[ReceivedSpan]) -> bool,
    ) -> Vec<ReceivedSpan> {
        let deadline = Instant::now() + within;
        loop {
            let spans = self.spans();
            if done(&spans) {
                return spans;
            }
            assert!(
                Instant::now() < deadline,
                "the collector never received {what}; it has:\n{spans:#?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The gRPC collector's `TraceService`.
struct GrpcTraces {
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
    requests: Arc<Mutex<usize>>,
}

#[tonic::async_trait]
impl TraceService for GrpcTraces {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        *self.requests.lock().unwrap() += 1;
        self.spans
            .lock()
            .unwrap()
            .extend(spans_of(request.into_inner()));
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// The spans of one export request.
fn spans_of(request: ExportTraceServiceRequest) -> Vec<ReceivedSpan> {
    let mut received = Vec::new();
    for resource_spans in request.resource_spans {
        let service = resource_spans
            .resource
            .map(|resource| attributes(&resource.attributes))
            .and_then(|mut attributes| attributes.remove("service.name"))
            .unwrap_or_default();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                received.push(ReceivedSpan {
                    service: service.clone(),
                    name: span.name,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    trace_state: span.trace_state,
                    attributes: attributes(&span.attributes),
                    events: span.events.into_iter().map(|event| event.name).collect(),
                    status_code: span.status.map_or(0, |status| status.code),
                    start_unix_nano: span.start_time_unix_nano,
                    end_unix_nano: span.end_time_unix_nano,
                });
            }
        }
    }
    received
}

fn attributes(list: &[KeyValue]) -> BTreeMap<String, String> {
    list.iter()
        .map(|kv| {
            (
                kv.key.clone(),
                kv.value.as_ref().map(text).unwrap_or_default(),
            )
        })
        .collect()
}

fn text(value: &AnyValue) -> String {
    match &value.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::ArrayValue(array)) => {
            array.values.iter().map(text).collect::<Vec<_>>().join(",")
        }
        _ => String::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
