//! The encoder's bytes, decoded with opentelemetry-proto's prost types.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{
    SpanContext, SpanKind, Status as SdkStatus, TraceContextExt as _, TraceFlags, TraceId,
};
use opentelemetry::{Context, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue as ProtoKeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{Span, Status, span, status};
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use orch_core::TraceParent;
use prost::Message as _;

use super::*;
use crate::remote_parent;

fn resource() -> Resource {
    Resource::builder_empty()
        .with_service_name("orch-flow")
        .with_attributes([
            KeyValue::new("deployment.environment", "prod"),
            KeyValue::new("host.cores", 2_i64),
            KeyValue::new("ratio", 0.5),
            KeyValue::new("canary", true),
        ])
        .with_schema_url([], "https://opentelemetry.io/schemas/1.30.0")
        .build()
}

fn scope() -> InstrumentationScope {
    InstrumentationScope::builder("orch-sdk").build()
}

fn decode(bytes: &[u8]) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest::decode(bytes).expect("a valid ExportTraceServiceRequest")
}

/// An attempt of `name` under the remote run span `parent`, ended.
fn attempt(
    parent: &Context,
    name: &str,
    number: u32,
    cpu: Option<i64>,
    state: &'static str,
    error: Option<&str>,
) -> TaskAttempt {
    let mut attempt = TaskAttempt::child_of(parent, name, "0191-task-run", number);
    attempt.set_cpu_micros(cpu);
    attempt.start = SystemTime::UNIX_EPOCH + Duration::new(1_765_000_000, 123_456_789);
    attempt.end = attempt.start + Duration::from_micros(1_500 + u64::from(number));
    attempt.state = state;
    attempt.error = error.map(str::to_owned);
    attempt
}

fn text(key: &str, value: &str) -> ProtoKeyValue {
    ProtoKeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        key_strindex: 0,
    }
}

fn int(key: &str, value: i64) -> ProtoKeyValue {
    ProtoKeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
        key_strindex: 0,
    }
}

fn double(key: &str, value: f64) -> ProtoKeyValue {
    ProtoKeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::DoubleValue(value)),
        }),
        key_strindex: 0,
    }
}

#[test]
fn every_field_of_a_failed_attempt_is_written() {
    let parent =
        TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
    let run = remote_parent(&parent, Some("vendor=1,other=two"));
    let failed = attempt(
        &run,
        "fetch",
        2,
        Some(1_500),
        "Failed",
        Some("boom: ünïcode ✓"),
    );
    let own = failed.traceparent();
    let start = failed.start;
    let mut encoder = AttemptEncoder::new(&resource(), &scope());
    let request = decode(encoder.encode(std::slice::from_ref(&failed)));

    assert_eq!(request.resource_spans.len(), 1);
    let resource_spans = &request.resource_spans[0];
    assert_eq!(
        resource_spans.schema_url,
        "https://opentelemetry.io/schemas/1.30.0"
    );
    let mut attributes = resource_spans.resource.as_ref().unwrap().attributes.clone();
    attributes.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(
        attributes,
        [
            ProtoKeyValue {
                key: "canary".into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::BoolValue(true))
                }),
                key_strindex: 0
            },
            text("deployment.environment", "prod"),
            int("host.cores", 2),
            double("ratio", 0.5),
            text("service.name", "orch-flow"),
        ]
    );
    assert_eq!(resource_spans.scope_spans.len(), 1);
    let scope_spans = &resource_spans.scope_spans[0];
    assert_eq!(scope_spans.scope.as_ref().unwrap().name, "orch-sdk");
    assert_eq!(scope_spans.scope.as_ref().unwrap().version, "");
    assert_eq!(scope_spans.schema_url, "");
    assert_eq!(
        scope_spans.spans,
        [Span {
            trace_id: parent.trace_id.to_vec(),
            span_id: own.span_id.to_vec(),
            trace_state: "vendor=1,other=two".into(),
            parent_span_id: parent.span_id.to_vec(),
            // Sampled, the context knows whether the parent is remote, and it is.
            flags: 0x01 | 0x100 | 0x200,
            name: "task fetch".into(),
            kind: span::SpanKind::Internal as i32,
            start_time_unix_nano: 1_765_000_000_123_456_789,
            end_time_unix_nano: 1_765_000_000_123_456_789 + 1_502_000,
            attributes: vec![
                text("orch.task_run.id", "0191-task-run"),
                int("orch.task_run.attempt", 2),
                double("orch.task_run.cpu_seconds", 0.0015),
                text("orch.task_run.state", "Failed"),
                text("orch.task_run.name", "fetch"),
            ],
            dropped_attributes_count: 0,
            events: vec![],
            dropped_events_count: 0,
            links: vec![],
            dropped_links_count: 0,
            status: Some(Status {
                message: "boom: ünïcode ✓".into(),
                code: status::StatusCode::Error as i32,
            }),
        }]
    );
    assert_eq!(
        start,
        SystemTime::UNIX_EPOCH + Duration::from_nanos(1_765_000_000_123_456_789)
    );
}

/// The `SpanData` the export thread used to build from an attempt (before
/// attempts were encoded straight), for the maintained conversion.
fn span_data(attempt: &TaskAttempt, scope: &InstrumentationScope) -> SpanData {
    let mut attributes = vec![
        KeyValue::new("orch.task_run.id", attempt.task_run_id.clone()),
        KeyValue::new("orch.task_run.attempt", i64::from(attempt.attempt)),
    ];
    if let Some(micros) = attempt.cpu_micros {
        attributes.push(KeyValue::new(
            "orch.task_run.cpu_seconds",
            micros as f64 / 1e6,
        ));
    }
    attributes.push(KeyValue::new("orch.task_run.state", attempt.state));
    attributes.push(KeyValue::new("orch.task_run.name", attempt.name.clone()));
    SpanData {
        span_context: SpanContext::new(
            attempt.trace_id,
            attempt.span_id,
            attempt.flags,
            false,
            attempt.trace_state.clone(),
        ),
        parent_span_id: attempt.parent_span_id,
        parent_span_is_remote: attempt.parent_is_remote,
        span_kind: SpanKind::Internal,
        name: Cow::Owned(format!("task {}", attempt.name)),
        start_time: attempt.start,
        end_time: attempt.end,
        attributes,
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: attempt
            .error
            .clone()
            .map_or(SdkStatus::Unset, SdkStatus::error),
        instrumentation_scope: scope.clone(),
    }
}

#[test]
fn a_batch_is_what_the_maintained_conversion_made_of_it() {
    let parent =
        TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
    let remote = remote_parent(&parent, None);
    // A local parent (the run's span in this process), no parent at all.
    let local = Context::new().with_remote_span_context(SpanContext::new(
        TraceId::from_bytes([7; 16]),
        opentelemetry::trace::SpanId::from_bytes([9; 8]),
        TraceFlags::SAMPLED,
        false,
        TraceState::default(),
    ));
    let long_name = "é".repeat(200);
    let attempts = vec![
        // Retries of one task: failed twice, then completed.
        attempt(
            &remote,
            "fetch",
            1,
            Some(10),
            "Failed",
            Some("connection reset"),
        ),
        attempt(&remote, "fetch", 2, Some(0), "Failed", Some("")),
        attempt(&remote, "fetch", 3, None, "Completed", None),
        attempt(&local, "写入 数据", 1, Some(i64::MAX), "Completed", None),
        attempt(
            &Context::new(),
            &long_name,
            u32::MAX,
            None,
            "Crashed",
            Some("x"),
        ),
        attempt(&Context::new(), "", 1, Some(-5), "", None),
    ];
    let resource = resource();
    let scope = scope();
    let mut encoder = AttemptEncoder::new(&resource, &scope);
    let ours = decode(encoder.encode(&attempts));
    let maintained = ExportTraceServiceRequest {
        resource_spans: group_spans_by_resource_and_scope(
            attempts.iter().map(|a| span_data(a, &scope)).collect(),
            &(&resource).into(),
        ),
    };
    assert_eq!(ours, maintained);
    assert_eq!(ours.resource_spans[0].scope_spans[0].spans.len(), 6);
    // Byte for byte, too (prost writes fields in order and leaves defaults
    // out, as the encoder does).
    assert_eq!(encoder.encode(&attempts), maintained.encode_to_vec());
}

#[test]
fn the_buffer_is_reused_without_leftovers() {
    let run = Context::new();
    let many: Vec<TaskAttempt> = (1..=300)
        .map(|n| attempt(&run, "step", n, Some(i64::from(n)), "Completed", None))
        .collect();
    let mut encoder = AttemptEncoder::new(&resource(), &scope());
    let first = decode(encoder.encode(&many));
    assert_eq!(first.resource_spans[0].scope_spans[0].spans.len(), 300);
    let capacity = encoder.buffer.capacity();
    let one = decode(encoder.encode(&many[299..]));
    let spans = &one.resource_spans[0].scope_spans[0].spans;
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].span_id, many[299].span_id.to_bytes().to_vec());
    // The second, smaller request was written into the same allocation.
    assert_eq!(encoder.buffer.capacity(), capacity);
}
