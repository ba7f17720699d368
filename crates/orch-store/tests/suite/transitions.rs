//! State transitions: the allowed path, refusals, idempotency, retries, cancellation.

use crate::common::{
    SECOND, accepted, claim_ids, create_pool, deploy, history_types, move_to, pool_and_deployment,
    propose, propose_as, register, rejected, run_now, spec, store,
};
use orch_core::{StateType, names};
use orch_store::{Deployment, NewState, Proposal, Store, StoreError, now_micros};

/// A pool "default", a deployment etl/nightly on it with these retry
/// settings, and a worker "w1" of the pool.
async fn retrying_deployment(store: &Store, retries: u32, delay: u64) -> (Deployment, String) {
    create_pool(store, "default").await;
    let mut declared = spec("etl", "nightly", "default");
    declared.retries = retries;
    declared.retry_delay_seconds = delay;
    let deployment = deploy(store, declared).await;
    let worker = register(store, "w1", "default", 0).await;
    (deployment, worker.id)
}

/// Claims the one due run for `worker` and starts it.
async fn claim_and_start(store: &Store, worker: &str, run_id: &str) {
    assert_eq!(claim_ids(store, worker, 1).await, [run_id]);
    accepted(
        store
            .flow_runs()
            .set_flow_run_state(run_id, propose_as(worker, StateType::Running))
            .await
            .unwrap(),
    );
}

/// A worker's proposal to enter `kind` with a message and an exit code.
fn failing(worker: &str, kind: StateType, message: &str, exit_code: i32) -> Proposal {
    let mut state = NewState::new(kind, "", message);
    state.exit_code = Some(exit_code);
    Proposal {
        state,
        transition_id: String::new(),
        worker_id: Some(worker.to_string()),
    }
}

#[tokio::test]
async fn scheduled_pending_running_completed_sets_times_and_run_count() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let run = run_now(&store, &deployment).await;

    let pending = move_to(&store, &run.id, StateType::Pending).await;
    assert_eq!(pending.state.kind, StateType::Pending);
    assert_eq!((pending.start_time, pending.run_count), (None, 0));

    let running = move_to(&store, &run.id, StateType::Running).await;
    assert_eq!(running.state.kind, StateType::Running);
    let started = running.start_time.expect("start_time set on Running");
    assert!(started >= run.created_at);
    assert_eq!(running.end_time, None);
    assert_eq!(running.run_count, 1);

    let completed = move_to(&store, &run.id, StateType::Completed).await;
    assert_eq!(completed.state.kind, StateType::Completed);
    assert_eq!(completed.state.name, "Completed");
    assert_eq!(completed.start_time, Some(started));
    let ended = completed.end_time.expect("end_time set on Completed");
    assert!(ended >= started);
    assert_eq!(completed.run_count, 1);
    assert_eq!(
        store.flow_runs().flow_run(&run.id).await.unwrap(),
        completed
    );
}

#[tokio::test]
async fn a_terminal_run_refuses_further_transitions() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let run = run_now(&store, &deployment).await;
    move_to(&store, &run.id, StateType::Pending).await;
    move_to(&store, &run.id, StateType::Running).await;
    let completed = move_to(&store, &run.id, StateType::Completed).await;

    for kind in [StateType::Running, StateType::Scheduled, StateType::Failed] {
        let result = store
            .flow_runs()
            .set_flow_run_state(&run.id, propose(kind))
            .await
            .unwrap();
        let (unchanged, reason) = rejected(result);
        assert!(
            reason.contains("already Completed, a terminal state"),
            "{reason}"
        );
        assert_eq!(unchanged, completed);
    }
    assert_eq!(
        store.flow_runs().flow_run(&run.id).await.unwrap(),
        completed
    );
    assert_eq!(history_types(&store, &run.id).await.len(), 4);
}

#[tokio::test]
async fn a_transition_the_state_machine_does_not_allow_is_rejected() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let run = run_now(&store, &deployment).await;

    let (unchanged, reason) = rejected(
        store
            .flow_runs()
            .set_flow_run_state(&run.id, propose(StateType::Running))
            .await
            .unwrap(),
    );

    assert!(reason.contains("claimed by a worker (Pending)"), "{reason}");
    assert_eq!(unchanged.state.kind, StateType::Scheduled);
    assert_eq!(history_types(&store, &run.id).await, [StateType::Scheduled]);
}

#[tokio::test]
async fn the_same_transition_id_is_applied_once_and_recorded_once() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let run = run_now(&store, &deployment).await;
    move_to(&store, &run.id, StateType::Pending).await;
    let start = Proposal {
        transition_id: "start-1".into(),
        ..propose(StateType::Running)
    };

    let first = accepted(
        store
            .flow_runs()
            .set_flow_run_state(&run.id, start.clone())
            .await
            .unwrap(),
    );
    let second = accepted(
        store
            .flow_runs()
            .set_flow_run_state(&run.id, start.clone())
            .await
            .unwrap(),
    );

    assert_eq!(second, first);
    assert_eq!(second.run_count, 1);
    assert_eq!(
        history_types(&store, &run.id).await,
        [StateType::Scheduled, StateType::Pending, StateType::Running]
    );

    move_to(&store, &run.id, StateType::Completed).await;
    let replayed = accepted(
        store
            .flow_runs()
            .set_flow_run_state(&run.id, start)
            .await
            .unwrap(),
    );
    assert_eq!(
        replayed.state.kind,
        StateType::Completed,
        "a late replay does not move the run back"
    );
    assert_eq!(history_types(&store, &run.id).await.len(), 4);
}

#[tokio::test]
async fn a_worker_that_does_not_hold_the_run_is_rejected() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let holder = register(&store, "w1", "default", 0).await;
    let other = register(&store, "w2", "default", 0).await;
    let unclaimed = run_now(&store, &deployment).await;

    let (_, reason) = rejected(
        store
            .flow_runs()
            .set_flow_run_state(&unclaimed.id, propose_as(&other.id, StateType::Pending))
            .await
            .unwrap(),
    );
    assert!(reason.contains("held by no worker"), "{reason}");

    assert_eq!(
        claim_ids(&store, &holder.id, 1).await,
        [unclaimed.id.as_str()]
    );
    let (run, reason) = rejected(
        store
            .flow_runs()
            .set_flow_run_state(&unclaimed.id, propose_as(&other.id, StateType::Running))
            .await
            .unwrap(),
    );
    assert!(reason.contains("held by another worker"), "{reason}");
    assert_eq!(run.state.kind, StateType::Pending);
    assert_eq!(run.worker_id.as_deref(), Some(holder.id.as_str()));

    let running = accepted(
        store
            .flow_runs()
            .set_flow_run_state(&unclaimed.id, propose_as(&holder.id, StateType::Running))
            .await
            .unwrap(),
    );
    assert_eq!(running.state.kind, StateType::Running);
    assert_eq!(running.worker_name, "w1");
}

#[tokio::test]
async fn a_failed_run_with_retries_left_awaits_a_retry_after_the_delay() {
    let store = store().await;
    let (deployment, worker) = retrying_deployment(&store, 2, 60).await;
    let run = run_now(&store, &deployment).await;
    claim_and_start(&store, &worker, &run.id).await;

    let before = now_micros();
    let result = store
        .flow_runs()
        .set_flow_run_state(&run.id, failing(&worker, StateType::Failed, "boom", 1))
        .await
        .unwrap();
    let after = now_micros();

    let retry = accepted(result);
    assert_eq!(retry.state.kind, StateType::Scheduled);
    assert_eq!(retry.state.name, names::AWAITING_RETRY);
    assert!(
        retry.state.message.contains("retry 1 of 2"),
        "{}",
        retry.state.message
    );
    assert!(
        retry.state.message.contains("boom"),
        "{}",
        retry.state.message
    );
    assert!((before + 60 * SECOND..=after + 60 * SECOND).contains(&retry.expected_start));
    assert_eq!(retry.worker_id, None);
    assert_eq!(retry.exit_code, Some(1));
    assert_eq!(retry.end_time, None);
    assert!(
        claim_ids(&store, &worker, 5).await.is_empty(),
        "the retry is not due before its delay"
    );
    assert_eq!(
        history_types(&store, &run.id).await,
        [
            StateType::Scheduled,
            StateType::Pending,
            StateType::Running,
            StateType::Scheduled
        ]
    );
}

#[tokio::test]
async fn a_failed_run_stays_failed_once_its_retries_are_used_up() {
    let store = store().await;
    let (deployment, worker) = retrying_deployment(&store, 2, 0).await;
    let run = run_now(&store, &deployment).await;

    let mut outcomes = Vec::new();
    for attempt in 1..=3 {
        claim_and_start(&store, &worker, &run.id).await;
        let message = format!("attempt {attempt} failed");
        let result = store
            .flow_runs()
            .set_flow_run_state(&run.id, failing(&worker, StateType::Failed, &message, 2))
            .await
            .unwrap();
        outcomes.push(accepted(result).state.name);
    }

    assert_eq!(
        outcomes,
        [names::AWAITING_RETRY, names::AWAITING_RETRY, "Failed"]
    );
    let failed = store.flow_runs().flow_run(&run.id).await.unwrap();
    assert_eq!(failed.state.kind, StateType::Failed);
    assert_eq!(failed.state.message, "attempt 3 failed");
    assert_eq!(failed.run_count, 3);
    assert!(failed.end_time.is_some());
    assert!(claim_ids(&store, &worker, 5).await.is_empty());
}

#[tokio::test]
async fn a_failed_run_without_retries_is_failed_at_once() {
    let store = store().await;
    let (deployment, worker) = retrying_deployment(&store, 0, 0).await;
    let run = run_now(&store, &deployment).await;
    claim_and_start(&store, &worker, &run.id).await;

    let failed = accepted(
        store
            .flow_runs()
            .set_flow_run_state(&run.id, failing(&worker, StateType::Failed, "boom", 1))
            .await
            .unwrap(),
    );

    assert_eq!(failed.state.kind, StateType::Failed);
    assert_eq!(failed.exit_code, Some(1));
}

#[tokio::test]
async fn a_crashed_run_is_retried_too() {
    let store = store().await;
    let (deployment, worker) = retrying_deployment(&store, 1, 0).await;
    let run = run_now(&store, &deployment).await;
    claim_and_start(&store, &worker, &run.id).await;

    let retry = accepted(
        store
            .flow_runs()
            .set_flow_run_state(&run.id, failing(&worker, StateType::Crashed, "killed", -9))
            .await
            .unwrap(),
    );
    assert_eq!(retry.state.name, names::AWAITING_RETRY);
    assert!(
        retry.state.message.contains("Crashed"),
        "{}",
        retry.state.message
    );

    claim_and_start(&store, &worker, &run.id).await;
    let crashed = accepted(
        store
            .flow_runs()
            .set_flow_run_state(&run.id, failing(&worker, StateType::Crashed, "killed", -9))
            .await
            .unwrap(),
    );
    assert_eq!(crashed.state.kind, StateType::Crashed);
    assert_eq!(crashed.run_count, 2);
}

#[tokio::test]
async fn a_run_failing_before_it_runs_is_not_retried_without_retries() {
    let store = store().await;
    let (deployment, worker) = retrying_deployment(&store, 0, 0).await;
    let run = run_now(&store, &deployment).await;
    assert_eq!(claim_ids(&store, &worker, 1).await, [run.id.as_str()]);

    let result = store
        .flow_runs()
        .set_flow_run_state(
            &run.id,
            failing(&worker, StateType::Failed, "entrypoint not found", 127),
        )
        .await
        .unwrap();

    let failed = accepted(result);
    assert_eq!(failed.state.kind, StateType::Failed, "{:?}", failed.state);
    assert!(claim_ids(&store, &worker, 1).await.is_empty());
}

#[tokio::test]
async fn a_run_failing_before_it_runs_uses_up_its_retries() {
    let store = store().await;
    let (deployment, worker) = retrying_deployment(&store, 1, 0).await;
    let run = run_now(&store, &deployment).await;

    let mut outcomes = Vec::new();
    for _ in 0..2 {
        assert_eq!(claim_ids(&store, &worker, 1).await, [run.id.as_str()]);
        let result = store
            .flow_runs()
            .set_flow_run_state(
                &run.id,
                failing(&worker, StateType::Crashed, "could not spawn", -1),
            )
            .await
            .unwrap();
        outcomes.push(accepted(result).state.name);
    }

    assert_eq!(outcomes, [names::AWAITING_RETRY, "Crashed"]);
    assert!(claim_ids(&store, &worker, 1).await.is_empty());
}

#[tokio::test]
async fn pausing_and_resuming_a_run_does_not_use_up_its_retries() {
    let store = store().await;
    let (deployment, worker) = retrying_deployment(&store, 1, 0).await;
    let run = run_now(&store, &deployment).await;
    claim_and_start(&store, &worker, &run.id).await;
    for kind in [StateType::Paused, StateType::Running] {
        accepted(
            store
                .flow_runs()
                .set_flow_run_state(&run.id, propose_as(&worker, kind))
                .await
                .unwrap(),
        );
    }

    let retry = accepted(
        store
            .flow_runs()
            .set_flow_run_state(&run.id, failing(&worker, StateType::Failed, "boom", 1))
            .await
            .unwrap(),
    );

    assert_eq!(retry.state.name, names::AWAITING_RETRY, "{:?}", retry.state);
    assert!(
        retry.state.message.contains("retry 1 of 1"),
        "{}",
        retry.state.message
    );
}

#[tokio::test]
async fn cancelling_a_scheduled_run_cancels_it_at_once() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let run = run_now(&store, &deployment).await;

    let (cancelled, notify) = store
        .flow_runs()
        .cancel_flow_run(&run.id)
        .await
        .unwrap()
        .value;

    assert_eq!(cancelled.state.kind, StateType::Cancelled);
    assert!(cancelled.end_time.is_some());
    assert_eq!(notify, None);
    assert_eq!(
        history_types(&store, &run.id).await,
        [StateType::Scheduled, StateType::Cancelled]
    );
}

#[tokio::test]
async fn cancelling_a_running_run_asks_its_worker_to_stop_it() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let worker = register(&store, "w1", "default", 0).await;
    let run = run_now(&store, &deployment).await;
    claim_and_start(&store, &worker.id, &run.id).await;

    let (cancelling, notify) = store
        .flow_runs()
        .cancel_flow_run(&run.id)
        .await
        .unwrap()
        .value;
    assert_eq!(cancelling.state.kind, StateType::Cancelling);
    assert_eq!(cancelling.end_time, None);
    assert_eq!(notify.as_deref(), Some(worker.id.as_str()));

    let (again, notify) = store
        .flow_runs()
        .cancel_flow_run(&run.id)
        .await
        .unwrap()
        .value;
    assert_eq!(again.state.kind, StateType::Cancelling);
    assert_eq!(notify.as_deref(), Some(worker.id.as_str()));
    assert_eq!(history_types(&store, &run.id).await.len(), 4, "asked once");

    let cancelled = accepted(
        store
            .flow_runs()
            .set_flow_run_state(&run.id, propose_as(&worker.id, StateType::Cancelled))
            .await
            .unwrap(),
    );
    assert_eq!(cancelled.state.kind, StateType::Cancelled);
    assert!(cancelled.end_time.is_some());
}

#[tokio::test]
async fn cancelling_a_terminal_run_is_a_conflict() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let run = run_now(&store, &deployment).await;
    move_to(&store, &run.id, StateType::Pending).await;
    move_to(&store, &run.id, StateType::Running).await;
    move_to(&store, &run.id, StateType::Completed).await;

    let error = store
        .flow_runs()
        .cancel_flow_run(&run.id)
        .await
        .unwrap_err();

    let StoreError::Conflict(message) = error else {
        panic!("expected Conflict, got {error:?}");
    };
    assert!(message.contains("Completed, a terminal state"), "{message}");
    assert_eq!(
        store
            .flow_runs()
            .flow_run(&run.id)
            .await
            .unwrap()
            .state
            .kind,
        StateType::Completed
    );
}

#[tokio::test]
async fn transitions_of_an_unknown_run_are_not_found() {
    let store = store().await;

    let error = store
        .flow_runs()
        .set_flow_run_state("no-such-run", propose(StateType::Pending))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::NotFound {
                kind: "flow run",
                ..
            }
        ),
        "{error:?}"
    );

    let error = store
        .flow_runs()
        .cancel_flow_run("no-such-run")
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::NotFound {
                kind: "flow run",
                ..
            }
        ),
        "{error:?}"
    );
}

/// A report's run is built from the written row and the names read before
/// it (no second read): what it returns is what the store holds, at each
/// step of a worker's run, a repeated report included.
#[tokio::test]
async fn each_report_returns_the_run_exactly_as_the_store_holds_it() {
    let store = store().await;
    let (deployment, worker) = retrying_deployment(&store, 0, 0).await;
    let run = run_now(&store, &deployment).await;
    assert_eq!(claim_ids(&store, &worker, 1).await, [run.id.as_str()]);

    let running = Proposal {
        transition_id: "t-running".into(),
        ..propose_as(&worker, StateType::Running)
    };
    let mut done = failing(&worker, StateType::Completed, "ok", 0);
    done.transition_id = "t-done".into();
    done.state.usage = Some(orch_core::ResourceUsage {
        cpu_user_micros: 1_500,
        cpu_system_micros: 500,
        max_rss_bytes: 4 << 20,
        wall_micros: 9_000,
    });
    for proposal in [running.clone(), done.clone(), done] {
        let changed = store
            .flow_runs()
            .set_flow_run_state(&run.id, proposal)
            .await
            .unwrap();
        let stored = store.flow_runs().flow_run(&run.id).await.unwrap();
        assert_eq!(changed.value.run(), &stored);
        for transition in &changed.transitions {
            assert_eq!(transition.run, stored);
        }
    }
    let stored = store.flow_runs().flow_run(&run.id).await.unwrap();
    assert_eq!(stored.state.kind, StateType::Completed);
    assert_eq!(stored.worker_name, "w1");
    assert_eq!(stored.run_count, 1);
    assert_eq!(stored.usage.map(|u| u.max_rss_bytes), Some(4 << 20));
    // The repeated final report was applied once.
    assert_eq!(
        history_types(&store, &run.id).await,
        [
            StateType::Scheduled,
            StateType::Pending,
            StateType::Running,
            StateType::Completed
        ]
    );
}
