//! Retention: expired finished runs and log lines are deleted in batches,
//! with everything attached to the runs; young and unfinished runs are not.

use std::time::Duration;

use chrono::TimeZone;
use orch_core::retention::RetentionPolicy;
use orch_core::{Retention, StateType};
use orch_store::{BatchSize, LogLine, ManualClock, Pruned, State, Store, TaskRun, TaskRunState};

use crate::common::{move_to, pool_and_deployment, run_now, start, store};

const DAY: Duration = Duration::from_secs(86_400);

fn lines(run_id: &str, count: i64) -> Vec<LogLine> {
    (1..=count)
        .map(|seq| LogLine {
            id: 0,
            flow_run_id: run_id.to_string(),
            emitter: "worker".into(),
            seq,
            timestamp: seq,
            stream: "stdout".into(),
            level: "INFO".into(),
            message: format!("line {seq}"),
            task_run_id: String::new(),
        })
        .collect()
}

fn task(run_id: &str, id: &str, timestamp: i64) -> TaskRun {
    let state = State {
        kind: StateType::Completed,
        name: "Completed".into(),
        message: String::new(),
        timestamp,
    };
    TaskRun {
        id: id.into(),
        flow_run_id: run_id.into(),
        name: "fetch".into(),
        tags: vec![],
        state: state.clone(),
        attempt: 1,
        max_retries: 0,
        start_time: Some(timestamp),
        end_time: Some(timestamp),
        error: String::new(),
        result: "1".into(),
        upstream_ids: vec![],
        history: vec![TaskRunState {
            seq: 1,
            attempt: 1,
            state,
        }],
        created_at: timestamp,
        cpu_micros: None,
    }
}

/// Runs every rule in batches until nothing is left, as the server's pruner does.
async fn prune(store: &Store, policy: &RetentionPolicy, batch: BatchSize) -> (Pruned, usize) {
    let rules = policy.rules(&store.maintenance().deployment_retentions().await.unwrap());
    let now = store.now();
    let mut total = Pruned::default();
    let mut batches = 0;
    for rule in &rules {
        loop {
            let pruned = store
                .maintenance()
                .prune_runs_batch(rule, now, batch)
                .await
                .unwrap();
            total += pruned;
            batches += 1;
            if pruned.is_empty() {
                break;
            }
        }
        loop {
            let (pruned, more) = store
                .maintenance()
                .prune_logs_batch(rule, now, batch)
                .await
                .unwrap();
            total += pruned;
            batches += 1;
            if !more {
                break;
            }
        }
    }
    // PostgreSQL: the expired lines go here (in these tests they have no day
    // partition of their own, so they are deleted at once).
    let partitions = store
        .maintenance()
        .prune_log_partitions(now, batch, Duration::ZERO, || false)
        .await
        .unwrap();
    total.log_lines += partitions.deleted_lines;
    (total, batches)
}

async fn count(store: &Store, policy: &RetentionPolicy) -> Pruned {
    let rules = policy.rules(&store.maintenance().deployment_retentions().await.unwrap());
    let mut total = Pruned::default();
    for rule in &rules {
        total += store
            .maintenance()
            .count_prunable(rule, store.now())
            .await
            .unwrap();
    }
    total
}

#[tokio::test]
async fn expired_runs_and_logs_go_in_batches_and_young_or_unfinished_runs_stay() {
    let clock = ManualClock::new(chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
    let test_store = store().await;
    let store = test_store.store().clone().with_clock(clock.clock());
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;

    // Finished 40 days before "now": old_done (Completed) and old_failed (Failed).
    let old_done = run_now(&store, &deployment).await;
    start(&store, &old_done.id).await;
    store
        .task_runs()
        .report_task_runs(&[task(&old_done.id, "t-1", store.now())])
        .await
        .unwrap();
    move_to(&store, &old_done.id, StateType::Completed).await;
    let old_failed = run_now(&store, &deployment).await;
    start(&store, &old_failed.id).await;
    move_to(&store, &old_failed.id, StateType::Failed).await;
    // Started 40 days ago and still running: never touched.
    let running = run_now(&store, &deployment).await;
    start(&store, &running.id).await;
    // Scheduled 40 days ago, never started: not finished either.
    let waiting = run_now(&store, &deployment).await;
    for run in [&old_done, &old_failed, &running, &waiting] {
        store.logs().write_logs(&lines(&run.id, 7)).await.unwrap();
    }
    clock.advance(DAY * 35);
    // Finished 5 days before "now": young.
    let young = run_now(&store, &deployment).await;
    start(&store, &young.id).await;
    move_to(&store, &young.id, StateType::Completed).await;
    store.logs().write_logs(&lines(&young.id, 7)).await.unwrap();
    clock.advance(DAY * 5);

    let mut policy = RetentionPolicy {
        default: Retention {
            runs_days: Some(30),
            logs_days: Some(7),
        },
        ..RetentionPolicy::default()
    };
    policy
        .set_state(
            StateType::Failed,
            Retention {
                runs_days: Some(90),
                logs_days: None,
            },
        )
        .unwrap();

    // old_done goes whole; old_failed (kept 90 days) loses its logs.
    let expected = Pruned {
        runs: 1,
        log_lines: 14,
    };
    assert_eq!(count(&store, &policy).await, expected, "dry run");
    let batch = BatchSize {
        runs: 1,
        log_lines: 2,
    };
    let (pruned, batches) = prune(&store, &policy, batch).await;
    assert_eq!(pruned, expected);
    // SQLite deletes the lines in the batches; PostgreSQL in the partition pass.
    if crate::BACKEND == orch_store::Backend::Sqlite {
        assert!(batches > 10, "small batches: {batches}");
    }

    let gone = store.flow_runs().flow_run(&old_done.id).await;
    assert!(gone.is_err(), "the expired run is deleted: {gone:?}");
    assert!(
        store
            .task_runs()
            .list_task_runs(&old_done.id)
            .await
            .unwrap_or_default()
            .is_empty()
    );
    assert!(
        store
            .logs()
            .read_logs(&old_done.id, 0, 0)
            .await
            .unwrap()
            .is_empty()
    );

    let failed = store.flow_runs().flow_run(&old_failed.id).await.unwrap();
    assert_eq!(
        failed.state.kind,
        StateType::Failed,
        "failures are kept 90 days"
    );
    assert!(
        store
            .logs()
            .read_logs(&old_failed.id, 0, 0)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .flow_runs()
            .flow_run_history(&old_failed.id)
            .await
            .unwrap()
            .len(),
        4
    );

    for unfinished in [&running, &waiting] {
        store.flow_runs().flow_run(&unfinished.id).await.unwrap();
        assert_eq!(
            store
                .logs()
                .read_logs(&unfinished.id, 0, 0)
                .await
                .unwrap()
                .len(),
            7
        );
    }
    assert_eq!(
        store.logs().read_logs(&young.id, 0, 0).await.unwrap().len(),
        7
    );

    // A second pass has nothing left to do.
    assert_eq!(count(&store, &policy).await, Pruned::default());
    assert_eq!(prune(&store, &policy, batch).await.0, Pruned::default());
    // The tag table and the run counts lost the pruned run too.
    crate::suite::big_tables::assert_derived_tables_match(&test_store).await;
}

#[tokio::test]
async fn no_retention_keeps_everything() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let run = run_now(&store, &deployment).await;
    move_to(&store, &run.id, StateType::Cancelled).await;
    let policy = RetentionPolicy::default();
    assert!(policy.rules(&[]).is_empty());
    assert_eq!(
        prune(&store, &policy, BatchSize::default()).await.0,
        Pruned::default()
    );
    store.flow_runs().flow_run(&run.id).await.unwrap();
}

#[tokio::test]
async fn the_schema_is_current_after_connecting() {
    let store = store().await;
    let version = store.maintenance().schema_version().await.unwrap();
    assert!(version.is_current(), "{version:?}");
    assert!(version.applied >= 5, "{version:?}");
    store.maintenance().ping().await.unwrap();
}
