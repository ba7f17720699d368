//! Runs that fall due: late marking, and the pools with runs due soon.

use super::flow_runs::run_ids;
use crate::common::{
    SECOND, create_pool, move_to, pool_and_deployment, run_at, start, store, tick,
};
use orch_core::{StateType, names};
use orch_store::{FlowRunQuery, Store, now_micros};

#[tokio::test]
async fn mark_late_runs_marks_only_scheduled_runs_due_before_the_cutoff_and_only_once() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let now = now_micros();
    let overdue = run_at(&store, &deployment, now - 600 * SECOND).await;
    let recent = run_at(&store, &deployment, now - 10 * SECOND).await;
    let future = run_at(&store, &deployment, now + 600 * SECOND).await;
    let finished = run_at(&store, &deployment, now - 900 * SECOND).await;
    move_to(&store, &finished.id, StateType::Cancelled).await;
    let cutoff = now - 60 * SECOND;

    let marked = run_ids(
        store
            .flow_runs()
            .mark_late_runs(cutoff)
            .await
            .unwrap()
            .transitions,
    );

    assert_eq!(marked, [overdue.id.as_str()]);
    let late = store.flow_runs().flow_run(&overdue.id).await.unwrap();
    assert_eq!(late.state.kind, StateType::Scheduled);
    assert_eq!(late.state.name, names::LATE);
    assert_eq!(late.expected_start, overdue.expected_start);
    for untouched in [&recent, &future] {
        assert_eq!(
            store
                .flow_runs()
                .flow_run(&untouched.id)
                .await
                .unwrap()
                .state
                .name,
            "Scheduled"
        );
    }
    assert_eq!(
        store
            .flow_runs()
            .flow_run(&finished.id)
            .await
            .unwrap()
            .state
            .kind,
        StateType::Cancelled
    );

    assert!(
        store
            .flow_runs()
            .mark_late_runs(cutoff)
            .await
            .unwrap()
            .transitions
            .is_empty()
    );
    let names: Vec<String> = store
        .flow_runs()
        .flow_run_history(&overdue.id)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["Scheduled", "Late"]);
}

async fn late_now(store: &Store) -> i64 {
    store.stats().run_stats(0, i64::MAX).await.unwrap().late_now
}

/// The overview's count of Late runs (a partial index on SQLite, 0440) and
/// the timeline filtered by state type (its (state type, start) index, 0440)
/// or by state name.
#[tokio::test]
async fn the_overview_counts_late_runs_and_the_timeline_filters_by_state() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let now = now_micros();
    let first = run_at(&store, &deployment, now - 600 * SECOND).await;
    let second = run_at(&store, &deployment, now - 500 * SECOND).await;
    let ahead = run_at(&store, &deployment, now + 600 * SECOND).await;
    assert_eq!(late_now(&store).await, 0);
    let _ = store
        .flow_runs()
        .mark_late_runs(now - 60 * SECOND)
        .await
        .unwrap();
    assert_eq!(late_now(&store).await, 2);
    move_to(&store, &first.id, StateType::Cancelled).await;
    assert_eq!(late_now(&store).await, 1);

    // Started in this order; `second` and `ahead` fail, `other` completes.
    let other = run_at(&store, &deployment, now).await;
    for run in [&second, &other, &ahead] {
        start(&store, &run.id).await;
        tick().await;
    }
    assert_eq!(late_now(&store).await, 0);
    move_to(&store, &second.id, StateType::Failed).await;
    move_to(&store, &ahead.id, StateType::Failed).await;
    move_to(&store, &other.id, StateType::Completed).await;
    let timeline = |state_name: &str, since: Option<i64>| {
        let store = &store;
        let filter = FlowRunQuery {
            state_name: Some(state_name.to_owned()),
            since,
            ..FlowRunQuery::default()
        };
        async move {
            store
                .flow_runs()
                .flow_run_timeline(&filter, 10)
                .await
                .unwrap()
                .into_iter()
                .map(|point| point.id)
                .collect::<Vec<_>>()
        }
    };
    // Latest start first, the name compared without case.
    assert_eq!(
        timeline("failed", None).await,
        [ahead.id.as_str(), second.id.as_str()]
    );
    assert_eq!(timeline("Completed", None).await, [other.id.as_str()]);
    let ahead_started = store
        .flow_runs()
        .flow_run(&ahead.id)
        .await
        .unwrap()
        .start_time;
    assert_eq!(timeline("FAILED", ahead_started).await, [ahead.id.as_str()]);
    assert!(timeline("late", None).await.is_empty());
    let failed = FlowRunQuery {
        state_type: Some(StateType::Failed),
        ..FlowRunQuery::default()
    };
    let points = store
        .flow_runs()
        .flow_run_timeline(&failed, 10)
        .await
        .unwrap();
    assert_eq!(
        points
            .iter()
            .map(|point| point.id.as_str())
            .collect::<Vec<_>>(),
        [ahead.id.as_str(), second.id.as_str()]
    );
}

#[tokio::test]
async fn a_late_run_can_still_be_claimed() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let worker = crate::common::register(&store, "w1", "default", 0).await;
    let run = run_at(&store, &deployment, now_micros() - 600 * SECOND).await;
    let _ = store
        .flow_runs()
        .mark_late_runs(now_micros())
        .await
        .unwrap();

    let claimed = crate::common::claim_ids(&store, &worker.id, 5).await;

    assert_eq!(claimed, [run.id]);
}

#[tokio::test]
async fn pools_with_runs_due_returns_the_pool_of_a_run_falling_due_in_the_window() {
    let store = store().await;
    let soon = pool_and_deployment(&store, "soon", "etl", "nightly").await;
    let later = pool_and_deployment(&store, "later", "reports", "daily").await;
    create_pool(&store, "idle").await;
    let now = now_micros();
    run_at(&store, &soon, now + 30 * SECOND).await;
    run_at(&store, &soon, now + 40 * SECOND).await;
    run_at(&store, &later, now + 600 * SECOND).await;
    let soon_id = store.work_pools().work_pool("soon", 0).await.unwrap().id;
    let later_id = store.work_pools().work_pool("later", 0).await.unwrap().id;

    assert_eq!(
        store
            .flow_runs()
            .pools_with_runs_due(now, now + 60 * SECOND)
            .await
            .unwrap(),
        [soon_id.as_str()]
    );
    let mut both = store
        .flow_runs()
        .pools_with_runs_due(now, now + 900 * SECOND)
        .await
        .unwrap();
    both.sort();
    let mut expected = vec![soon_id, later_id];
    expected.sort();
    assert_eq!(both, expected);
    assert!(
        store
            .flow_runs()
            .pools_with_runs_due(now + 40 * SECOND, now + 60 * SECOND)
            .await
            .unwrap()
            .is_empty(),
        "the window excludes its start"
    );
    assert!(
        store
            .flow_runs()
            .pools_with_runs_due(now - 60 * SECOND, now)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn pools_with_runs_due_ignores_runs_that_are_no_longer_scheduled() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let now = now_micros();
    let run = run_at(&store, &deployment, now + 30 * SECOND).await;
    let _ = store.flow_runs().cancel_flow_run(&run.id).await.unwrap();

    assert!(
        store
            .flow_runs()
            .pools_with_runs_due(now, now + 60 * SECOND)
            .await
            .unwrap()
            .is_empty()
    );
}
