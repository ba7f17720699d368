//! A subflow run never outlives its parent's record: deleting a run (by id,
//! by filter, by retention) deletes its subflow runs, all levels down, in
//! the same transaction; pruning never deletes a subflow run on its own
//! while its parent stays.

use std::time::Duration;

use chrono::TimeZone;
use orch_core::retention::RetentionPolicy;
use orch_core::{Retention, StateType};
use orch_store::{
    BatchSize, FlowRun, LogLine, ManualClock, NewSubflowRun, Pruned, Store, StoreError,
};

use crate::common::{move_to, object, pool_and_deployment, run_now, start, store};

const DAY: Duration = Duration::from_secs(86_400);

/// A subflow run `flow` of `parent`, Running.
async fn subflow(store: &Store, parent: &str, flow: &str) -> FlowRun {
    let new = NewSubflowRun {
        parent_flow_run_id: parent.into(),
        parent_task_run_id: None,
        flow: flow.into(),
        parameters: object(serde_json::json!({})),
        trace_parent: None,
    };
    store
        .flow_runs()
        .create_subflow_run(&new, false)
        .await
        .expect("create subflow run")
        .value
        .run
}

fn lines(run_id: &str, count: i64) -> Vec<LogLine> {
    (1..=count)
        .map(|seq| LogLine {
            id: 0,
            flow_run_id: run_id.to_string(),
            emitter: "sdk".into(),
            seq,
            timestamp: seq,
            stream: "sdk".into(),
            level: "INFO".into(),
            message: format!("line {seq}"),
            task_run_id: String::new(),
        })
        .collect()
}

/// A Running top-level run with subflow run `child`, itself with
/// `grandchild`; each with 3 log lines. Returns (parent, child, grandchild).
async fn family(store: &Store, deployment: &orch_store::Deployment) -> (FlowRun, FlowRun, FlowRun) {
    let parent = run_now(store, deployment).await;
    let parent = start(store, &parent.id).await;
    let child = subflow(store, &parent.id, "child").await;
    let grandchild = subflow(store, &child.id, "grandchild").await;
    for run in [&parent, &child, &grandchild] {
        store.logs().write_logs(&lines(&run.id, 3)).await.unwrap();
    }
    (parent, child, grandchild)
}

async fn gone(store: &Store, run: &FlowRun) -> bool {
    matches!(
        store.flow_runs().flow_run(&run.id).await,
        Err(StoreError::NotFound { .. })
    )
}

#[tokio::test]
async fn deleting_a_run_deletes_its_subflow_runs_all_levels_down() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let (parent, child, grandchild) = family(&store, &deployment).await;
    let (other, other_child, _) = family(&store, &deployment).await;
    // The parent's end ended its subflow runs (the same transaction).
    move_to(&store, &parent.id, StateType::Completed).await;
    move_to(&store, &other.id, StateType::Completed).await;

    let (deleted, pruned) = store
        .maintenance()
        .delete_flow_runs(std::slice::from_ref(&parent.id))
        .await
        .unwrap();

    let ids: Vec<&str> = deleted.iter().map(|run| run.id.as_str()).collect();
    assert_eq!(ids, [&parent.id, &child.id, &grandchild.id]);
    assert_eq!(
        pruned,
        Pruned {
            runs: 3,
            log_lines: 9
        }
    );
    for run in [&parent, &child, &grandchild] {
        assert!(gone(&store, run).await, "{} is deleted", run.flow);
        assert!(
            store
                .logs()
                .read_logs(&run.id, 0, 0)
                .await
                .unwrap()
                .is_empty()
        );
    }
    // Another family is untouched.
    store.flow_runs().flow_run(&other_child.id).await.unwrap();
    assert_eq!(
        store
            .flow_runs()
            .subflow_runs(&other.id)
            .await
            .unwrap()
            .len(),
        1
    );

    // Deleting a subflow run alone leaves its parent, takes its own.
    let other_grandchild = store
        .flow_runs()
        .subflow_runs(&other_child.id)
        .await
        .unwrap()
        .remove(0);
    let (deleted, _) = store
        .maintenance()
        .delete_flow_runs(std::slice::from_ref(&other_child.id))
        .await
        .unwrap();
    assert_eq!(deleted.len(), 2);
    assert!(gone(&store, &other_grandchild).await);
    store.flow_runs().flow_run(&other.id).await.unwrap();
    assert!(
        store
            .flow_runs()
            .subflow_runs(&other.id)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_run_whose_subflow_run_still_runs_is_not_deleted() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let (parent, child, _) = family(&store, &deployment).await;
    // The subflow run ended, its parent still runs: the child alone may go,
    // not the parent (unfinished) nor anything under a running run.
    move_to(&store, &child.id, StateType::Completed).await;
    let error = store
        .maintenance()
        .delete_flow_runs(std::slice::from_ref(&parent.id))
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Conflict(_)), "{error:?}");
    store.flow_runs().flow_run(&child.id).await.unwrap();
}

#[tokio::test]
async fn pruning_and_deleting_by_filter_take_subflow_runs_with_their_parent_only() {
    let clock = ManualClock::new(chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
    let test_store = store().await;
    let store = test_store.store().clone().with_clock(clock.clock());
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;

    // Old: a family that ended 40 days before "now".
    let (old, old_child, old_grandchild) = family(&store, &deployment).await;
    move_to(&store, &old.id, StateType::Completed).await;
    // A parent whose subflow run ended 40 days ago, the parent 5 days ago.
    let (young, young_child, young_grandchild) = family(&store, &deployment).await;
    move_to(&store, &young_child.id, StateType::Completed).await;
    clock.advance(DAY * 35);
    move_to(&store, &young.id, StateType::Completed).await;
    clock.advance(DAY * 5);

    let policy = RetentionPolicy {
        default: Retention {
            runs_days: Some(30),
            logs_days: None,
        },
        ..RetentionPolicy::default()
    };
    let rules = policy.rules(&store.maintenance().deployment_retentions().await.unwrap());
    let now = store.now();
    let mut counted = Pruned::default();
    for rule in &rules {
        counted += store.maintenance().count_prunable(rule, now).await.unwrap();
    }
    assert_eq!(counted.runs, 3, "the old family, its subflow runs counted");
    let batch = BatchSize {
        runs: 1,
        log_lines: 1_000,
    };
    let mut pruned = Pruned::default();
    for rule in &rules {
        loop {
            let done = store
                .maintenance()
                .prune_runs_batch(rule, now, batch)
                .await
                .unwrap();
            pruned += done;
            if done.is_empty() {
                break;
            }
        }
    }
    // PostgreSQL leaves the pruned runs' lines to the partition pass.
    pruned.log_lines += store
        .maintenance()
        .prune_log_partitions(now, batch, std::time::Duration::ZERO, || false)
        .await
        .unwrap()
        .deleted_lines;
    assert_eq!(
        pruned,
        Pruned {
            runs: 3,
            log_lines: 9
        }
    );
    for run in [&old, &old_child, &old_grandchild] {
        assert!(gone(&store, run).await, "{} is pruned", run.flow);
    }
    // The young parent keeps its old subflow runs.
    for run in [&young, &young_child, &young_grandchild] {
        store.flow_runs().flow_run(&run.id).await.unwrap();
    }

    // Deleting by filter (`orch flow-run delete --state completed --before
    // 1d`) takes the young family whole, not the subflow runs alone.
    let before = store.now() - 86_400_000_000;
    assert_eq!(
        store
            .maintenance()
            .count_finished_runs(StateType::Completed, before)
            .await
            .unwrap()
            .runs,
        3
    );
    let deleted = store
        .maintenance()
        .delete_finished_runs_batch(StateType::Completed, before, BatchSize::default())
        .await
        .unwrap();
    assert_eq!(deleted.runs, 3);
    for run in [&young, &young_child, &young_grandchild] {
        assert!(gone(&store, run).await, "{} is deleted", run.flow);
    }
}
