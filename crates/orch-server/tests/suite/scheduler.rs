//! The scheduler fills schedules ahead, exactly once per slot, and follows
//! schedules as they change. A manual clock stands in for time.

use std::time::Duration;

use crate::common::{Harness, micros, starts};
use orch_core::StateType;

/// Friday 2026-03-06 15:10 in New York.
const FRIDAY: &str = "2026-03-06T20:10:00Z";

const TRADING: &str = r#"
[[deployments]]
flow = "trading-flow"
name = "trading-production"
entrypoint = ["sentinel", "trading-flow"]
work_pool = "sentinel-pool"
parameters = { force = false }

[[deployments.schedules]]
slug = "market-hours"
cron = "*/15 9-15 * * 1-5"
timezone = "America/New_York"

[[deployments.schedules]]
slug = "close"
cron = "0 16 * * 1-5"
timezone = "America/New_York"
"#;

const REFRESH: &str = r#"
[[deployments]]
flow = "data-refresh-flow"
name = "data-refresh-production"
entrypoint = ["sentinel", "data-refresh-flow"]
work_pool = "sentinel-pool"

[[deployments.schedules]]
interval_seconds = 240
"#;

#[tokio::test]
async fn schedules_are_filled_ahead_in_their_time_zone() {
    let harness = Harness::start(FRIDAY, "sentinel-pool").await;
    harness.deploy(TRADING).await;
    assert_eq!(harness.schedule().await, 6);
    let runs = harness.runs("trading-flow/trading-production").await;
    assert_eq!(
        starts(&runs),
        [
            "2026-03-06T20:15:00Z", // market-hours: Friday 15:15, 15:30, 15:45 ET
            "2026-03-06T20:30:00Z",
            "2026-03-06T20:45:00Z",
            "2026-03-06T21:00:00Z", // close: Friday 16:00 ET
            "2026-03-09T20:00:00Z", // close: Monday and Tuesday 16:00 EDT
            "2026-03-10T20:00:00Z",
        ]
    );
    assert!(runs.iter().all(|r| r.state.kind == StateType::Scheduled));
    assert_eq!(runs[0].schedule_slug.as_deref(), Some("market-hours"));
    assert_eq!(runs[3].schedule_slug.as_deref(), Some("close"));
    assert_eq!(runs[0].parameters["force"], false);
}

#[tokio::test]
async fn no_slot_gets_a_second_run_across_passes_restarts_and_re_deploys() {
    let mut harness = Harness::start(FRIDAY, "sentinel-pool").await;
    harness.deploy(TRADING).await;
    harness.deploy(REFRESH).await;
    let first = harness.schedule().await;
    assert_eq!(
        first,
        6 + 15,
        "6 trading runs and an hour of 4-minute refreshes"
    );

    // Two passes at once (as two replicas would run them).
    let (a, b) = tokio::join!(
        orch_server::scheduler::run_once(&harness.state),
        orch_server::scheduler::run_once(&harness.state)
    );
    assert_eq!(a.unwrap().created + b.unwrap().created, 0);

    harness.restart().await;
    assert_eq!(harness.schedule().await, 0, "after a restart");

    harness.deploy(TRADING).await;
    harness.deploy(REFRESH).await;
    assert_eq!(
        harness.schedule().await,
        0,
        "after deploying the same file again"
    );

    assert_eq!(
        harness.runs("trading-flow/trading-production").await.len(),
        6
    );
    let refresh = harness
        .runs("data-refresh-flow/data-refresh-production")
        .await;
    assert_eq!(refresh.len(), 15);
    let mut slots: Vec<i64> = refresh.iter().map(|r| r.expected_start).collect();
    slots.dedup();
    assert_eq!(slots.len(), 15, "one run per slot");
}

#[tokio::test]
async fn the_horizon_moves_with_the_clock() {
    let harness = Harness::start("2026-03-06T20:10:30Z", "sentinel-pool").await;
    harness.deploy(REFRESH).await;
    assert_eq!(harness.schedule().await, 15);
    harness.advance(Duration::from_secs(30 * 60));
    // 20:40:30 + 1 h: slots up to 21:40 exist; 20:12..21:08 existed already.
    assert_eq!(harness.schedule().await, 8);
    let runs = harness
        .runs("data-refresh-flow/data-refresh-production")
        .await;
    assert_eq!(
        runs.first().unwrap().expected_start,
        micros("2026-03-06T20:12:00Z")
    );
    assert_eq!(
        runs.last().unwrap().expected_start,
        micros("2026-03-06T21:40:00Z")
    );
}

#[tokio::test]
async fn a_removed_schedule_takes_its_waiting_runs_with_it() {
    let harness = Harness::start(FRIDAY, "sentinel-pool").await;
    harness.deploy(TRADING).await;
    harness.schedule().await;
    let without_close = TRADING
        .split("[[deployments.schedules]]\nslug = \"close\"")
        .next()
        .unwrap();
    harness.deploy(without_close).await;
    let runs = harness.runs("trading-flow/trading-production").await;
    assert_eq!(runs.len(), 3);
    assert!(
        runs.iter()
            .all(|r| r.schedule_slug.as_deref() == Some("market-hours"))
    );
    assert_eq!(harness.schedule().await, 0);
}

#[tokio::test]
async fn a_paused_schedule_loses_its_runs_and_refills_from_now_when_resumed() {
    let harness = Harness::start(FRIDAY, "sentinel-pool").await;
    harness.deploy(TRADING).await;
    harness.schedule().await;
    let store = harness.store();
    store
        .schedules()
        .set_schedule_active("trading-flow/trading-production", "market-hours", false)
        .await
        .unwrap();
    assert_eq!(
        harness.runs("trading-flow/trading-production").await.len(),
        3
    );
    assert_eq!(
        harness.schedule().await,
        0,
        "an inactive schedule makes no runs"
    );

    harness.advance(Duration::from_secs(20 * 60)); // 15:30 ET
    store
        .schedules()
        .set_schedule_active("trading-flow/trading-production", "market-hours", true)
        .await
        .unwrap();
    harness.schedule().await;
    let market: Vec<_> = harness
        .runs("trading-flow/trading-production")
        .await
        .into_iter()
        .filter(|r| r.schedule_slug.as_deref() == Some("market-hours"))
        .collect();
    // 15:30 (when it was off) is not replayed; 15:45 and Monday's first two follow.
    assert_eq!(
        starts(&market),
        [
            "2026-03-06T20:45:00Z",
            "2026-03-09T13:00:00Z",
            "2026-03-09T13:15:00Z"
        ]
    );
}

#[tokio::test]
async fn a_redefined_schedule_replaces_its_waiting_runs() {
    let harness = Harness::start(FRIDAY, "sentinel-pool").await;
    harness.deploy(REFRESH).await;
    harness.schedule().await;
    harness
        .deploy(&REFRESH.replace("interval_seconds = 240", "interval_seconds = 1800"))
        .await;
    assert!(
        harness
            .runs("data-refresh-flow/data-refresh-production")
            .await
            .is_empty()
    );
    assert_eq!(harness.schedule().await, 3);
    let runs = harness
        .runs("data-refresh-flow/data-refresh-production")
        .await;
    assert_eq!(
        starts(&runs),
        [
            "2026-03-06T20:30:00Z",
            "2026-03-06T21:00:00Z",
            "2026-03-06T21:30:00Z"
        ]
    );
}

#[tokio::test]
async fn a_paused_deployment_gets_no_new_runs_and_does_not_replay_the_pause() {
    let harness = Harness::start(FRIDAY, "sentinel-pool").await;
    harness.deploy(REFRESH).await;
    harness.schedule().await;
    let store = harness.store();
    let reference = "data-refresh-flow/data-refresh-production";
    store
        .deployments()
        .set_deployment_paused(reference, true)
        .await
        .unwrap();
    harness.advance(Duration::from_secs(3 * 3600));
    assert_eq!(harness.schedule().await, 0);
    store
        .deployments()
        .set_deployment_paused(reference, false)
        .await
        .unwrap();
    // The next hour from now, nothing from the 3 paused hours.
    assert_eq!(harness.schedule().await, 15);
}

#[tokio::test]
async fn scheduled_runs_are_marked_late_when_no_worker_starts_them() {
    let harness = Harness::start("2026-03-06T20:10:30Z", "sentinel-pool").await;
    harness.deploy(REFRESH).await;
    harness.schedule().await;
    // 20:12:00 is due; 10 s after it, it is not late yet (threshold 15 s).
    harness
        .clock
        .set(crate::common::utc("2026-03-06T20:12:10Z"));
    harness.sweep().await;
    let runs = harness
        .runs("data-refresh-flow/data-refresh-production")
        .await;
    assert_eq!(runs[0].state.name, "Scheduled");
    harness
        .clock
        .set(crate::common::utc("2026-03-06T20:12:16Z"));
    harness.sweep().await;
    let runs = harness
        .runs("data-refresh-flow/data-refresh-production")
        .await;
    assert_eq!(runs[0].state.name, "Late");
    assert_eq!(runs[0].state.kind, StateType::Scheduled);
    assert_eq!(runs[1].state.name, "Scheduled", "20:16 is not due yet");
    let late = harness
        .store()
        .flow_runs()
        .list_flow_runs(&orch_store::FlowRunFilter {
            state_name: Some("late".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(late.len(), 1, "flow-run ls --state late shows it");
}

#[tokio::test]
async fn the_idempotency_key_refuses_a_second_run_for_a_slot_whatever_the_progress_says() {
    let harness = Harness::start(FRIDAY, "sentinel-pool").await;
    harness.deploy(REFRESH).await;
    harness.schedule().await;
    let store = harness.store();
    let fill = store
        .schedules()
        .schedules_to_fill()
        .await
        .unwrap()
        .remove(0);
    let existing: Vec<i64> = harness
        .runs("data-refresh-flow/data-refresh-production")
        .await
        .iter()
        .map(|r| r.expected_start)
        .collect();
    // As if the progress mark were lost: every slot is offered again.
    let created = store
        .schedules()
        .create_scheduled_runs(&fill, &existing, *existing.last().unwrap())
        .await
        .unwrap()
        .value;
    assert!(created.is_empty());
    assert_eq!(
        harness
            .runs("data-refresh-flow/data-refresh-production")
            .await
            .len(),
        existing.len()
    );
}
