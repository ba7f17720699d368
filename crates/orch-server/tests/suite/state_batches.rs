//! `SetFlowRunStates` through the real router: each report of a batch is
//! checked against the caller and applied as `SetFlowRunState` would, and
//! answered in order; a refused, unknown or malformed report fails alone.

use orch_core::StateType;
use orch_core::auth::Scope;
use orch_proto::v1 as pb;

use super::auth::{DEPLOYMENT, send, token};
use super::boundary::{audit_until, code, decode, grpc};
use crate::common::Harness;

const INVALID_ARGUMENT: i32 = 3;
const NOT_FOUND: i32 = 5;
const PERMISSION_DENIED: i32 = 7;
const PATH: &str = "/orch.v1.FlowRunService/SetFlowRunStates";

fn report(run: &str, kind: pb::StateType, transition_id: &str) -> pb::SetFlowRunStateRequest {
    pb::SetFlowRunStateRequest {
        flow_run_id: run.into(),
        state: Some(pb::State {
            r#type: kind as i32,
            ..Default::default()
        }),
        transition_id: transition_id.into(),
        ..Default::default()
    }
}

/// Each result as (error code, outcome, state type after the report).
fn summary(response: &pb::SetFlowRunStatesResponse) -> Vec<(i32, i32, i32)> {
    response
        .results
        .iter()
        .map(|result| match &result.response {
            Some(answer) => (
                result.error_code,
                answer.outcome,
                answer.state.as_ref().map_or(0, |s| s.r#type),
            ),
            None => (result.error_code, 0, 0),
        })
        .collect()
}

#[tokio::test]
async fn each_report_of_a_batch_is_checked_applied_and_answered_in_order() {
    let harness = Harness::start("2026-01-05T09:00:00Z", "default").await;
    harness.deploy(DEPLOYMENT).await;
    let (a, _) = harness.running_run("etl/nightly", "default", "w1").await;
    let (b, _) = harness.running_run("etl/nightly", "default", "w2").await;
    let (c, _) = harness.running_run("etl/nightly", "default", "w3").await;
    let key_a = harness
        .store()
        .tokens()
        .create_run_credential(&a.id)
        .await
        .unwrap();
    let worker = token(&harness, "worker", Scope::Worker, &["default"]).await;
    let other_pool = token(&harness, "gpu-worker", Scope::Worker, &["gpu"]).await;
    let secured = harness.secured().await;
    let app = orch_server::router(secured.state.clone());
    let batch = |key: &str, reports: Vec<pb::SetFlowRunStateRequest>| {
        grpc(PATH, key, &pb::SetFlowRunStatesRequest { reports })
    };
    let accepted = pb::TransitionOutcome::Accepted as i32;
    let rejected = pb::TransitionOutcome::Rejected as i32;
    let completed = pb::StateType::Completed as i32;

    // A run's key reports on its own run only: run B's report fails alone.
    let response = send(
        &app,
        batch(
            &key_a,
            vec![
                report(&a.id, pb::StateType::Completed, "a-1"),
                report(&b.id, pb::StateType::Completed, "b-1"),
            ],
        ),
    )
    .await;
    assert_eq!(code(&response), 0);
    let answer: pb::SetFlowRunStatesResponse = decode(response).await;
    assert_eq!(
        summary(&answer),
        [(0, accepted, completed), (PERMISSION_DENIED, 0, 0)]
    );
    assert!(answer.results[1].error_message.contains(&b.id));
    assert_eq!(harness.run(&a.id).await.state.kind, StateType::Completed);
    assert_eq!(harness.run(&b.id).await.state.kind, StateType::Running);

    // A worker token of another pool may report on none of them.
    let response = send(
        &app,
        batch(
            &other_pool,
            vec![report(&b.id, pb::StateType::Completed, "b-1")],
        ),
    )
    .await;
    let answer: pb::SetFlowRunStatesResponse = decode(response).await;
    assert_eq!(summary(&answer), [(PERMISSION_DENIED, 0, 0)]);
    assert_eq!(harness.run(&b.id).await.state.kind, StateType::Running);

    // The pool's worker token: applied, unknown, malformed and rejected
    // reports side by side, each answered in its place.
    let mut no_state = report(&c.id, pb::StateType::Completed, "c-0");
    no_state.state = None;
    let reports = vec![
        report(&b.id, pb::StateType::Completed, "b-1"),
        report("no-such-run", pb::StateType::Completed, "x-1"),
        no_state,
        report(&c.id, pb::StateType::Pending, "c-1"),
    ];
    let response = send(&app, batch(&worker, reports.clone())).await;
    let answer: pb::SetFlowRunStatesResponse = decode(response).await;
    let running = pb::StateType::Running as i32;
    let expected = [
        (0, accepted, completed),
        (NOT_FOUND, 0, 0),
        (INVALID_ARGUMENT, 0, 0),
        (0, rejected, running),
    ];
    assert_eq!(summary(&answer), expected);
    assert_eq!(harness.run(&b.id).await.state.kind, StateType::Completed);
    assert_eq!(harness.run(&c.id).await.state.kind, StateType::Running);

    // Sent again (a retry after a lost answer): the same answers, nothing
    // written twice.
    let response = send(&app, batch(&worker, reports)).await;
    let again: pb::SetFlowRunStatesResponse = decode(response).await;
    assert_eq!(summary(&again), expected);
    let history = harness
        .store()
        .flow_runs()
        .flow_run_history(&b.id)
        .await
        .unwrap();
    let finals = history
        .iter()
        .filter(|state| state.kind == StateType::Completed)
        .count();
    assert_eq!(finals, 1, "{history:?}");
}

#[tokio::test]
async fn an_oversized_batch_is_refused_whole_and_a_batch_by_hand_is_audited() {
    let harness = Harness::start("2026-01-05T09:00:00Z", "default").await;
    harness.deploy(DEPLOYMENT).await;
    let (run, _) = harness.running_run("etl/nightly", "default", "w1").await;
    let admin = token(&harness, "root", Scope::Admin, &[]).await;
    let worker = token(&harness, "worker", Scope::Worker, &["default"]).await;
    let secured = harness.secured().await;
    let app = orch_server::router(secured.state.clone());

    let too_many = pb::SetFlowRunStatesRequest {
        reports: (0..=orch_proto::MAX_STATE_REPORTS)
            .map(|n| report(&run.id, pb::StateType::Completed, &format!("t-{n}")))
            .collect(),
    };
    let response = send(&app, grpc(PATH, &worker, &too_many)).await;
    assert_eq!(code(&response), INVALID_ARGUMENT);
    // grpc-message is percent-encoded.
    let message = response.headers()["grpc-message"].to_str().unwrap();
    assert!(message.contains("at%20most%201000"), "{message}");
    assert_eq!(harness.run(&run.id).await.state.kind, StateType::Running);

    // A worker's batch is the runtime protocol (kept as the run's history),
    // an admin's is a change by hand (kept in the audit trail too).
    let by_worker = pb::SetFlowRunStatesRequest {
        reports: vec![report(&run.id, pb::StateType::Running, "r-1")],
    };
    assert_eq!(code(&send(&app, grpc(PATH, &worker, &by_worker)).await), 0);
    let by_hand = pb::SetFlowRunStatesRequest {
        reports: vec![report(&run.id, pb::StateType::Failed, "f-1")],
    };
    assert_eq!(code(&send(&app, grpc(PATH, &admin, &by_hand)).await), 0);
    assert_eq!(harness.run(&run.id).await.state.kind, StateType::Failed);
    let target = format!("{} -> FAILED", run.id);
    let records = audit_until(&harness, |records| {
        records.iter().any(|r| r.action == "flow-run.set-states")
    })
    .await;
    let batches: Vec<_> = records
        .iter()
        .filter(|r| r.action == "flow-run.set-states")
        .map(|r| (r.caller.as_str(), r.target.as_str()))
        .collect();
    assert_eq!(batches, [("root", target.as_str())]);
}
