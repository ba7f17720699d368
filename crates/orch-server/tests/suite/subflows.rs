//! Subflow runs through the real router, with authentication on: a run's
//! credential creates subflow runs of its own run only; each subflow run
//! gets a credential of its own, for its run only, and neither credential
//! reaches the other's run (least privilege); a worker token only for runs
//! of its pools. The creation's effects (watch events) are produced.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response};
use orch_core::StateType;
use orch_core::auth::Scope;
use orch_proto::v1 as pb;
use prost::Message;

use super::auth::{DEPLOYMENT, grpc_code, grpc_frame, send, token};
use crate::common::Harness;

const PERMISSION_DENIED: i32 = 7;
const FAILED_PRECONDITION: i32 = 9;
const UNAUTHENTICATED: i32 = 16;
const CREATE: &str = "/orch.v1.FlowRunService/CreateSubflowRun";
const SET_STATE: &str = "/orch.v1.FlowRunService/SetFlowRunState";
const WRITE_LOGS: &str = "/orch.v1.FlowRunService/WriteLogs";

fn grpc(path: &str, key: &str, message: &impl Message) -> Request<Body> {
    let mut request = Request::post(path)
        .header("content-type", "application/grpc")
        .header("authorization", format!("Bearer {key}"))
        .body(Body::from(grpc_frame(message)))
        .expect("request");
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    request
}

/// The gRPC code of an answer; 0 (OK) when it has none in its headers.
fn code(response: &Response<Body>) -> i32 {
    grpc_code(response).unwrap_or(0)
}

async fn decode<M: Message + Default>(response: Response<Body>) -> M {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    M::decode(&bytes[5..]).expect("one message")
}

fn create(parent: &str, flow: &str) -> pb::CreateSubflowRunRequest {
    pb::CreateSubflowRunRequest {
        parent_flow_run_id: parent.into(),
        flow: flow.into(),
        parameters_json: r#"{"day": "2026-01-05"}"#.into(),
        ..Default::default()
    }
}

fn set_state(run: &str, kind: pb::StateType) -> pb::SetFlowRunStateRequest {
    pb::SetFlowRunStateRequest {
        flow_run_id: run.into(),
        state: Some(pb::State {
            r#type: kind as i32,
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn log_line(run: &str) -> pb::WriteLogsRequest {
    pb::WriteLogsRequest {
        lines: vec![pb::LogLine {
            flow_run_id: run.into(),
            emitter: "sdk-test".into(),
            seq: 1,
            stream: "sdk".into(),
            level: "INFO".into(),
            message: "hello".into(),
            ..Default::default()
        }],
    }
}

#[tokio::test]
async fn a_run_credential_creates_subflow_runs_of_its_own_run_each_with_a_credential_of_its_own() {
    let harness = Harness::start("2026-01-05T09:00:00Z", "default").await;
    harness
        .store()
        .work_pools()
        .create_work_pool("other", "process", "", None)
        .await
        .unwrap();
    harness.deploy(DEPLOYMENT).await;
    let (parent, _worker) = harness.running_run("etl/nightly", "default", "w1").await;
    let (sibling, _) = harness.running_run("etl/nightly", "default", "w2").await;
    let parent_key = harness
        .store()
        .tokens()
        .create_run_credential(&parent.id)
        .await
        .unwrap();
    let secured = harness.secured().await;
    let mut events = secured.state.events().subscribe();
    let app = orch_server::router(secured.state.clone());

    let response = send(
        &app,
        grpc(CREATE, &parent_key, &create(&parent.id, "child")),
    )
    .await;
    assert_eq!(code(&response), 0, "{response:?}");
    let made: pb::CreateSubflowRunResponse = decode(response).await;
    let child = made.run.expect("the run");
    assert_eq!(child.parent_flow_run_id, parent.id);
    assert_eq!(child.flow, "child");
    assert_eq!(
        child.state.as_ref().map(|s| s.r#type),
        Some(pb::StateType::Running as i32)
    );
    assert_eq!(child.parameters_json, r#"{"day":"2026-01-05"}"#);
    let child_key = made.api_key;
    assert!(child_key.starts_with(orch_store::KEY_PREFIX));
    assert_ne!(child_key, parent_key);
    // The subflow run's span: a child of the parent run's span, in its trace.
    let span = orch_core::TraceParent::parse(&made.traceparent).unwrap();
    assert_eq!(span.trace_id_hex(), child.trace_id);
    assert_eq!(child.trace_id, parent.trace().trace_id_hex());
    // Its creation was a state change with its effects: watchers were told.
    let mut told = false;
    while let Ok(event) = events.try_recv() {
        told |= matches!(&event, orch_server::events::Event::RunChanged { run_id } if *run_id == child.id);
    }
    assert!(told, "a RunChanged event for the new run");

    // The parent's credential creates no subflow run of another run...
    let response = send(
        &app,
        grpc(CREATE, &parent_key, &create(&sibling.id, "child")),
    )
    .await;
    assert_eq!(code(&response), PERMISSION_DENIED);
    // ... and does not report for its subflow run, whose credential does.
    let response = send(
        &app,
        grpc(
            SET_STATE,
            &parent_key,
            &set_state(&child.id, pb::StateType::Completed),
        ),
    )
    .await;
    assert_eq!(code(&response), PERMISSION_DENIED);
    // The subflow run's credential reaches its own run only: not its parent.
    for (path, message) in [
        (CREATE, grpc_frame(&create(&parent.id, "sibling"))),
        (WRITE_LOGS, grpc_frame(&log_line(&parent.id))),
        (
            SET_STATE,
            grpc_frame(&set_state(&parent.id, pb::StateType::Completed)),
        ),
    ] {
        let mut request = Request::post(path)
            .header("content-type", "application/grpc")
            .header("authorization", format!("Bearer {child_key}"))
            .body(Body::from(message))
            .unwrap();
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
        assert_eq!(
            code(&send(&app, request).await),
            PERMISSION_DENIED,
            "{path}"
        );
    }
    let response = send(&app, grpc(WRITE_LOGS, &child_key, &log_line(&child.id))).await;
    assert_eq!(code(&response), 0);
    // It may call a subflow of its own (nested).
    let response = send(
        &app,
        grpc(CREATE, &child_key, &create(&child.id, "grandchild")),
    )
    .await;
    assert_eq!(code(&response), 0);
    // A worker token of another pool reaches no run of this one's.
    let elsewhere = token(&harness, "worker-other", Scope::Worker, &["other"]).await;
    let response = send(&app, grpc(CREATE, &elsewhere, &create(&parent.id, "child"))).await;
    assert_eq!(code(&response), PERMISSION_DENIED);

    // The subflow run ends: its credential stops working with it.
    let response = send(
        &app,
        grpc(
            SET_STATE,
            &child_key,
            &set_state(&child.id, pb::StateType::Completed),
        ),
    )
    .await;
    assert_eq!(code(&response), 0);
    assert_eq!(
        harness.run(&child.id).await.state.kind,
        StateType::Completed
    );
    let response = send(&app, grpc(WRITE_LOGS, &child_key, &log_line(&child.id))).await;
    assert_eq!(code(&response), UNAUTHENTICATED);
}

#[tokio::test]
async fn a_subflow_run_is_refused_under_a_parent_that_is_not_running() {
    let harness = Harness::start("2026-01-05T09:00:00Z", "default").await;
    harness.deploy(DEPLOYMENT).await;
    let waiting = harness.run_now("etl/nightly").await;
    let key = harness
        .store()
        .tokens()
        .create_run_credential(&waiting.id)
        .await
        .unwrap();
    let secured = harness.secured().await;
    let app = orch_server::router(secured.state.clone());

    let response = send(&app, grpc(CREATE, &key, &create(&waiting.id, "child"))).await;

    assert_eq!(code(&response), FAILED_PRECONDITION);
    let message = response
        .headers()
        .get("grpc-message")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(
        message.contains("is%20Scheduled") || message.contains("is Scheduled"),
        "{message}"
    );
    assert!(
        harness
            .store()
            .flow_runs()
            .subflow_runs(&waiting.id)
            .await
            .unwrap()
            .is_empty()
    );
}

/// The `RunChanged` events received so far, by run id.
fn changed_runs(
    events: &mut tokio::sync::broadcast::Receiver<orch_server::events::Event>,
) -> Vec<String> {
    let mut runs = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let orch_server::events::Event::RunChanged { run_id } = event {
            runs.push(run_id);
        }
    }
    runs
}

/// A subflow run's creation and state changes tell the parent's watchers
/// too (its live page lists its subflow runs and their states).
#[tokio::test]
async fn a_subflow_runs_changes_are_changes_of_its_parent_for_its_watchers() {
    let harness = Harness::start("2026-01-05T09:00:00Z", "default").await;
    harness.deploy(DEPLOYMENT).await;
    let (parent, _worker) = harness.running_run("etl/nightly", "default", "w1").await;
    let parent_key = harness
        .store()
        .tokens()
        .create_run_credential(&parent.id)
        .await
        .unwrap();
    let secured = harness.secured().await;
    let mut events = secured.state.events().subscribe();
    let app = orch_server::router(secured.state.clone());

    let response = send(
        &app,
        grpc(CREATE, &parent_key, &create(&parent.id, "child")),
    )
    .await;
    assert_eq!(code(&response), 0, "{response:?}");
    let made: pb::CreateSubflowRunResponse = decode(response).await;
    let child = made.run.expect("the run");
    let told = changed_runs(&mut events);
    assert!(told.contains(&child.id), "{told:?}");
    assert!(told.contains(&parent.id), "the parent's watchers: {told:?}");

    let response = send(
        &app,
        grpc(
            SET_STATE,
            &made.api_key,
            &set_state(&child.id, pb::StateType::Completed),
        ),
    )
    .await;
    assert_eq!(code(&response), 0);
    let told = changed_runs(&mut events);
    assert!(told.contains(&child.id), "{told:?}");
    assert!(told.contains(&parent.id), "the parent's watchers: {told:?}");
}
