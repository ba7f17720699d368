//! PostgreSQL: log lines partitioned by day, retention that drops a day's
//! partition whole, and the migration that partitioned an existing table.
//! (SQLite keeps one table; these tests return at once there.)

use std::time::Duration;

use orch_core::retention::RetentionPolicy;
use orch_core::{Retention, StateType};
use orch_store::{BatchSize, DAY_MICROS, LogLine, ManualClock, Store, day_of, partition_name};

use crate::common::{move_to, pool_and_deployment, run_now, start, store};

const DAY: Duration = Duration::from_secs(86_400);

fn postgres() -> bool {
    crate::BACKEND == orch_store::Backend::Postgres
}

fn line(run_id: &str, seq: i64, timestamp: i64) -> LogLine {
    LogLine {
        id: 0,
        flow_run_id: run_id.to_string(),
        emitter: "worker".into(),
        seq,
        timestamp,
        stream: "stdout".into(),
        level: "INFO".into(),
        message: format!("line {seq}"),
        task_run_id: String::new(),
    }
}

/// `(partition, lines)` of the run's lines, by partition name.
async fn placement(url: &str, run_id: &str) -> Vec<(String, i64)> {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT tableoid::regclass::TEXT, COUNT(*) FROM logs WHERE flow_run_id = $1 \
         GROUP BY 1 ORDER BY 1",
    )
    .bind(run_id)
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    rows
}

#[tokio::test]
async fn lines_go_to_their_day_partition_or_the_default_one_and_move_when_their_day_is_made() {
    if !postgres() {
        return;
    }
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let run = run_now(&store, &deployment).await;
    let now = store.now();
    let today = day_of(now);
    let days = store.maintenance().log_partition_days().await.unwrap();
    assert!(
        (today..=today + orch_store::DAYS_AHEAD).all(|day| days.contains(&day)),
        "today and 7 days on have partitions: {days:?}"
    );

    let lines = [
        line(&run.id, 1, now),
        line(&run.id, 2, now + 3 * DAY_MICROS),
        line(&run.id, 3, 5),
        line(&run.id, 4, now + 9 * DAY_MICROS),
    ];
    assert_eq!(store.logs().write_logs(&lines).await.unwrap(), 4);
    // A resent batch is still a duplicate.
    assert_eq!(store.logs().write_logs(&lines).await.unwrap(), 0);
    let mut expected = vec![
        ("logs_default".to_string(), 2),
        (partition_name(today), 1),
        (partition_name(today + 3), 1),
    ];
    expected.sort();
    assert_eq!(placement(store.url(), &run.id).await, expected);

    // Two days on, the partitions ahead reach the 9th day: its line moves in.
    let made = store
        .maintenance()
        .ensure_log_partitions(now + 2 * DAY_MICROS)
        .await
        .unwrap();
    assert_eq!(made, [partition_name(today + 8), partition_name(today + 9)]);
    let mut expected = vec![
        ("logs_default".to_string(), 1),
        (partition_name(today), 1),
        (partition_name(today + 3), 1),
        (partition_name(today + 9), 1),
    ];
    expected.sort();
    assert_eq!(placement(store.url(), &run.id).await, expected);
    let read = store.logs().read_logs(&run.id, 0, 0).await.unwrap();
    assert_eq!(read.len(), 4);
    assert!(read.windows(2).all(|w| w[0].id < w[1].id));
    assert!(
        store
            .maintenance()
            .ensure_log_partitions(now)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Every rule in batches, then the partition pass, as the server's pruner does.
async fn prune(store: &Store, policy: &RetentionPolicy) -> orch_store::PartitionsPruned {
    let rules = policy.rules(&store.maintenance().deployment_retentions().await.unwrap());
    let now = store.now();
    let batch = BatchSize {
        runs: 1,
        log_lines: 2,
    };
    for rule in &rules {
        while !store
            .maintenance()
            .prune_runs_batch(rule, now, batch)
            .await
            .unwrap()
            .is_empty()
        {}
        while store
            .maintenance()
            .prune_logs_batch(rule, now, batch)
            .await
            .unwrap()
            .1
        {}
    }
    let longest = 7 + 1;
    store
        .maintenance()
        .prune_log_partitions(now - longest * DAY_MICROS, batch, Duration::ZERO, || false)
        .await
        .unwrap()
}

#[tokio::test]
async fn retention_drops_a_day_whose_lines_all_expired_and_deletes_rows_where_a_day_is_shared() {
    if !postgres() {
        return;
    }
    let test_store = store().await;
    let clock = ManualClock::new(chrono::Utc::now());
    let store = test_store.store().clone().with_clock(clock.clock());
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let now = store.now();
    let today = day_of(now);
    // `done` finishes now; `running` never finishes. `done` alone has lines
    // on day +1; both have lines on day +2 (the lines' own times).
    let done = run_now(&store, &deployment).await;
    start(&store, &done.id).await;
    let running = run_now(&store, &deployment).await;
    start(&store, &running.id).await;
    let day = |n: i64| (today + n) * DAY_MICROS + 1_000;
    store
        .logs()
        .write_logs(&[
            line(&done.id, 1, day(1)),
            line(&done.id, 2, day(1) + 1),
            line(&done.id, 3, day(2)),
            line(&done.id, 4, day(2) + 1),
            line(&done.id, 5, day(2) + 2),
            line(&running.id, 1, day(2)),
        ])
        .await
        .unwrap();
    move_to(&store, &done.id, StateType::Completed).await;
    clock.advance(DAY * 40);

    let policy = RetentionPolicy {
        default: Retention {
            runs_days: None,
            logs_days: Some(7),
        },
        ..RetentionPolicy::default()
    };
    let pruned = prune(&store, &policy).await;

    assert_eq!(pruned.dropped, [partition_name(today + 1)]);
    assert_eq!(pruned.deleted_lines, 3, "{pruned:?}");
    let days = store.maintenance().log_partition_days().await.unwrap();
    assert!(!days.contains(&(today + 1)), "{days:?}");
    assert!(days.contains(&(today + 2)), "{days:?}");
    assert!(
        store
            .logs()
            .read_logs(&done.id, 0, 0)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        placement(test_store.url(), &done.id).await,
        Vec::<(String, i64)>::new()
    );
    assert_eq!(
        store
            .logs()
            .read_logs(&running.id, 0, 0)
            .await
            .unwrap()
            .len(),
        1
    );
    // Nothing is left to do.
    assert!(prune(&store, &policy).await.is_empty());
}

#[tokio::test]
async fn a_day_not_yet_settled_keeps_its_expired_rows_for_the_drop_but_hides_them() {
    if !postgres() {
        return;
    }
    let test_store = store().await;
    let clock = ManualClock::new(chrono::Utc::now());
    let store = test_store.store().clone().with_clock(clock.clock());
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let today = day_of(store.now());
    let done = run_now(&store, &deployment).await;
    start(&store, &done.id).await;
    let running = run_now(&store, &deployment).await;
    start(&store, &running.id).await;
    let at = (today + 1) * DAY_MICROS;
    store
        .logs()
        .write_logs(&[line(&done.id, 1, at), line(&running.id, 1, at)])
        .await
        .unwrap();
    move_to(&store, &done.id, StateType::Completed).await;
    // Past the 7 days of log retention, not past the settling day.
    clock.advance(DAY * 8);

    let policy = RetentionPolicy {
        default: Retention {
            runs_days: None,
            logs_days: Some(7),
        },
        ..RetentionPolicy::default()
    };
    let pruned = prune(&store, &policy).await;
    assert!(pruned.is_empty(), "{pruned:?}");
    assert!(
        store
            .logs()
            .read_logs(&done.id, 0, 0)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        placement(test_store.url(), &done.id).await,
        [(partition_name(today + 1), 1)]
    );
    assert_eq!(
        store
            .logs()
            .read_logs(&running.id, 0, 0)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn the_migration_partitions_an_existing_log_table_without_losing_a_line() {
    if !postgres() {
        return;
    }
    let database = orch_testkit::TestDatabase::postgres();
    // The schema just before partitioning (migrations up to 0409).
    let before = tempfile::tempdir().unwrap();
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let version: i64 = name.split('_').next().unwrap().parse().unwrap();
        if version < 410 {
            std::fs::copy(&path, before.path().join(&name)).unwrap();
        }
    }
    let pool = sqlx::PgPool::connect(database.url()).await.unwrap();
    sqlx::migrate::Migrator::new(before.path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    let now = chrono::Utc::now().timestamp_micros();
    let times = [
        now,
        now - DAY_MICROS,
        now - 400 * DAY_MICROS,
        5,
        now + 30 * DAY_MICROS,
    ];
    for (seq, timestamp) in times.iter().enumerate() {
        sqlx::query(
            "INSERT INTO logs (flow_run_id, emitter, seq, timestamp, stream, level, message) \
             VALUES ('run-1', 'worker', $1, $2, 'stdout', 'INFO', 'line ' || $1)",
        )
        .bind(seq as i64)
        .bind(timestamp)
        .execute(&pool)
        .await
        .unwrap();
    }
    let before_rows: Vec<(i64, i64, i64)> =
        sqlx::query_as("SELECT id, seq, timestamp FROM logs ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();

    let store = Store::connect(database.url()).await.unwrap();
    let after_rows: Vec<(i64, i64, i64)> =
        sqlx::query_as("SELECT id, seq, timestamp FROM logs ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(after_rows, before_rows);
    let mut expected = vec![
        (partition_name(day_of(now)), 1),
        (partition_name(day_of(now) - 1), 1),
        (partition_name(day_of(now) - 400), 1),
        ("logs_default".to_string(), 2),
    ];
    expected.sort();
    assert_eq!(placement(database.url(), "run-1").await, expected);
    let (next,): (i64,) = sqlx::query_as("SELECT nextval('logs_id_seq')")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(next > before_rows.last().unwrap().0);
    assert_eq!(
        store.logs().read_logs("run-1", 0, 0).await.unwrap().len(),
        5
    );
    let (days,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM log_days WHERE flow_run_id = 'run-1'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(days, 5);
    pool.close().await;
    store.close().await;
}
