//! Task attempts encoded straight to OTLP protobuf.
//!
//! The export thread used to turn each queued [`TaskAttempt`] into an SDK
//! [`SpanData`](opentelemetry_sdk::trace::SpanData) and hand batches to the
//! maintained `opentelemetry_otlp::SpanExporter`, which converted them again
//! into `opentelemetry-proto` structs (ids copied into `Vec`s, every
//! attribute into a `KeyValue` with owned `String`s, spans grouped by scope
//! through a hash map) before prost encoded them. That conversion, not the
//! task's path, was most of what a traced task cost the process (about
//! +4 µs of CPU per task against the SDK's 35 µs, docs/benchmarks.md, issue
//! 23's 5 % target). So attempts bypass the maintained exporter's
//! conversion: [`AttemptEncoder`] writes the `ExportTraceServiceRequest` of a
//! batch of attempts directly from the plain records into one reused
//! buffer, with prost's wire-format functions (`encode_key`,
//! `encode_varint`, lengths computed before each nested message), no proto
//! struct and no allocation per span. The once-per-process parts (the
//! resource, the instrumentation scope) are still built by
//! `opentelemetry-proto`'s own conversion and encoded once, so they are the
//! bytes the maintained exporter sends. The SDK's other spans (server,
//! worker: a few per run) keep going through the maintained exporter.
//!
//! The content is the maintained conversion's, field for field (the tests
//! decode the bytes with `opentelemetry-proto`'s prost types): a span named
//! `task NAME`, kind internal, the attempt's ids, its parent's, the trace
//! state, `flags` (the trace flags with the "has is-remote" bit, and the
//! "is remote" bit when the parent is remote), start and end times, the
//! attributes `orch.task_run.id`, `.attempt`, `.cpu_seconds` (when
//! measured), `.state`, `.name`, and a status (unset, or an error with the
//! attempt's error as its message).
//!
//! Field numbers (opentelemetry-proto's `trace.proto`, `common.proto`,
//! `collector/trace/v1/trace_service.proto`, as in the crate's generated
//! code): `ExportTraceServiceRequest.resource_spans` 1; `ResourceSpans`:
//! resource 1, scope_spans 2, schema_url 3; `ScopeSpans`: scope 1, spans 2,
//! schema_url 3; `Span`: trace_id 1, span_id 2, trace_state 3,
//! parent_span_id 4, name 5, kind 6, start 7 and end 8 (fixed64),
//! attributes 9, status 15, flags 16 (fixed32); `Status`: message 2, code 3;
//! `KeyValue`: key 1, value 2; `AnyValue`: string 1, int 3, double 4.

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::InstrumentationScope;
use opentelemetry::trace::{SpanId, TraceState};
use opentelemetry_proto::tonic::common::v1::InstrumentationScope as ProtoScope;
use opentelemetry_proto::tonic::resource::v1::Resource as ProtoResource;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_sdk::Resource;
use prost::Message as _;
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint, key_len};

use crate::attempt::TaskAttempt;

/// `Span.kind` of a task attempt: `SPAN_KIND_INTERNAL`.
const KIND_INTERNAL: u64 = 1;
/// `Status.code` of a failed attempt (`STATUS_CODE_ERROR`); an unset status
/// (code 0, no message) is an empty `Status` message.
const STATUS_ERROR: u64 = 2;
/// `SpanFlags`: the context says whether the parent is remote, and it is.
const FLAG_HAS_IS_REMOTE: u32 = 0x100;
const FLAG_IS_REMOTE: u32 = 0x200;
/// The span name's prefix (`task NAME`).
const NAME_PREFIX: &str = "task ";

/// Writes `ExportTraceServiceRequest`s of task attempts into one reused buffer.
#[derive(Debug)]
pub(crate) struct AttemptEncoder {
    /// `ResourceSpans.resource` (field 1, key and length included).
    resource: Vec<u8>,
    /// `ResourceSpans.schema_url` (field 3), empty without one.
    resource_schema: Vec<u8>,
    /// `ScopeSpans.scope` (field 1, key and length included).
    scope: Vec<u8>,
    /// `ScopeSpans.schema_url` (field 3), empty without one.
    scope_schema: Vec<u8>,
    /// The request being written (reused).
    buffer: Vec<u8>,
    /// The last trace state seen and its header (attempts of a run share
    /// their parent's: the header is built once, not once a span).
    trace_state: (TraceState, String),
}

/// A length-delimited field's size: key, length, content.
fn delimited_len(tag: u32, len: usize) -> usize {
    key_len(tag) + encoded_len_varint(len as u64) + len
}

/// A string field's size, 0 when empty (proto3 leaves it out).
fn text_len(tag: u32, text: usize) -> usize {
    if text == 0 {
        0
    } else {
        delimited_len(tag, text)
    }
}

/// Nanoseconds since the Unix epoch, as the maintained conversion counts them.
fn nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos() as u64)
}

/// An attribute's value.
#[derive(Clone, Copy)]
enum Value<'a> {
    Text(&'a str),
    Int(i64),
    Double(f64),
}

impl Value<'_> {
    /// The `AnyValue` message's size (its one field is always written).
    fn len(self) -> usize {
        match self {
            Value::Text(text) => delimited_len(1, text.len()),
            Value::Int(number) => key_len(3) + encoded_len_varint(number as u64),
            Value::Double(_) => key_len(4) + 8,
        }
    }

    fn write(self, buffer: &mut Vec<u8>) {
        match self {
            Value::Text(text) => write_bytes(1, text.as_bytes(), buffer),
            Value::Int(number) => {
                encode_key(3, WireType::Varint, buffer);
                encode_varint(number as u64, buffer);
            }
            Value::Double(number) => {
                encode_key(4, WireType::SixtyFourBit, buffer);
                buffer.extend_from_slice(&number.to_bits().to_le_bytes());
            }
        }
    }
}

/// A `KeyValue` message's size.
fn attribute_len(key: &str, value: Value<'_>) -> usize {
    text_len(1, key.len()) + delimited_len(2, value.len())
}

/// Writes a `KeyValue` as field 9 of a span.
fn write_attribute(key: &str, value: Value<'_>, buffer: &mut Vec<u8>) {
    encode_key(9, WireType::LengthDelimited, buffer);
    encode_varint(attribute_len(key, value) as u64, buffer);
    write_text(1, key, buffer);
    encode_key(2, WireType::LengthDelimited, buffer);
    encode_varint(value.len() as u64, buffer);
    value.write(buffer);
}

/// Writes a bytes (or string) field, even when empty.
fn write_bytes(tag: u32, bytes: &[u8], buffer: &mut Vec<u8>) {
    encode_key(tag, WireType::LengthDelimited, buffer);
    encode_varint(bytes.len() as u64, buffer);
    buffer.extend_from_slice(bytes);
}

/// Writes a string field unless it is empty (proto3's default).
fn write_text(tag: u32, text: &str, buffer: &mut Vec<u8>) {
    if !text.is_empty() {
        write_bytes(tag, text.as_bytes(), buffer);
    }
}

/// The attributes of an attempt, in the order the SDK span had them.
fn attributes(attempt: &TaskAttempt) -> [Option<(&'static str, Value<'_>)>; 5] {
    [
        Some(("orch.task_run.id", Value::Text(&attempt.task_run_id))),
        Some((
            "orch.task_run.attempt",
            Value::Int(i64::from(attempt.attempt)),
        )),
        attempt.cpu_micros.map(|micros| {
            (
                "orch.task_run.cpu_seconds",
                Value::Double(micros as f64 / 1e6),
            )
        }),
        Some(("orch.task_run.state", Value::Text(attempt.state))),
        Some(("orch.task_run.name", Value::Text(&attempt.name))),
    ]
}

impl AttemptEncoder {
    /// An encoder for the spans of a process described by `resource`, in
    /// the instrumentation scope `scope`.
    pub(crate) fn new(resource: &Resource, scope: &InstrumentationScope) -> AttemptEncoder {
        // Built once by opentelemetry-proto's own conversion: the same bytes
        // the maintained exporter sends for the process's other spans.
        let converted = ResourceAttributesWithSchema::from(resource);
        let resource_message = ProtoResource {
            attributes: converted.attributes.0,
            dropped_attributes_count: 0,
            entity_refs: Vec::new(),
        };
        let mut resource_field = Vec::new();
        write_bytes(1, &resource_message.encode_to_vec(), &mut resource_field);
        let mut resource_schema = Vec::new();
        write_text(
            3,
            converted.schema_url.as_deref().unwrap_or_default(),
            &mut resource_schema,
        );
        let scope_message = ProtoScope::from((scope, None));
        let mut scope_field = Vec::new();
        write_bytes(1, &scope_message.encode_to_vec(), &mut scope_field);
        let mut scope_schema = Vec::new();
        write_text(3, scope.schema_url().unwrap_or_default(), &mut scope_schema);
        AttemptEncoder {
            resource: resource_field,
            resource_schema,
            scope: scope_field,
            scope_schema,
            buffer: Vec::new(),
            trace_state: (TraceState::default(), String::new()),
        }
    }

    /// The header of `state`, built only when it differs from the last one.
    fn trace_state_len(&mut self, state: &TraceState) -> usize {
        if *state != self.trace_state.0 {
            self.trace_state = (state.clone(), state.header());
        }
        self.trace_state.1.len()
    }

    /// The `Span` message's size.
    fn span_len(&mut self, attempt: &TaskAttempt) -> usize {
        let mut len = delimited_len(1, 16) + delimited_len(2, 8);
        len += text_len(3, self.trace_state_len(&attempt.trace_state));
        if attempt.parent_span_id != SpanId::INVALID {
            len += delimited_len(4, 8);
        }
        len += delimited_len(5, NAME_PREFIX.len() + attempt.name.len());
        len += key_len(6) + encoded_len_varint(KIND_INTERNAL);
        len += 2 * (key_len(7) + 8);
        for (key, value) in attributes(attempt).into_iter().flatten() {
            len += delimited_len(9, attribute_len(key, value));
        }
        len += delimited_len(15, status_len(attempt));
        len + key_len(16) + 4
    }

    /// Writes the `Span` message of `attempt` (its content; `len` is its size).
    fn write_span(&mut self, attempt: &TaskAttempt, len: usize) {
        let buffer = &mut self.buffer;
        let start = buffer.len();
        write_bytes(1, &attempt.trace_id.to_bytes(), buffer);
        write_bytes(2, &attempt.span_id.to_bytes(), buffer);
        write_text(3, &self.trace_state.1, buffer);
        if attempt.parent_span_id != SpanId::INVALID {
            write_bytes(4, &attempt.parent_span_id.to_bytes(), buffer);
        }
        encode_key(5, WireType::LengthDelimited, buffer);
        encode_varint((NAME_PREFIX.len() + attempt.name.len()) as u64, buffer);
        buffer.extend_from_slice(NAME_PREFIX.as_bytes());
        buffer.extend_from_slice(attempt.name.as_bytes());
        encode_key(6, WireType::Varint, buffer);
        encode_varint(KIND_INTERNAL, buffer);
        encode_key(7, WireType::SixtyFourBit, buffer);
        buffer.extend_from_slice(&nanos(attempt.start).to_le_bytes());
        encode_key(8, WireType::SixtyFourBit, buffer);
        buffer.extend_from_slice(&nanos(attempt.end).to_le_bytes());
        for (key, value) in attributes(attempt).into_iter().flatten() {
            write_attribute(key, value, buffer);
        }
        encode_key(15, WireType::LengthDelimited, buffer);
        encode_varint(status_len(attempt) as u64, buffer);
        if let Some(message) = &attempt.error {
            write_text(2, message, buffer);
            encode_key(3, WireType::Varint, buffer);
            encode_varint(STATUS_ERROR, buffer);
        }
        let mut flags = u32::from(attempt.flags.to_u8()) | FLAG_HAS_IS_REMOTE;
        if attempt.parent_is_remote {
            flags |= FLAG_IS_REMOTE;
        }
        encode_key(16, WireType::ThirtyTwoBit, buffer);
        buffer.extend_from_slice(&flags.to_le_bytes());
        debug_assert_eq!(buffer.len() - start, len, "a span's size was miscounted");
    }

    /// The `ExportTraceServiceRequest` of `attempts` (one resource, one
    /// scope), valid until the next call.
    pub(crate) fn encode(&mut self, attempts: &[TaskAttempt]) -> &[u8] {
        self.buffer.clear();
        // Sizes first (a nested message's length precedes it), then the bytes.
        let mut spans_len = 0;
        for attempt in attempts {
            spans_len += delimited_len(2, self.span_len(attempt));
        }
        let scope_spans_len = self.scope.len() + spans_len + self.scope_schema.len();
        let resource_spans_len =
            self.resource.len() + delimited_len(2, scope_spans_len) + self.resource_schema.len();
        self.buffer.reserve(delimited_len(1, resource_spans_len));
        encode_key(1, WireType::LengthDelimited, &mut self.buffer);
        encode_varint(resource_spans_len as u64, &mut self.buffer);
        self.buffer.extend_from_slice(&self.resource);
        encode_key(2, WireType::LengthDelimited, &mut self.buffer);
        encode_varint(scope_spans_len as u64, &mut self.buffer);
        self.buffer.extend_from_slice(&self.scope);
        for attempt in attempts {
            let len = self.span_len(attempt);
            encode_key(2, WireType::LengthDelimited, &mut self.buffer);
            encode_varint(len as u64, &mut self.buffer);
            self.write_span(attempt, len);
        }
        self.buffer.extend_from_slice(&self.scope_schema);
        self.buffer.extend_from_slice(&self.resource_schema);
        &self.buffer
    }
}

/// The `Status` message's size: empty when unset, else the message and code.
fn status_len(attempt: &TaskAttempt) -> usize {
    attempt.error.as_ref().map_or(0, |message| {
        text_len(2, message.len()) + key_len(3) + encoded_len_varint(STATUS_ERROR)
    })
}

#[cfg(test)]
#[path = "otlp_tests.rs"]
mod tests;
