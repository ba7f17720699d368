//! Big tables (issue 24): the overview's window statistics, read from the
//! hourly roll-ups (migration 0450) for whole hours and from the runs at the
//! window's edges, equal a count of every run of the window, through
//! creation, state changes, starts, reschedules, deletion and folds.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use orch_core::{HOUR_MICROS, StateType, names};
use orch_store::{ManualClock, RunStats, StateCount, Store};

use crate::common::{
    TestStore, create_pool, deploy, move_to, raw_connection, run_at, spec, start, store,
};

const H: i64 = HOUR_MICROS;

async fn execute(test_store: &TestStore, statement: &str) {
    sqlx::query(sqlx::AssertSqlSafe(statement.to_string()))
        .execute(&mut *raw_connection(test_store).await)
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

/// `run_stats` by its definition: every run expected (or started) in the
/// window, counted one by one (the statements `run_stats` ran before 0450).
async fn run_stats_direct(test_store: &TestStore, since: i64, until: i64) -> RunStats {
    let mut conn = raw_connection(test_store).await;
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT state_type, state_name, COUNT(*) FROM flow_runs \
         WHERE expected_start >= $1 AND expected_start <= $2 \
         GROUP BY state_type, state_name ORDER BY COUNT(*) DESC, state_name, state_type",
    )
    .bind(since)
    .bind(until)
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    let (late_now,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM flow_runs WHERE state_type = 'SCHEDULED' AND state_name = $1",
    )
    .bind(names::LATE)
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    let (started, average_lateness_micros): (i64, Option<f64>) = sqlx::query_as(
        "SELECT COUNT(*), AVG(CAST(CASE WHEN start_time > expected_start \
         THEN start_time - expected_start ELSE 0 END AS DOUBLE PRECISION)) \
         FROM flow_runs WHERE start_time >= $1 AND start_time <= $2",
    )
    .bind(since)
    .bind(until)
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    let by_state: Vec<StateCount> = rows
        .into_iter()
        .map(|(kind, state_name, count)| StateCount {
            state_type: kind.parse().unwrap(),
            state_name,
            count,
        })
        .collect();
    let count_of = |kinds: &[StateType]| -> i64 {
        by_state
            .iter()
            .filter(|c| kinds.contains(&c.state_type))
            .map(|c| c.count)
            .sum()
    };
    RunStats {
        total: by_state.iter().map(|c| c.count).sum(),
        completed: count_of(&[StateType::Completed]),
        failed: count_of(&[StateType::Failed, StateType::Crashed]),
        late_now,
        started,
        average_lateness_micros,
        by_state,
    }
}

/// Windows around `base` (an hour's start): aligned on hours, not aligned,
/// within one hour, empty, inverted, and spanning every run.
fn windows(base: i64) -> Vec<(i64, i64)> {
    vec![
        (base, base + 3 * H - 1),
        (base, base + 3 * H),
        (base + 1, base + 4 * H + 5),
        (base - 1, base + H - 1),
        (base + H + 1, base + 2 * H - 1),
        (base + 30 * 60_000_000, base + 2 * H + 30 * 60_000_000),
        (base + 10 * H, base + 12 * H),
        (base + 5, base + 4),
        (base - 48 * H, base + 48 * H),
        (i64::MIN, i64::MAX),
    ]
}

/// `run_stats` equals the direct count for every window.
async fn assert_windows_match(test_store: &TestStore, base: i64, when: &str) {
    for (since, until) in windows(base) {
        let kept = test_store.stats().run_stats(since, until).await.unwrap();
        let direct = run_stats_direct(test_store, since, until).await;
        assert_eq!(
            kept,
            direct,
            "{when}: window [base{:+}, base{:+}]",
            since.saturating_sub(base),
            until.saturating_sub(base)
        );
    }
}

async fn rollup_rows(
    test_store: &TestStore,
) -> (Vec<(i64, String, String, i64)>, Vec<(i64, i64, i64)>) {
    let mut conn = raw_connection(test_store).await;
    let hours = sqlx::query_as(
        "SELECT hour, state_type, state_name, runs FROM flow_run_hours \
         ORDER BY hour, state_type, state_name",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    let starts = sqlx::query_as(
        "SELECT hour, started, lateness_micros FROM flow_run_start_hours ORDER BY hour",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    (hours, starts)
}

/// A store whose clock stands at `base` + `offset`, and that clock.
fn clocked(test_store: &TestStore, base: i64) -> (Store, ManualClock) {
    let clock = ManualClock::new(Utc.timestamp_micros(base).unwrap());
    (test_store.store().clone().with_clock(clock.clock()), clock)
}

#[tokio::test]
async fn window_statistics_from_the_rollups_equal_a_count_of_the_runs() {
    let test_store = store().await;
    // Two days ago, on an hour: every run of the test is in the past.
    let base = (Utc::now().timestamp_micros() / H - 48) * H;
    let (store, clock) = clocked(&test_store, base);
    create_pool(&store, "default").await;
    let nightly = deploy(&store, spec("etl", "nightly", "default")).await;
    let daily = deploy(&store, spec("reports", "daily", "default")).await;
    let offsets = [
        0,
        1,
        H - 1,
        H,
        H + H / 2,
        2 * H + 1,
        3 * H - 1,
        3 * H,
        4 * H + 10,
        5 * H,
    ];
    let mut runs = Vec::new();
    for (i, offset) in offsets.iter().enumerate() {
        let deployment = if i % 3 == 0 { &daily } else { &nightly };
        runs.push(run_at(&store, deployment, base + offset).await.id);
    }
    assert_windows_match(&test_store, base, "created, nothing folded").await;
    store.stats().fold_run_counts().await.unwrap();
    let (hours, _) = rollup_rows(&test_store).await;
    assert_eq!(
        hours.iter().map(|h| h.3).sum::<i64>(),
        offsets.len() as i64,
        "every run is in the hourly totals after a fold: {hours:?}"
    );
    assert_windows_match(&test_store, base, "created, folded").await;

    // Started late (by the clock), ended each way; one started before its hour.
    clock.set(Utc.timestamp_micros(base + 2 * H + 7).unwrap());
    start(&store, &runs[0]).await;
    move_to(&store, &runs[0], StateType::Completed).await;
    start(&store, &runs[1]).await;
    move_to(&store, &runs[1], StateType::Failed).await;
    start(&store, &runs[4]).await;
    assert_windows_match(&test_store, base, "started, not folded").await;
    store.stats().fold_run_counts().await.unwrap();
    clock.advance(Duration::from_secs(3 * 3600));
    start(&store, &runs[5]).await;
    move_to(&store, &runs[5], StateType::Crashed).await;
    start(&store, &runs[9]).await;
    move_to(&store, &runs[9], StateType::Completed).await;
    let early = &runs[8];
    start(&store, early).await;
    execute(
        &test_store,
        &format!(
            "UPDATE flow_runs SET start_time = {} WHERE id = '{early}'",
            base + 2 * H
        ),
    )
    .await;
    // Late (a state name change within Scheduled), then cancelled.
    let late = &runs[2];
    execute(
        &test_store,
        &format!("UPDATE flow_runs SET state_name = 'Late' WHERE id = '{late}'"),
    )
    .await;
    let _ = store.flow_runs().cancel_flow_run(&runs[3]).await.unwrap();
    assert_windows_match(&test_store, base, "state changes, partly folded").await;
    let kept = store
        .stats()
        .run_stats(base, base + 6 * H - 1)
        .await
        .unwrap();
    assert_eq!((kept.total, kept.completed, kept.failed), (10, 2, 2));
    assert_eq!((kept.late_now, kept.started), (1, 6));

    // Rescheduled to another hour, with and without a start.
    for (run, to) in [(&runs[6], base + 4 * H + 1), (&runs[5], base - 3)] {
        execute(
            &test_store,
            &format!("UPDATE flow_runs SET expected_start = {to} WHERE id = '{run}'"),
        )
        .await;
    }
    assert_windows_match(&test_store, base, "rescheduled").await;
    store.stats().fold_run_counts().await.unwrap();
    assert_windows_match(&test_store, base, "rescheduled, folded").await;

    // Deleted: a started one, a scheduled one, and a whole statement's worth.
    for run in [&runs[0], &runs[7]] {
        execute(
            &test_store,
            &format!("DELETE FROM flow_runs WHERE id = '{run}'"),
        )
        .await;
    }
    assert_windows_match(&test_store, base, "deleted").await;
    store.stats().fold_run_counts().await.unwrap();
    execute(
        &test_store,
        &format!("DELETE FROM flow_runs WHERE expected_start < {}", base + H),
    )
    .await;
    assert_windows_match(&test_store, base, "deleted again").await;
    store.stats().fold_run_counts().await.unwrap();
    assert_windows_match(&test_store, base, "deleted, folded").await;
    let kept = store.stats().run_stats(i64::MIN, i64::MAX).await.unwrap();
    assert_eq!(kept.total, 5, "{kept:?}");
}

#[tokio::test]
async fn a_second_fold_changes_nothing() {
    let test_store = store().await;
    let base = (Utc::now().timestamp_micros() / H - 10) * H;
    let (store, clock) = clocked(&test_store, base);
    create_pool(&store, "default").await;
    let nightly = deploy(&store, spec("etl", "nightly", "default")).await;
    let mut runs = Vec::new();
    for offset in [0, H + 5, 2 * H + 9] {
        runs.push(run_at(&store, &nightly, base + offset).await.id);
    }
    clock.set(Utc.timestamp_micros(base + 3 * H).unwrap());
    start(&store, &runs[1]).await;
    assert!(store.stats().fold_run_counts().await.unwrap() > 0);
    let folded = rollup_rows(&test_store).await;
    let stats = store.stats().run_stats(base, base + 4 * H).await.unwrap();
    assert_eq!((stats.total, stats.started), (3, 1));
    assert_eq!(stats.average_lateness_micros, Some((2 * H - 5) as f64));
    assert_eq!(store.stats().fold_run_counts().await.unwrap(), 0);
    assert_eq!(rollup_rows(&test_store).await, folded, "a fold of nothing");
    assert_eq!(
        store.stats().run_stats(base, base + 4 * H).await.unwrap(),
        stats
    );
    // A change undone before the fold nets to nothing, and writes nothing.
    let run = &runs[0];
    for name in ["Late", "Scheduled"] {
        execute(
            &test_store,
            &format!("UPDATE flow_runs SET state_name = '{name}' WHERE id = '{run}'"),
        )
        .await;
    }
    assert_eq!(store.stats().fold_run_counts().await.unwrap(), 0);
    assert_eq!(
        rollup_rows(&test_store).await,
        folded,
        "a fold of nets to zero"
    );
}

#[tokio::test]
async fn state_changes_during_folds_are_not_lost() {
    let test_store = store().await;
    let base = (Utc::now().timestamp_micros() / H - 30) * H;
    let (store, clock) = clocked(&test_store, base);
    create_pool(&store, "default").await;
    let nightly = deploy(&store, spec("etl", "nightly", "default")).await;
    let mut runs = Vec::new();
    for i in 0..24 {
        runs.push(run_at(&store, &nightly, base + i * H / 2 + i).await.id);
    }
    clock.set(Utc.timestamp_micros(base + 20 * H + 3).unwrap());
    let changing = {
        let store = store.clone();
        let runs = runs.clone();
        tokio::spawn(async move {
            for (i, run) in runs.iter().enumerate() {
                start(&store, run).await;
                let end = if i % 2 == 0 {
                    StateType::Completed
                } else {
                    StateType::Failed
                };
                move_to(&store, run, end).await;
            }
        })
    };
    let folding = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut folds = 0;
            while folds < 5000 && !changing_done(&store).await {
                store.stats().fold_run_counts().await.unwrap();
                folds += 1;
            }
            folds
        })
    };
    changing.await.unwrap();
    assert!(folding.await.unwrap() > 0);
    assert_windows_match(&test_store, base, "after concurrent folds").await;
    store.stats().fold_run_counts().await.unwrap();
    assert_windows_match(&test_store, base, "folded at last").await;
    let stats = store.stats().run_stats(base, base + 21 * H).await.unwrap();
    assert_eq!(
        (stats.total, stats.completed, stats.failed, stats.started),
        (24, 12, 12, 24)
    );
}

/// Whether every run has ended (the concurrent writer is through).
async fn changing_done(store: &Store) -> bool {
    let stats = store.stats().run_stats(i64::MIN, i64::MAX).await.unwrap();
    stats.completed + stats.failed == 24
}
