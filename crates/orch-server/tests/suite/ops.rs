//! The application layer: a use case behaves the same whichever transport
//! calls it (here, the effects the REST API used to skip).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures::FutureExt;
use tower::ServiceExt;

use crate::common::Harness;

const DEPLOYMENT: &str = r#"
[[deployments]]
flow = "etl"
name = "nightly"
entrypoint = ["etl"]
work_pool = "default"

[[deployments.schedules]]
cron = "0 2 * * *"
"#;

async fn post(app: &axum::Router, path: &str) -> StatusCode {
    let request = Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from("{}"))
        .expect("request");
    app.clone().oneshot(request).await.expect("answer").status()
}

#[tokio::test]
async fn resuming_a_deployment_over_rest_wakes_the_scheduler() {
    let harness = Harness::start("2026-01-05T09:00:00Z", "default").await;
    harness.deploy(DEPLOYMENT).await;
    let app = orch_server::router(harness.state.clone());

    assert_eq!(
        post(&app, "/api/deployments/etl/nightly/pause").await,
        StatusCode::OK
    );
    // Take the wake-up that deploying and pausing left, so the next one is resume's.
    let _ = harness.state.scheduler_woken().now_or_never();
    assert!(
        harness.state.scheduler_woken().now_or_never().is_none(),
        "no wake-up is pending before the resume"
    );

    assert_eq!(
        post(&app, "/api/deployments/etl/nightly/resume").await,
        StatusCode::OK
    );
    assert!(
        harness.state.scheduler_woken().now_or_never().is_some(),
        "resuming over REST refills the schedules at once"
    );
    let deployment = harness
        .store()
        .deployments()
        .deployment("etl/nightly")
        .await
        .unwrap();
    assert!(!deployment.paused);
}

#[tokio::test]
async fn cancel_and_retry_answer_alike_over_both_transports() {
    let harness = Harness::start("2026-01-05T09:00:00Z", "default").await;
    harness.deploy(DEPLOYMENT).await;
    let app = orch_server::router(harness.state.clone());
    let run = harness.run_now("etl/nightly").await;

    // Retrying a run that has not finished is refused the same way: 409.
    let path = format!("/api/flow-runs/{}/retry", run.id);
    assert_eq!(post(&app, &path).await, StatusCode::CONFLICT);
    let error = orch_server::ops::flow_runs::retry(&harness.state, &run.id)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("cancel it first"), "{error}");

    // A Scheduled run cancelled through REST ends Cancelled, then retries.
    let path = format!("/api/flow-runs/{}/cancel", run.id);
    assert_eq!(post(&app, &path).await, StatusCode::OK);
    assert_eq!(harness.run(&run.id).await.state.name, "Cancelled");
    let path = format!("/api/flow-runs/{}/retry", run.id);
    assert_eq!(post(&app, &path).await, StatusCode::CREATED);
}
