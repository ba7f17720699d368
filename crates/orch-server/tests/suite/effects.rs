//! Every state change reaches the effects, whatever caused it: runs Crashed
//! by an expired lease, Cancelled by a catch-up policy or by deleting their
//! deployment move `orch_flow_run_transitions_total` (and the duration
//! histogram) as reported runs do, and watchers hear of them.

use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use orch_core::StateType;
use tower::ServiceExt;

use crate::common::{Harness, utc};

/// `GET /metrics` as text.
async fn metrics(harness: &Harness) -> String {
    let app = orch_server::router(harness.state.clone());
    let request = Request::get("/metrics")
        .body(Body::empty())
        .expect("request");
    let response = app.oneshot(request).await.expect("answer");
    assert!(response.status().is_success(), "{}", response.status());
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    String::from_utf8(body.to_vec()).expect("UTF-8")
}

/// The value of the sample `name{labels}` (0 when absent). The registry is
/// the process's, shared by the tests of this binary: each test uses
/// deployment names of its own.
async fn sample(harness: &Harness, name: &str, deployment: &str, state: &str) -> f64 {
    let key = format!("{name}{{deployment=\"{deployment}\",state=\"{state}\"}} ");
    metrics(harness)
        .await
        .lines()
        .find_map(|line| line.strip_prefix(&key))
        .map_or(0.0, |value| value.trim().parse().expect("a number"))
}

async fn transitions(harness: &Harness, deployment: &str, state: &str) -> f64 {
    sample(
        harness,
        "orch_flow_run_transitions_total",
        deployment,
        state,
    )
    .await
}

fn deployment(name: &str, extra: &str) -> String {
    format!(
        r#"
[[deployments]]
flow = "effects"
name = "{name}"
entrypoint = ["sleep", "600"]
work_pool = "pool"
{extra}
"#
    )
}

#[tokio::test]
async fn a_run_crashed_by_lease_expiry_moves_the_transition_metrics() {
    let harness = Harness::start("2026-01-05T10:00:00Z", "pool").await;
    harness.deploy(&deployment("lease", "")).await;
    let name = "effects/lease";
    let (run, _worker) = harness.running_run(name, "pool", "doomed").await;
    let crashed_before = transitions(&harness, name, "Crashed").await;
    let durations_before = sample(
        &harness,
        "orch_flow_run_duration_seconds_count",
        name,
        "Crashed",
    )
    .await;
    let mut events = harness.state.events().subscribe();

    harness.advance(Duration::from_secs(31));
    harness.sweep().await;

    assert_eq!(harness.run(&run.id).await.state.kind, StateType::Crashed);
    assert_eq!(
        transitions(&harness, name, "Crashed").await,
        crashed_before + 1.0
    );
    assert_eq!(
        sample(
            &harness,
            "orch_flow_run_duration_seconds_count",
            name,
            "Crashed"
        )
        .await,
        durations_before + 1.0
    );
    let event = events.try_recv().expect("watchers are told");
    assert_eq!(event.run_id(), Some(run.id.as_str()));
}

#[tokio::test]
async fn runs_cancelled_by_catch_up_move_the_transition_metrics() {
    let harness = Harness::start("2026-01-05T10:05:00Z", "pool").await;
    harness
        .deploy(&deployment(
            "catch-up",
            "\n[[deployments.schedules]]\ncron = \"*/15 * * * *\"\n",
        ))
        .await;
    let name = "effects/catch-up";
    harness.schedule().await;
    let before = transitions(&harness, name, "Cancelled").await;

    // An hour without workers: the default policy (latest) keeps only 11:00.
    harness.clock.set(utc("2026-01-05T11:05:00Z"));
    harness.schedule().await;

    let cancelled = harness.runs_in(name, StateType::Cancelled).await;
    assert_eq!(cancelled.len(), 3);
    assert_eq!(transitions(&harness, name, "Cancelled").await, before + 3.0);
}

#[tokio::test]
async fn runs_cancelled_by_deleting_their_deployment_move_the_transition_metrics() {
    let harness = Harness::start("2026-01-05T10:00:00Z", "pool").await;
    harness.deploy(&deployment("deleted", "")).await;
    let name = "effects/deleted";
    let mut waiting = Vec::new();
    for _ in 0..2 {
        let run = harness.run_now(name).await;
        waiting.push(run.id);
    }
    let before = transitions(&harness, name, "Cancelled").await;

    orch_server::ops::deployments::delete(&harness.state, name)
        .await
        .unwrap();

    for run_id in &waiting {
        let run = harness.run(run_id).await;
        assert_eq!(run.state.kind, StateType::Cancelled);
        assert_eq!(run.state.message, "deployment deleted");
    }
    assert_eq!(transitions(&harness, name, "Cancelled").await, before + 2.0);
}

#[tokio::test]
async fn a_claim_and_a_report_through_the_use_cases_move_the_metrics_once_each() {
    let harness = Harness::start("2026-01-05T10:00:00Z", "pool").await;
    harness.deploy(&deployment("reported", "")).await;
    let name = "effects/reported";
    let run = harness.run_now(name).await;
    let worker = harness.worker("w1", "pool").await;
    let pending = transitions(&harness, name, "Pending").await;
    let running = transitions(&harness, name, "Running").await;

    let claimed =
        orch_server::ops::workers::claim(&harness.state, &crate::common::anyone(), &worker.id, 1)
            .await
            .unwrap();
    assert_eq!(claimed[0].claim.run.id, run.id);
    let proposal = orch_store::Proposal {
        state: orch_store::NewState::new(StateType::Running, "", ""),
        transition_id: String::new(),
        worker_id: Some(worker.id.clone()),
    };
    orch_server::ops::flow_runs::set_state(
        &harness.state,
        &crate::common::anyone(),
        &run.id,
        proposal,
    )
    .await
    .unwrap();

    assert_eq!(transitions(&harness, name, "Pending").await, pending + 1.0);
    assert_eq!(transitions(&harness, name, "Running").await, running + 1.0);
}
