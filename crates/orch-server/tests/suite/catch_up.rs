//! Catch-up policies after an hour with no worker, and after the server was
//! down: which missed slots still run.

use std::time::Duration;

use crate::common::{Harness, starts, utc};
use orch_core::StateType;

/// A quarter-hourly deployment with `extra` deployment keys.
fn quarterly(extra: &str) -> String {
    format!(
        r#"
[[deployments]]
flow = "trading-flow"
name = "prod"
entrypoint = ["sentinel", "trading-flow"]
work_pool = "pool"
{extra}

[[deployments.schedules]]
cron = "*/15 * * * *"
"#
    )
}

const DEPLOYMENT: &str = "trading-flow/prod";

/// Deploys at 10:05 and fills ahead; no worker until 11:05, when one
/// registers and claims: 10:15, 10:30, 10:45 and 11:00 were missed.
async fn after_an_hour_without_workers(extra: &str) -> (Harness, Vec<String>) {
    let harness = Harness::start("2026-01-05T10:05:00Z", "pool").await;
    harness.deploy(&quarterly(extra)).await;
    harness.schedule().await;
    harness.clock.set(utc("2026-01-05T11:05:00Z"));
    harness.sweep().await;
    let late = harness.runs_in(DEPLOYMENT, StateType::Scheduled).await;
    assert_eq!(late.iter().filter(|r| r.state.name == "Late").count(), 4);
    let worker = harness.worker("w1", "pool").await;
    let claimed = harness.claim(&worker, 10).await;
    (harness, starts(&claimed))
}

/// (expected start, state message) of the deployment's Cancelled runs.
async fn cancelled(harness: &Harness) -> Vec<(String, String)> {
    let runs = harness.runs_in(DEPLOYMENT, StateType::Cancelled).await;
    starts(&runs)
        .into_iter()
        .zip(runs.iter().map(|r| r.state.message.clone()))
        .collect()
}

#[tokio::test]
async fn catch_up_all_runs_every_missed_slot_oldest_first() {
    let (harness, claimed) = after_an_hour_without_workers("catch_up = \"all\"").await;
    assert_eq!(
        claimed,
        [
            "2026-01-05T10:15:00Z",
            "2026-01-05T10:30:00Z",
            "2026-01-05T10:45:00Z",
            "2026-01-05T11:00:00Z"
        ]
    );
    assert!(cancelled(&harness).await.is_empty());
}

#[tokio::test]
async fn catch_up_latest_runs_only_the_newest_missed_slot() {
    // `latest` is the default.
    let (harness, claimed) = after_an_hour_without_workers("").await;
    assert_eq!(claimed, ["2026-01-05T11:00:00Z"]);
    let cancelled = cancelled(&harness).await;
    assert_eq!(cancelled.len(), 3);
    assert_eq!(cancelled[0].0, "2026-01-05T10:15:00Z");
    assert!(
        cancelled
            .iter()
            .all(|(_, message)| message == "skipped: superseded")
    );
}

#[tokio::test]
async fn catch_up_skip_runs_none_of_the_missed_slots() {
    let (harness, claimed) = after_an_hour_without_workers("catch_up = \"skip\"").await;
    assert!(claimed.is_empty());
    let cancelled = cancelled(&harness).await;
    assert_eq!(cancelled.len(), 4);
    assert!(
        cancelled
            .iter()
            .all(|(_, message)| message == "skipped: missed (catch-up policy skip)")
    );
    // The next slot, 11:15, runs when it is due.
    harness.clock.set(utc("2026-01-05T11:15:01Z"));
    harness.schedule().await;
    let worker = harness.worker("w2", "pool").await;
    assert_eq!(
        starts(&harness.claim(&worker, 10).await),
        ["2026-01-05T11:15:00Z"]
    );
}

#[tokio::test]
async fn max_lateness_cancels_runs_later_than_it_whatever_the_policy() {
    let (harness, claimed) =
        after_an_hour_without_workers("catch_up = \"all\"\nmax_lateness_seconds = 1200").await;
    // At 11:05, 10:45 is exactly 20 minutes late: still allowed.
    assert_eq!(claimed, ["2026-01-05T10:45:00Z", "2026-01-05T11:00:00Z"]);
    let cancelled = cancelled(&harness).await;
    assert_eq!(
        cancelled,
        [
            (
                "2026-01-05T10:15:00Z".to_owned(),
                "skipped: later than max_lateness (1200s)".to_owned()
            ),
            (
                "2026-01-05T10:30:00Z".to_owned(),
                "skipped: later than max_lateness (1200s)".to_owned()
            ),
        ]
    );
}

#[tokio::test]
async fn the_scheduler_pass_applies_the_policy_before_any_worker_returns() {
    let harness = Harness::start("2026-01-05T10:05:00Z", "pool").await;
    harness.deploy(&quarterly("")).await;
    harness.schedule().await;
    harness.clock.set(utc("2026-01-05T11:05:00Z"));
    harness.schedule().await;
    // flow-run ls shows one run waiting per schedule, not a pile.
    let waiting: Vec<_> = harness
        .runs_in(DEPLOYMENT, StateType::Scheduled)
        .await
        .into_iter()
        .filter(|r| r.expected_start <= crate::common::micros("2026-01-05T11:05:00Z"))
        .collect();
    assert_eq!(starts(&waiting), ["2026-01-05T11:00:00Z"]);
}

/// The server fills ahead to 11:05 at 10:05 and goes down until 12:35:
/// slots 11:15 to 12:30 were never created.
async fn after_server_downtime(extra: &str) -> (Harness, Vec<String>) {
    let mut harness = Harness::start("2026-01-05T10:05:00Z", "pool").await;
    harness.deploy(&quarterly(extra)).await;
    harness.schedule().await;
    harness.restart().await;
    harness.advance(Duration::from_secs(150 * 60));
    harness.schedule().await;
    let worker = harness.worker("w1", "pool").await;
    let claimed = harness.claim(&worker, 100).await;
    (harness, starts(&claimed))
}

#[tokio::test]
async fn after_server_downtime_all_replays_every_missed_slot() {
    let (_harness, claimed) = after_server_downtime("catch_up = \"all\"").await;
    assert_eq!(claimed.len(), 10, "10:15 .. 12:30: {claimed:?}");
    assert_eq!(claimed.first().unwrap(), "2026-01-05T10:15:00Z");
    assert_eq!(claimed.last().unwrap(), "2026-01-05T12:30:00Z");
}

#[tokio::test]
async fn after_server_downtime_latest_runs_only_the_newest_slot() {
    let (harness, claimed) = after_server_downtime("").await;
    assert_eq!(claimed, ["2026-01-05T12:30:00Z"]);
    assert_eq!(
        cancelled(&harness).await.len(),
        4,
        "the runs made before the downtime"
    );
}

#[tokio::test]
async fn after_server_downtime_skip_runs_nothing_missed() {
    let (harness, claimed) = after_server_downtime("catch_up = \"skip\"").await;
    assert!(claimed.is_empty());
    let upcoming = harness.runs_in(DEPLOYMENT, StateType::Scheduled).await;
    assert_eq!(starts(&upcoming)[0], "2026-01-05T12:45:00Z");
}
