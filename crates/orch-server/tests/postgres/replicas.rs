//! Several servers on one database: their scheduler passes and sweeps may
//! run at the same moment, and each slot, crash and retry still happens once.

use std::time::Duration;

use crate::common::Harness;

const EVERY_FOUR_MINUTES: &str = r#"
[[deployments]]
flow = "refresh"
name = "prod"
entrypoint = ["refresh"]
work_pool = "pool"
retries = 1
retry_delay_seconds = 0

[[deployments.schedules]]
interval_seconds = 240
"#;

#[tokio::test]
async fn replicas_scheduling_at_once_make_one_run_per_slot() {
    let harness = Harness::start("2026-01-05T10:00:00Z", "pool").await;
    harness.deploy(EVERY_FOUR_MINUTES).await;
    let replica = harness.replica().await;

    for _ in 0..3 {
        let (here, there) = tokio::join!(
            orch_server::scheduler::run_once(&harness.state),
            orch_server::scheduler::run_once(&replica.state)
        );
        here.expect("scheduler pass");
        there.expect("scheduler pass on the replica");
        harness.advance(Duration::from_secs(600));
    }

    let runs = harness.runs("refresh/prod").await;
    let mut slots: Vec<i64> = runs.iter().map(|run| run.expected_start).collect();
    slots.dedup();
    assert_eq!(slots.len(), runs.len(), "one run per slot");
    // 20 minutes of clock plus the hour ahead, every 4 minutes.
    assert!(runs.len() >= 15 + 5, "filled ahead: {} runs", runs.len());
}

#[tokio::test]
async fn replicas_sweeping_at_once_crash_and_retry_a_dead_workers_run_once() {
    let harness = Harness::start("2026-01-05T10:00:00Z", "pool").await;
    harness.deploy(EVERY_FOUR_MINUTES).await;
    let replica = harness.replica().await;
    let (run, _worker) = harness.running_run("refresh/prod", "pool", "doomed").await;

    harness.advance(Duration::from_secs(31));
    tokio::join!(
        orch_server::background::sweep(&harness.state),
        orch_server::background::sweep(&replica.state)
    );

    let retried = harness.run(&run.id).await;
    assert_eq!(retried.state.name, "AwaitingRetry");
    let history = harness
        .store()
        .flow_runs()
        .flow_run_history(&run.id)
        .await
        .unwrap();
    let names: Vec<&str> = history.iter().map(|state| state.name.as_str()).collect();
    assert_eq!(
        names,
        ["Scheduled", "Pending", "Running", "AwaitingRetry"],
        "crashed and rescheduled once: {history:#?}"
    );
    assert!(
        retried.state.message.contains("after Crashed"),
        "{}",
        retried.state.message
    );
}

#[tokio::test]
async fn each_background_duty_runs_on_one_replica_and_moves_when_its_holder_stops() {
    use orch_server::duties::{self, Duty, TTL};
    let harness = Harness::start("2026-01-05T10:00:00Z", "pool").await;
    let replica = harness.replica().await;
    let (one, two) = (&harness.state, &replica.state);

    duties::round(one).await;
    duties::round(two).await;
    for duty in Duty::ALL {
        assert!(
            one.duties().holds(duty),
            "{} on the first replica",
            duty.name()
        );
        assert!(
            !two.duties().holds(duty),
            "{} on one replica only",
            duty.name()
        );
    }
    // Both renew; nothing moves while the holder keeps renewing.
    harness.advance(Duration::from_secs(8));
    duties::round(one).await;
    duties::round(two).await;
    assert!(Duty::ALL.iter().all(|d| one.duties().holds(*d)));
    assert!(Duty::ALL.iter().all(|d| !two.duties().holds(*d)));

    // Either replica's status says who runs what.
    let status = orch_server::ops::server::status(two).await.unwrap();
    let names: Vec<&str> = status.duties.iter().map(|(l, _)| l.duty.as_str()).collect();
    assert_eq!(
        names,
        [
            "automation-conditions",
            "backup",
            "prune",
            "scheduler",
            "sweep"
        ]
    );
    assert!(
        status
            .duties
            .iter()
            .all(|(lease, mine)| !mine && lease.holder == one.duties().replica())
    );

    // The first replica stops renewing (killed): once its leases lapse, the
    // second takes every duty over, and the first, if it comes back, finds
    // them gone instead of running them too.
    harness.advance(TTL);
    duties::round(two).await;
    assert!(Duty::ALL.iter().all(|d| two.duties().holds(*d)));
    duties::round(one).await;
    assert!(Duty::ALL.iter().all(|d| !one.duties().holds(*d)));
    let status = orch_server::ops::server::status(two).await.unwrap();
    assert!(status.duties.iter().all(|(_, mine)| *mine));

    // A replica that shuts down cleanly hands its duties over at once.
    assert_eq!(
        harness
            .store()
            .replicas()
            .release_duties(two.duties().replica())
            .await
            .unwrap(),
        Duty::ALL.len() as u64
    );
    duties::round(one).await;
    assert!(Duty::ALL.iter().all(|d| one.duties().holds(*d)));
}
