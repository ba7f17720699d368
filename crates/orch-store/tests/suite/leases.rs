//! Leases that expired while their worker was alive after all, claims a
//! worker never received, and the writer's health.

use crate::common::{
    accepted, claim_ids, create_pool, deploy, move_to, pool_and_deployment, propose_as, register,
    rejected, run_now, spec, store, tick,
};
use orch_core::{StateType, names};

/// Reaps every run of workers silent since before now.
async fn reap_all(store: &orch_store::Store) {
    tick().await;
    let _ = store
        .workers()
        .reap_orphaned_runs(store.now())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_late_final_report_is_accepted_when_nothing_else_started_the_run() {
    let store = store().await;
    create_pool(&store, "default").await;
    let mut retrying = spec("etl", "retrying", "default");
    retrying.retries = 1;
    let retrying = deploy(&store, retrying).await;
    let once = deploy(&store, spec("etl", "once", "default")).await;
    let worker = register(&store, "w1", "default", 0).await;
    let awaiting = run_now(&store, &retrying).await;
    let crashed = run_now(&store, &once).await;
    claim_ids(&store, &worker.id, 2).await;
    for run in [&awaiting, &crashed] {
        move_to(&store, &run.id, StateType::Running).await;
    }
    reap_all(&store).await;
    assert_eq!(
        store
            .flow_runs()
            .flow_run(&awaiting.id)
            .await
            .unwrap()
            .state
            .name,
        names::AWAITING_RETRY
    );
    assert_eq!(
        store
            .flow_runs()
            .flow_run(&crashed.id)
            .await
            .unwrap()
            .state
            .kind,
        StateType::Crashed
    );

    // The worker was alive after all and reports how the runs ended.
    for run in [&awaiting, &crashed] {
        let done = accepted(
            store
                .flow_runs()
                .set_flow_run_state(&run.id, propose_as(&worker.id, StateType::Completed))
                .await
                .unwrap(),
        );
        assert_eq!(done.state.kind, StateType::Completed);
        assert_eq!(done.worker_id.as_deref(), Some(worker.id.as_str()));
        assert_eq!(done.run_count, 1);
    }
    // Nothing is left to claim: the retry was the same execution.
    let other = register(&store, "w2", "default", 0).await;
    assert!(claim_ids(&store, &other.id, 5).await.is_empty());
}

#[tokio::test]
async fn a_late_final_report_is_refused_once_another_worker_took_the_run() {
    let store = store().await;
    create_pool(&store, "default").await;
    let mut retrying = spec("etl", "retrying", "default");
    retrying.retries = 1;
    let retrying = deploy(&store, retrying).await;
    let first = register(&store, "w1", "default", 0).await;
    let run = run_now(&store, &retrying).await;
    claim_ids(&store, &first.id, 1).await;
    move_to(&store, &run.id, StateType::Running).await;
    reap_all(&store).await;
    let second = register(&store, "w2", "default", 0).await;
    assert_eq!(claim_ids(&store, &second.id, 1).await, [run.id.as_str()]);

    let (run_now_, reason) = rejected(
        store
            .flow_runs()
            .set_flow_run_state(&run.id, propose_as(&first.id, StateType::Completed))
            .await
            .unwrap(),
    );
    assert_eq!(run_now_.state.kind, StateType::Pending);
    assert!(reason.contains("another worker"), "{reason}");
    // A worker other than the one whose lease expired cannot finish it either.
    let stranger = register(&store, "w3", "default", 0).await;
    let crashed_deployment = deploy(&store, spec("etl", "once", "default")).await;
    let crashed = run_now(&store, &crashed_deployment).await;
    claim_ids(&store, &stranger.id, 1).await;
    move_to(&store, &crashed.id, StateType::Running).await;
    reap_all(&store).await;
    rejected(
        store
            .flow_runs()
            .set_flow_run_state(&crashed.id, propose_as(&first.id, StateType::Completed))
            .await
            .unwrap(),
    );
}

#[tokio::test]
async fn claims_a_worker_does_not_report_go_back_to_the_queue() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let worker = register(&store, "w1", "default", 0).await;
    let held = run_now(&store, &deployment).await;
    let lost = run_now(&store, &deployment).await;
    assert_eq!(claim_ids(&store, &worker.id, 2).await.len(), 2);
    tick().await;

    // Claims newer than the cutoff are left alone (the response may be in flight).
    let none = store
        .workers()
        .release_unheld_claims(&worker.id, std::slice::from_ref(&held.id), 0)
        .await
        .unwrap()
        .transitions;
    assert!(none.is_empty());
    let released = store
        .workers()
        .release_unheld_claims(&worker.id, std::slice::from_ref(&held.id), store.now())
        .await
        .unwrap()
        .transitions;

    assert_eq!(released.len(), 1);
    assert_eq!(released[0].run.id, lost.id);
    assert_eq!(released[0].run.state.kind, StateType::Scheduled);
    assert_eq!(released[0].run.worker_id, None);
    assert_eq!(released[0].from, Some(StateType::Pending));
    assert_eq!(released[0].cause, orch_store::Cause::ClaimReleased);
    assert_eq!(
        store
            .flow_runs()
            .flow_run(&held.id)
            .await
            .unwrap()
            .state
            .kind,
        StateType::Pending
    );
    let other = register(&store, "w2", "default", 0).await;
    assert_eq!(claim_ids(&store, &other.id, 5).await, [lost.id.as_str()]);
}

#[tokio::test]
async fn writes_are_healthy_and_a_failed_statement_leaves_nothing_behind() {
    let store = store().await;
    let health = store.write_health();
    assert!(health.ok && health.error.is_none(), "{health:?}");
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    // A failing write (a log line of a run that does not exist) is refused
    // and the writer goes on: the next write is stored and visible.
    let line = orch_store::LogLine {
        id: 0,
        flow_run_id: "missing".into(),
        emitter: "e".into(),
        seq: 1,
        timestamp: 1,
        stream: "stdout".into(),
        level: String::new(),
        message: "x".into(),
        task_run_id: String::new(),
    };
    assert!(store.logs().write_logs(&[line]).await.is_err());
    let run = run_now(&store, &deployment).await;
    assert_eq!(
        store.flow_runs().flow_run(&run.id).await.unwrap().id,
        run.id
    );
    assert!(store.write_health().ok);
}
