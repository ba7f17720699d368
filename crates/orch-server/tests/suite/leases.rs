//! Runs whose worker stops heartbeating are Crashed when the lease expires,
//! and retried when the deployment allows; the worker shows offline.

use std::time::Duration;

use crate::common::Harness;
use orch_core::StateType;

const RETRIED: &str = r#"
[[deployments]]
flow = "f"
name = "retried"
entrypoint = ["sleep", "600"]
work_pool = "pool"
retries = 1
retry_delay_seconds = 0
"#;

#[tokio::test]
async fn a_run_of_a_dead_worker_crashes_when_its_lease_expires_and_is_retried() {
    let harness = Harness::start("2026-01-05T10:00:00Z", "pool").await;
    harness.deploy(RETRIED).await;
    let store = harness.store();
    let (run, worker) = harness.running_run("f/retried", "pool", "doomed").await;

    // Heartbeats keep the lease alive.
    harness.advance(Duration::from_secs(20));
    store.workers().heartbeat(&worker.id).await.unwrap();
    harness.advance(Duration::from_secs(20));
    harness.sweep().await;
    assert_eq!(harness.run(&run.id).await.state.kind, StateType::Running);

    // Then the worker is killed: 31 s of silence.
    harness.advance(Duration::from_secs(31));
    harness.sweep().await;
    let retried = harness.run(&run.id).await;
    assert_eq!(retried.state.kind, StateType::Scheduled);
    assert_eq!(retried.state.name, "AwaitingRetry");
    assert!(
        retried.state.message.contains("after Crashed") && retried.state.message.contains("lease"),
        "{}",
        retried.state.message
    );
    let workers = store.workers().list_workers(None, 0).await.unwrap();
    assert!(
        workers[0].last_heartbeat < harness.state.online_since(),
        "shown offline"
    );

    let rescuer = harness.worker("rescuer", "pool").await;
    let claimed = harness.claim(&rescuer, 1).await;
    assert_eq!(claimed[0].id, run.id);
    let running = harness.report(&rescuer, &run.id, StateType::Running).await;
    assert_eq!(running.run_count, 2);
}

#[tokio::test]
async fn without_retries_the_run_stays_crashed_with_the_reason() {
    let harness = Harness::start("2026-01-05T10:00:00Z", "pool").await;
    harness
        .deploy(&RETRIED.replace("retries = 1", "retries = 0"))
        .await;
    let (run, _worker) = harness.running_run("f/retried", "pool", "doomed").await;
    harness.advance(Duration::from_secs(31));
    harness.sweep().await;
    let crashed = harness.run(&run.id).await;
    assert_eq!(crashed.state.kind, StateType::Crashed);
    assert_eq!(
        crashed.state.message,
        "worker doomed stopped heartbeating: its lease on the run expired"
    );
}

#[tokio::test]
async fn a_worker_missing_three_heartbeats_is_shown_offline_before_its_lease_ends() {
    let harness = Harness::start("2026-01-05T10:00:00Z", "pool").await;
    let store = harness.store();
    let worker = harness.worker("w1", "pool").await;
    store
        .workers()
        .set_worker_heartbeat_interval(&worker.id, 5_000_000)
        .await
        .unwrap();
    let online = |harness: &Harness| {
        let state = harness.state.clone();
        let id = worker.id.clone();
        async move {
            let worker = state.store().workers().worker(&id).await.unwrap();
            worker.is_online(state.now(), state.online_since())
        }
    };
    assert!(online(&harness).await);
    // Two heartbeats missed: still online.
    harness.advance(Duration::from_secs(14));
    assert!(online(&harness).await);
    // The third missed: offline, though its 30 s lease has not run out.
    harness.advance(Duration::from_secs(2));
    assert!(!online(&harness).await);
    store.workers().heartbeat(&worker.id).await.unwrap();
    assert!(online(&harness).await, "back with the next heartbeat");
    // A worker that did not say how often it heartbeats is offline when the lease ends.
    let quiet = harness.worker("w2", "pool").await;
    harness.advance(Duration::from_secs(29));
    let quiet = store.workers().worker(&quiet.id).await.unwrap();
    assert!(quiet.is_online(harness.state.now(), harness.state.online_since()));
    harness.advance(Duration::from_secs(2));
    let quiet = store.workers().worker(&quiet.id).await.unwrap();
    assert!(!quiet.is_online(harness.state.now(), harness.state.online_since()));
}

#[tokio::test]
async fn a_server_that_starts_expires_no_lease_before_its_workers_could_reach_it() {
    let mut harness = Harness::start("2026-01-05T10:00:00Z", "pool").await;
    harness.deploy(RETRIED).await;
    let (run, worker) = harness.running_run("f/retried", "pool", "patient").await;

    // No server ran for 40 s (more than the lease): the worker could not
    // heartbeat. The server that starts gives it a lease to come back.
    harness.advance(Duration::from_secs(40));
    harness.restart().await;
    harness.sweep().await;
    assert_eq!(harness.run(&run.id).await.state.kind, StateType::Running);
    harness.advance(Duration::from_secs(29));
    harness.sweep().await;
    assert_eq!(harness.run(&run.id).await.state.kind, StateType::Running);
    let answer = orch_server::ops::workers::heartbeat(
        &harness.state,
        &crate::common::anyone(),
        &worker.id,
        std::slice::from_ref(&run.id),
    )
    .await
    .unwrap();
    assert_eq!(answer, Default::default(), "the run is still its own");
    harness.advance(Duration::from_secs(20));
    harness.sweep().await;
    assert_eq!(harness.run(&run.id).await.state.kind, StateType::Running);

    // A worker silent for a lease once the server runs loses its runs.
    harness.advance(Duration::from_secs(11));
    harness.sweep().await;
    assert_eq!(harness.run(&run.id).await.state.name, "AwaitingRetry");
}

#[tokio::test]
async fn a_worker_still_executing_a_run_it_lost_is_told_to_stop_it() {
    let harness = Harness::start("2026-01-05T10:00:00Z", "pool").await;
    harness.deploy(RETRIED).await;
    let (run, cut_off) = harness.running_run("f/retried", "pool", "cut-off").await;
    let heartbeat = |worker: &orch_store::Worker, running: &[&str]| {
        let state = harness.state.clone();
        let worker = worker.id.clone();
        let running: Vec<String> = running.iter().map(|id| id.to_string()).collect();
        async move {
            orch_server::ops::workers::heartbeat(
                &state,
                &crate::common::anyone(),
                &worker,
                &running,
            )
            .await
            .unwrap()
        }
    };
    assert!(heartbeat(&cut_off, &[&run.id]).await.lost.is_empty());

    // Its heartbeats stop reaching the server: the lease expires, the run is
    // retried and another worker takes it.
    harness.advance(Duration::from_secs(31));
    harness.sweep().await;
    assert_eq!(harness.run(&run.id).await.state.name, "AwaitingRetry");
    let answer = heartbeat(&cut_off, &[&run.id]).await;
    assert_eq!(answer.lost, std::slice::from_ref(&run.id));
    assert!(answer.cancel.is_empty());
    let rescuer = harness.worker("rescuer", "pool").await;
    assert_eq!(harness.claim(&rescuer, 1).await[0].id, run.id);
    harness.report(&rescuer, &run.id, StateType::Running).await;
    assert!(heartbeat(&rescuer, &[&run.id]).await.lost.is_empty());
    // The cut-off worker is told again as long as it says it has the run;
    // runs it does not name are not its business.
    assert_eq!(
        heartbeat(&cut_off, &[&run.id]).await.lost,
        std::slice::from_ref(&run.id)
    );
    assert!(heartbeat(&cut_off, &[]).await.lost.is_empty());
    // An ended run is held by nobody.
    harness
        .report(&rescuer, &run.id, StateType::Completed)
        .await;
    assert_eq!(
        heartbeat(&rescuer, &[&run.id]).await.lost,
        std::slice::from_ref(&run.id)
    );
    assert_eq!(harness.run(&run.id).await.state.kind, StateType::Completed);
}
