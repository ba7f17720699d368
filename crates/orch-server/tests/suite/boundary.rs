//! The boundary between credentials (issue 21), through the real router:
//! a run's key changes only its own run, a worker token acts only as the
//! workers it registered, bad keys cannot lock valid ones out, refusals and
//! changes made by hand are audited, and every request's host is checked.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response, StatusCode};
use orch_core::StateType;
use orch_core::auth::Scope;
use orch_proto::v1 as pb;
use orch_store::AuditRecord;
use prost::Message;

use super::auth::{DEPLOYMENT, grpc_code, grpc_frame, send, token};
use crate::common::Harness;

const PERMISSION_DENIED: i32 = 7;
const RESOURCE_EXHAUSTED: i32 = 8;
const UNAUTHENTICATED: i32 = 16;

/// A gRPC call with `key`, from 127.0.0.1.
pub(super) fn grpc(path: &str, key: &str, message: &impl Message) -> Request<Body> {
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
pub(super) fn code(response: &Response<Body>) -> i32 {
    grpc_code(response).unwrap_or(0)
}

pub(super) async fn decode<M: Message + Default>(response: Response<Body>) -> M {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    M::decode(&bytes[5..]).expect("one message")
}

fn task(id: &str, flow_run_id: &str, kind: pb::StateType, at: i64) -> pb::TaskRun {
    pb::TaskRun {
        id: id.into(),
        flow_run_id: flow_run_id.into(),
        name: format!("task {id}"),
        state: Some(pb::State {
            r#type: kind as i32,
            timestamp_micros: at,
            ..Default::default()
        }),
        attempt: 1,
        ..Default::default()
    }
}

#[tokio::test]
async fn a_run_key_cannot_change_another_runs_task_runs_artifacts_or_events() {
    let harness = Harness::start("2026-01-05T09:00:00Z", "default").await;
    harness.deploy(DEPLOYMENT).await;
    let (run_a, _) = harness.running_run("etl/nightly", "default", "w1").await;
    let (run_b, _) = harness.running_run("etl/nightly", "default", "w2").await;
    let key_a = harness
        .store()
        .tokens()
        .create_run_credential(&run_a.id)
        .await
        .unwrap();
    let key_b = harness
        .store()
        .tokens()
        .create_run_credential(&run_b.id)
        .await
        .unwrap();
    let secured = harness.secured().await;
    let app = orch_server::router(secured.state.clone());
    let report = |key: &str, tasks: Vec<pb::TaskRun>| {
        grpc(
            "/orch.v1.TaskRunService/ReportTaskRuns",
            key,
            &pb::ReportTaskRunsRequest { task_runs: tasks },
        )
    };
    let own = task("b-task", &run_b.id, pb::StateType::Running, 100);
    assert_eq!(code(&send(&app, report(&key_b, vec![own])).await), 0);

    // Run A's key, run A's id, run B's task run id.
    let forged = task("b-task", &run_a.id, pb::StateType::Failed, 200);
    let response = send(&app, report(&key_a, vec![forged])).await;
    assert_eq!(
        code(&response),
        PERMISSION_DENIED,
        "{:?}",
        response.headers()
    );
    let mut linked = task("a-task", &run_a.id, pb::StateType::Running, 200);
    linked.upstream_ids = vec!["b-task".into()];
    assert_eq!(
        code(&send(&app, report(&key_a, vec![linked])).await),
        PERMISSION_DENIED,
        "an edge to another run's task run"
    );
    let b = harness
        .store()
        .task_runs()
        .list_task_runs(&run_b.id)
        .await
        .unwrap();
    assert_eq!(b[0].state.kind, StateType::Running, "B's task is untouched");
    assert!(
        harness
            .store()
            .task_runs()
            .list_task_runs(&run_a.id)
            .await
            .unwrap()
            .is_empty()
    );

    // Artifacts: not on B, nor on B's task run from A.
    let artifact = |flow_run_id: &str, task_run_id: &str| pb::CreateArtifactRequest {
        flow_run_id: flow_run_id.into(),
        task_run_id: task_run_id.into(),
        kind: "markdown".into(),
        data_json: "\"# forged\"".into(),
        ..Default::default()
    };
    for request in [artifact(&run_b.id, ""), artifact(&run_a.id, "b-task")] {
        let response = send(
            &app,
            grpc("/orch.v1.ArtifactService/CreateArtifact", &key_a, &request),
        )
        .await;
        assert_eq!(code(&response), PERMISSION_DENIED, "{request:?}");
    }
    // Events: not B's.
    let emit = pb::EmitEventRequest {
        flow_run_id: run_b.id.clone(),
        name: "forged".into(),
        payload_json: "{}".into(),
    };
    let response = send(
        &app,
        grpc("/orch.v1.AutomationService/EmitEvent", &key_a, &emit),
    )
    .await;
    assert_eq!(code(&response), PERMISSION_DENIED);
    // A's own writes still work.
    let mine = task("a-task", &run_a.id, pb::StateType::Running, 200);
    assert_eq!(code(&send(&app, report(&key_a, vec![mine])).await), 0);
}

#[tokio::test]
async fn a_worker_token_acts_only_as_the_workers_it_registered() {
    let harness = Harness::start("2026-01-05T09:00:00Z", "default").await;
    let first = token(&harness, "worker-1", Scope::Worker, &["default"]).await;
    let second = token(&harness, "worker-2", Scope::Worker, &["default"]).await;
    let admin = token(&harness, "root", Scope::Admin, &[]).await;
    let secured = harness.secured().await;
    let app = orch_server::router(secured.state.clone());
    let register = pb::RegisterWorkerRequest {
        name: "w".into(),
        work_pool: "default".into(),
        hostname: "box".into(),
        ..Default::default()
    };
    let response = send(
        &app,
        grpc("/orch.v1.WorkerService/RegisterWorker", &first, &register),
    )
    .await;
    assert_eq!(code(&response), 0);
    let worker: pb::Worker = decode(response).await;
    let heartbeat = |key: &str, worker_id: &str| {
        grpc(
            "/orch.v1.WorkerService/Heartbeat",
            key,
            &pb::HeartbeatRequest {
                worker_id: worker_id.into(),
                running_flow_run_ids: vec![],
            },
        )
    };
    assert_eq!(code(&send(&app, heartbeat(&first, &worker.id)).await), 0);
    let response = send(&app, heartbeat(&second, &worker.id)).await;
    assert_eq!(code(&response), PERMISSION_DENIED, "another worker token");
    let message = response.headers()["grpc-message"].to_str().unwrap();
    assert!(message.contains("registered"), "{message}");
    let claim = pb::ClaimRunsRequest {
        worker_id: worker.id.clone(),
        max_runs: 1,
    };
    let response = send(
        &app,
        grpc("/orch.v1.WorkerService/ClaimRuns", &second, &claim),
    )
    .await;
    assert_eq!(code(&response), PERMISSION_DENIED, "nor claim as it");
    // A worker registered by another credential (here the store, as an
    // admin-keyed worker would) is not the token's either.
    let other = harness.worker("w-admin", "default").await;
    assert_eq!(
        code(&send(&app, heartbeat(&first, &other.id)).await),
        PERMISSION_DENIED
    );
    assert_eq!(code(&send(&app, heartbeat(&admin, &worker.id)).await), 0);
}

#[tokio::test]
async fn a_flood_of_bad_keys_never_locks_a_valid_key_out() {
    let harness = Harness::start("2026-01-05T09:00:00Z", "default").await;
    let worker_key = token(&harness, "worker-1", Scope::Worker, &["default"]).await;
    let admin = token(&harness, "root", Scope::Admin, &[]).await;
    let secured = harness.secured().await;
    let app = orch_server::router(secured.state.clone());
    let list = pb::ListFlowRunsRequest::default();
    let call = |key: &str| grpc("/orch.v1.FlowRunService/ListFlowRuns", key, &list);
    // The worker key's id with wrong secrets, keys of unknown ids, and keys
    // that are not orch keys at all, all from the worker's address.
    let id = orch_store::key_id(&worker_key).unwrap().to_owned();
    let mut limited = 0;
    for n in 0..150 {
        for key in [
            format!("orch_{id}_wrong{n}"),
            format!("orch_{:016x}_nope", n),
            "not-a-key".to_owned(),
        ] {
            let answer = code(&send(&app, call(&key)).await);
            assert!(
                matches!(answer, UNAUTHENTICATED | RESOURCE_EXHAUSTED),
                "{key}: {answer}"
            );
            limited += usize::from(answer == RESOURCE_EXHAUSTED);
        }
        if n % 50 == 49 {
            // Valid keys still answer in the middle of the flood.
            let register = pb::RegisterWorkerRequest {
                name: "w".into(),
                work_pool: "default".into(),
                ..Default::default()
            };
            let response = send(
                &app,
                grpc(
                    "/orch.v1.WorkerService/RegisterWorker",
                    &worker_key,
                    &register,
                ),
            )
            .await;
            assert_eq!(code(&response), 0, "the worker's own key");
            assert_eq!(code(&send(&app, call(&admin)).await), 0, "the admin key");
        }
    }
    assert!(limited > 0, "the bad keys are limited");
    // The limit of a key id does not spill over: an unknown id not yet used
    // is answered 401, not 429.
    assert_eq!(
        code(&send(&app, call("orch_ffffffffffffffff_fresh")).await),
        UNAUTHENTICATED
    );
}

/// The audit trail once `done` holds for it (refusals are written in the
/// background), or what it was after a while.
pub(super) async fn audit_until(
    harness: &Harness,
    done: impl Fn(&[AuditRecord]) -> bool,
) -> Vec<AuditRecord> {
    let mut records = Vec::new();
    for _ in 0..100 {
        records = harness.store().audit().list_audit(0, 1000).await.unwrap();
        if done(&records) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    records
}

#[tokio::test]
async fn refusals_logins_and_state_changes_by_hand_are_audited_and_a_flood_is_bounded() {
    let harness = Harness::start("2026-01-05T09:00:00Z", "default").await;
    harness.deploy(DEPLOYMENT).await;
    let (run, _) = harness.running_run("etl/nightly", "default", "w1").await;
    let admin = token(&harness, "root", Scope::Admin, &[]).await;
    let read = token(&harness, "reader", Scope::Read, &[]).await;
    let secured = harness.secured().await;
    let app = orch_server::router(secured.state.clone());

    let set_state = pb::SetFlowRunStateRequest {
        flow_run_id: run.id.clone(),
        state: Some(pb::State {
            r#type: pb::StateType::Failed as i32,
            message: "stopped by hand".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let response = send(
        &app,
        grpc(
            "/orch.v1.FlowRunService/SetFlowRunState",
            &admin,
            &set_state,
        ),
    )
    .await;
    assert_eq!(code(&response), 0, "{:?}", response.headers());
    let mut login = Request::post("/api/session")
        .header("content-type", "application/json")
        .body(Body::from(format!(r#"{{"token": "{read}"}}"#)))
        .unwrap();
    login
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    assert_eq!(send(&app, login).await.status(), StatusCode::OK);
    // A read token refused an admin call, and a flood of bad keys.
    let delete = pb::DeleteDeploymentRequest {
        deployment: "etl/nightly".into(),
    };
    let response = send(
        &app,
        grpc(
            "/orch.v1.DeploymentService/DeleteDeployment",
            &read,
            &delete,
        ),
    )
    .await;
    assert_eq!(code(&response), PERMISSION_DENIED);
    let list = pb::ListFlowRunsRequest::default();
    for n in 0..2000 {
        let key = format!("orch_{:016x}_nope", n % 300);
        send(
            &app,
            grpc("/orch.v1.FlowRunService/ListFlowRuns", &key, &list),
        )
        .await;
    }

    let records = audit_until(&harness, |records| {
        records.iter().any(|r| r.action == "flow-run.set-state")
            && records
                .iter()
                .any(|r| r.caller == "reader" && r.outcome == "permission_denied")
            && records
                .iter()
                .filter(|r| r.action == "request.refused")
                .count()
                >= 60
    })
    .await;
    let by_hand = records
        .iter()
        .find(|r| r.action == "flow-run.set-state")
        .expect("the admin's state change is audited");
    assert_eq!(by_hand.caller, "root");
    assert_eq!(by_hand.target, format!("{} -> FAILED", run.id));
    assert_eq!(by_hand.outcome, "ok");
    let session = records
        .iter()
        .find(|r| r.action == "session.create")
        .expect("the login is audited");
    assert_eq!(session.caller, "reader", "named after its token");
    let refused_admin = records
        .iter()
        .find(|r| r.caller == "reader" && r.outcome == "permission_denied")
        .expect("the refused admin call");
    assert_eq!(
        refused_admin.target,
        "/orch.v1.DeploymentService/DeleteDeployment"
    );
    let bad_key = records
        .iter()
        .find(|r| r.caller == "key 0000000000000001")
        .expect("a bad key is named by its id");
    assert_eq!(bad_key.address, "127.0.0.1");
    assert_eq!(bad_key.target, "/orch.v1.FlowRunService/ListFlowRuns");
    assert!(
        bad_key.outcome == "unauthenticated" || bad_key.outcome == "resource_exhausted",
        "{bad_key:?}"
    );
    let refusals = records
        .iter()
        .filter(|r| r.action == "request.refused")
        .count();
    assert!(
        refusals <= 2 * 64 + 1,
        "2000 refusals make a bounded number of records, not {refusals}"
    );
}

#[tokio::test]
async fn every_request_names_a_known_host_grpc_included() {
    let harness = Harness::start("2026-01-05T09:00:00Z", "default").await;
    // The harness's own state has authentication off (`--no-auth`).
    let app = orch_server::router(harness.state.clone());
    let apply = pb::ApplyDeploymentsRequest::default();
    let call = |uri: &str, host: &str| {
        Request::post(uri)
            .header("host", host)
            .header("content-type", "application/grpc")
            .body(Body::from(grpc_frame(&apply)))
            .unwrap()
    };
    let path = "/orch.v1.DeploymentService/ApplyDeployments";
    let response = send(&app, call(path, "evil.example:4200")).await;
    assert_eq!(response.status(), StatusCode::MISDIRECTED_REQUEST);
    // Under HTTP/2 the host is the `:authority` (the URI's).
    let response = send(
        &app,
        call(&format!("http://evil.example{path}"), "127.0.0.1"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::MISDIRECTED_REQUEST);
    let response = send(&app, call(path, "127.0.0.1:4200")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_ne!(grpc_code(&response), Some(PERMISSION_DENIED));
}
