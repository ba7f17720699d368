//! Workers: registration, heartbeats, listing, and reaping runs of silent workers.

use std::collections::HashMap;

use crate::common::{
    claim_ids, create_pool, deploy, move_to, not_found_message, pool_and_deployment, register,
    run_now, spec, store, tick,
};
use orch_core::{StateType, names};
use orch_store::{Cause, FlowRun, StoreError, Transition, now_micros};

#[tokio::test]
async fn a_registered_worker_is_stored_with_its_details() {
    let store = store().await;
    let pool = create_pool(&store, "default").await;

    let worker = store
        .workers()
        .register_worker("w1", "default", "box-7", 4, "0.1.0")
        .await
        .unwrap();

    assert_eq!(worker.name, "w1");
    assert_eq!(worker.work_pool, "default");
    assert_eq!(worker.work_pool_id, pool.id);
    assert_eq!(worker.hostname, "box-7");
    assert_eq!(worker.limit, 4);
    assert_eq!(worker.version, "0.1.0");
    assert_eq!(worker.last_heartbeat, worker.started_at);
    assert_eq!((worker.stopped_at, worker.runs_in_flight), (None, 0));
    assert_eq!(store.workers().worker(&worker.id).await.unwrap(), worker);

    let again = register(&store, "w1", "default", 4).await;
    assert_ne!(again.id, worker.id, "each start gets a new id");
}

#[tokio::test]
async fn registering_with_an_unknown_pool_is_not_found() {
    let store = store().await;
    create_pool(&store, "sentinel-pool").await;

    let error = store
        .workers()
        .register_worker("w1", "sentinel-poll", "box-7", 0, "0.1.0")
        .await
        .unwrap_err();

    let message = not_found_message(error);
    assert!(
        message.contains("did you mean \"sentinel-pool\""),
        "{message}"
    );
    assert_eq!(store.workers().count_workers_online(0).await.unwrap(), 0);
}

#[tokio::test]
async fn a_heartbeat_is_recorded_and_returns_the_worker_s_cancelling_runs() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let worker = register(&store, "w1", "default", 0).await;
    let other = register(&store, "w2", "default", 0).await;
    let cancel_me = run_now(&store, &deployment).await;
    let keep_running = run_now(&store, &deployment).await;
    let others = run_now(&store, &deployment).await;
    assert_eq!(claim_ids(&store, &worker.id, 2).await.len(), 2);
    assert_eq!(claim_ids(&store, &other.id, 1).await, [others.id.as_str()]);
    for run in [&cancel_me, &keep_running, &others] {
        move_to(&store, &run.id, StateType::Running).await;
    }
    let _ = store
        .flow_runs()
        .cancel_flow_run(&cancel_me.id)
        .await
        .unwrap();
    let _ = store.flow_runs().cancel_flow_run(&others.id).await.unwrap();
    tick().await;

    let cancels = store.workers().heartbeat(&worker.id).await.unwrap();

    assert_eq!(cancels, [cancel_me.id.as_str()]);
    let beaten = store.workers().worker(&worker.id).await.unwrap();
    assert!(beaten.last_heartbeat > worker.last_heartbeat);
    assert_eq!(beaten.runs_in_flight, 2);
    assert_eq!(
        store.workers().heartbeat(&other.id).await.unwrap(),
        [others.id.as_str()]
    );

    move_to(&store, &cancel_me.id, StateType::Cancelled).await;
    assert!(
        store
            .workers()
            .heartbeat(&worker.id)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_heartbeat_of_an_unknown_worker_is_not_found() {
    let store = store().await;

    let error = store
        .workers()
        .heartbeat("no-such-worker")
        .await
        .unwrap_err();

    assert!(
        matches!(error, StoreError::NotFound { kind: "worker", .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_deregistered_worker_is_stopped_and_no_longer_online() {
    let store = store().await;
    create_pool(&store, "default").await;
    let leaving = register(&store, "w1", "default", 0).await;
    register(&store, "w2", "default", 0).await;
    assert_eq!(store.workers().count_workers_online(0).await.unwrap(), 2);

    store
        .workers()
        .deregister_worker(&leaving.id)
        .await
        .unwrap();

    let stopped = store.workers().worker(&leaving.id).await.unwrap();
    assert!(stopped.stopped_at.is_some());
    assert_eq!(store.workers().count_workers_online(0).await.unwrap(), 1);
    assert_eq!(
        store
            .work_pools()
            .work_pool("default", 0)
            .await
            .unwrap()
            .workers_online,
        1
    );
}

#[tokio::test]
async fn workers_are_listed_by_pool_most_recent_first_and_counted_online() {
    let store = store().await;
    create_pool(&store, "default").await;
    create_pool(&store, "gpu").await;
    let first = register(&store, "first", "default", 0).await;
    tick().await;
    let since = now_micros();
    let second = register(&store, "second", "default", 0).await;
    let gpu = register(&store, "gpu-1", "gpu", 0).await;

    let names = |workers: Vec<orch_store::Worker>| -> Vec<String> {
        workers.into_iter().map(|w| w.name).collect()
    };
    assert_eq!(
        names(store.workers().list_workers(None, 0).await.unwrap()),
        ["gpu-1", "second", "first"]
    );
    assert_eq!(
        names(
            store
                .workers()
                .list_workers(Some("default"), 0)
                .await
                .unwrap()
        ),
        ["second", "first"]
    );
    assert_eq!(
        names(
            store
                .workers()
                .list_workers(Some("default"), since)
                .await
                .unwrap()
        ),
        ["second"]
    );
    assert_eq!(
        names(store.workers().list_workers(Some("gpu"), 0).await.unwrap()),
        ["gpu-1"]
    );
    let error = store
        .workers()
        .list_workers(Some("gpus"), 0)
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::NotFound { .. }), "{error:?}");

    assert_eq!(store.workers().count_workers_online(0).await.unwrap(), 3);
    assert_eq!(
        store.workers().count_workers_online(since).await.unwrap(),
        2
    );
    assert_eq!(
        store
            .work_pools()
            .work_pool("default", since)
            .await
            .unwrap()
            .workers_online,
        1
    );
    assert!(first.last_heartbeat < since && since <= second.last_heartbeat);
    assert!(since <= gpu.last_heartbeat);

    tick().await;
    store.workers().heartbeat(&first.id).await.unwrap();
    assert_eq!(
        names(
            store
                .workers()
                .list_workers(Some("default"), 0)
                .await
                .unwrap()
        ),
        ["first", "second"]
    );
}

fn reaped_run(transition: &Transition) -> &FlowRun {
    assert_eq!(
        transition.cause == Cause::Retry,
        transition.run.state.kind == StateType::Scheduled
    );
    &transition.run
}

#[tokio::test]
async fn runs_of_a_silent_worker_are_reaped_and_those_of_a_live_worker_are_left() {
    let store = store().await;
    create_pool(&store, "default").await;
    let plain = deploy(&store, spec("etl", "plain", "default")).await;
    let mut retrying = spec("etl", "retrying", "default");
    retrying.retries = 1;
    let retrying = deploy(&store, retrying).await;
    let silent = register(&store, "silent", "default", 0).await;
    let running = run_now(&store, &plain).await;
    let cancelling = run_now(&store, &plain).await;
    let retried = run_now(&store, &retrying).await;
    assert_eq!(claim_ids(&store, &silent.id, 3).await.len(), 3);
    for run in [&running, &cancelling, &retried] {
        move_to(&store, &run.id, StateType::Running).await;
    }
    let _ = store
        .flow_runs()
        .cancel_flow_run(&cancelling.id)
        .await
        .unwrap();
    tick().await;
    let cutoff = now_micros();
    let live = register(&store, "live", "default", 0).await;
    let healthy = run_now(&store, &plain).await;
    assert_eq!(claim_ids(&store, &live.id, 3).await, [healthy.id.as_str()]);
    move_to(&store, &healthy.id, StateType::Running).await;

    let reaped = store
        .workers()
        .reap_orphaned_runs(cutoff)
        .await
        .unwrap()
        .transitions;

    let changed: HashMap<String, (StateType, String)> = reaped
        .iter()
        .map(reaped_run)
        .map(|run| (run.id.clone(), (run.state.kind, run.state.name.clone())))
        .collect();
    let expected = HashMap::from([
        (
            running.id.clone(),
            (StateType::Crashed, "Crashed".to_string()),
        ),
        (
            cancelling.id.clone(),
            (StateType::Cancelled, "Cancelled".to_string()),
        ),
        (
            retried.id.clone(),
            (StateType::Scheduled, names::AWAITING_RETRY.to_string()),
        ),
    ]);
    assert_eq!(changed, expected);

    let crashed = store.flow_runs().flow_run(&running.id).await.unwrap();
    assert!(
        crashed.state.message.contains("silent"),
        "{}",
        crashed.state.message
    );
    assert!(crashed.end_time.is_some());
    assert_eq!(
        store
            .flow_runs()
            .flow_run(&retried.id)
            .await
            .unwrap()
            .worker_id,
        None
    );
    let untouched = store.flow_runs().flow_run(&healthy.id).await.unwrap();
    assert_eq!(untouched.state.kind, StateType::Running);
    assert_eq!(untouched.worker_id.as_deref(), Some(live.id.as_str()));
    assert_eq!(
        store
            .workers()
            .worker(&silent.id)
            .await
            .unwrap()
            .runs_in_flight,
        0
    );

    let again = store
        .workers()
        .reap_orphaned_runs(cutoff)
        .await
        .unwrap()
        .transitions;
    assert!(again.is_empty(), "each orphan is reaped once");
}

#[tokio::test]
async fn runs_of_a_deregistered_worker_are_reaped_whatever_the_cutoff() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let worker = register(&store, "w1", "default", 0).await;
    let run = run_now(&store, &deployment).await;
    claim_ids(&store, &worker.id, 1).await;
    move_to(&store, &run.id, StateType::Running).await;
    store.workers().deregister_worker(&worker.id).await.unwrap();

    let reaped = store
        .workers()
        .reap_orphaned_runs(0)
        .await
        .unwrap()
        .transitions;

    assert_eq!(reaped.len(), 1);
    assert_eq!(reaped[0].cause, Cause::LeaseExpired);
    assert_eq!(
        store
            .flow_runs()
            .flow_run(&run.id)
            .await
            .unwrap()
            .state
            .kind,
        StateType::Crashed
    );
}

#[tokio::test]
async fn a_claimed_run_of_a_silent_worker_without_retries_crashes() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let worker = register(&store, "w1", "default", 0).await;
    let run = run_now(&store, &deployment).await;
    assert_eq!(claim_ids(&store, &worker.id, 1).await, [run.id.as_str()]);
    tick().await;

    let reaped = store
        .workers()
        .reap_orphaned_runs(now_micros())
        .await
        .unwrap()
        .transitions;

    let crashed = reaped.into_iter().next().expect("one reaped run").run;
    assert_eq!(crashed.id, run.id);
    assert_eq!(
        crashed.state.kind,
        StateType::Crashed,
        "{:?}",
        crashed.state
    );
}

#[tokio::test]
async fn a_worker_remembers_the_credential_that_registered_it() {
    let store = store().await;
    create_pool(&store, "default").await;
    let owned = store
        .workers()
        .register_worker_for(Some("cred-1"), "w1", "default", "box", 0, "0.1.0")
        .await
        .unwrap();
    let unowned = store
        .workers()
        .register_worker("w2", "default", "box", 0, "0.1.0")
        .await
        .unwrap();
    assert_eq!(
        store
            .workers()
            .worker_owner(&owned.id)
            .await
            .unwrap()
            .as_deref(),
        Some("cred-1")
    );
    assert_eq!(
        store.workers().worker_owner(&unowned.id).await.unwrap(),
        None
    );
    assert!(matches!(
        store.workers().worker_owner("nope").await,
        Err(StoreError::NotFound { .. })
    ));
}
