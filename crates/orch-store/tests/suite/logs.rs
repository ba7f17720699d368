//! Log lines: storing, deduplicating and paging.

use crate::common::{pool_and_deployment, run_now, store};
use orch_store::{LogLine, StoreError};

fn line(run_id: &str, emitter: &str, seq: i64, message: &str) -> LogLine {
    LogLine {
        id: 0,
        flow_run_id: run_id.to_string(),
        emitter: emitter.to_string(),
        seq,
        timestamp: 1_700_000_000_000_000 + seq,
        stream: "stdout".into(),
        level: "INFO".into(),
        message: message.to_string(),
        task_run_id: String::new(),
    }
}

fn messages(lines: &[LogLine]) -> Vec<&str> {
    lines.iter().map(|l| l.message.as_str()).collect()
}

#[tokio::test]
async fn written_lines_are_stored_and_read_back_in_order() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let run = run_now(&store, &deployment).await;
    let mut stderr = line(&run.id, "worker-1", 2, "warning: slow");
    stderr.stream = "stderr".into();
    stderr.level = "WARN".into();
    stderr.task_run_id = "task-7".into();
    let batch = [
        line(&run.id, "worker-1", 1, "starting"),
        stderr.clone(),
        line(&run.id, "worker-1", 3, "done"),
    ];

    assert_eq!(store.logs().write_logs(&batch).await.unwrap(), 3);

    let read = store.logs().read_logs(&run.id, 0, 0).await.unwrap();
    assert_eq!(messages(&read), ["starting", "warning: slow", "done"]);
    assert!(read.windows(2).all(|w| w[0].id < w[1].id));
    assert!(read[0].id > 0);
    let stored = &read[1];
    assert_eq!(
        LogLine {
            id: 0,
            ..stored.clone()
        },
        stderr
    );
}

#[tokio::test]
async fn resending_the_same_batch_stores_nothing_new() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let run = run_now(&store, &deployment).await;
    let batch: Vec<LogLine> = (1..=5)
        .map(|seq| line(&run.id, "worker-1", seq, &format!("line {seq}")))
        .collect();
    assert_eq!(store.logs().write_logs(&batch).await.unwrap(), 5);

    assert_eq!(store.logs().write_logs(&batch).await.unwrap(), 0);
    let overlapping = [
        line(&run.id, "worker-1", 5, "line 5"),
        line(&run.id, "worker-1", 6, "line 6"),
        line(&run.id, "sdk", 1, "from the flow"),
    ];
    assert_eq!(store.logs().write_logs(&overlapping).await.unwrap(), 2);

    let read = store.logs().read_logs(&run.id, 0, 0).await.unwrap();
    assert_eq!(
        messages(&read),
        [
            "line 1",
            "line 2",
            "line 3",
            "line 4",
            "line 5",
            "line 6",
            "from the flow"
        ]
    );
}

#[tokio::test]
async fn logs_are_paged_with_after_id_and_limit() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let run = run_now(&store, &deployment).await;
    let other = run_now(&store, &deployment).await;
    let lines: Vec<LogLine> = (1..=7)
        .flat_map(|seq| {
            [
                line(&run.id, "w", seq, &format!("line {seq}")),
                line(&other.id, "w", seq, "other run"),
            ]
        })
        .collect();
    store.logs().write_logs(&lines).await.unwrap();

    let mut pages = Vec::new();
    let mut after = 0;
    loop {
        let page = store.logs().read_logs(&run.id, after, 3).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 3);
        assert!(page.iter().all(|l| l.flow_run_id == run.id));
        after = page.last().unwrap().id;
        pages.push(messages(&page).join(","));
    }

    assert_eq!(
        pages,
        ["line 1,line 2,line 3", "line 4,line 5,line 6", "line 7"]
    );
}

#[tokio::test]
async fn lines_for_a_run_that_does_not_exist_are_refused() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let run = run_now(&store, &deployment).await;
    let batch = [
        line(&run.id, "w", 1, "fine"),
        line("no-such-run", "w", 1, "orphan"),
    ];

    let error = store.logs().write_logs(&batch).await.unwrap_err();

    let StoreError::InvalidInput(message) = error else {
        panic!("expected InvalidInput, got {error:?}");
    };
    assert!(message.contains("no-such-run"), "{message}");
    assert!(
        store
            .logs()
            .read_logs(&run.id, 0, 0)
            .await
            .unwrap()
            .is_empty(),
        "the batch is refused as a whole"
    );
}

#[tokio::test]
async fn an_empty_batch_stores_nothing() {
    let store = store().await;

    assert_eq!(store.logs().write_logs(&[]).await.unwrap(), 0);
}

/// A follower reading "after the last id it saw" never skips a line: a
/// second writer of the same run waits until the first one committed, so a
/// run's lines commit in id order (PostgreSQL; SQLite has one writer).
///
/// The first writer is played by a transaction that follows the store's
/// protocol for writing a run's lines (lock the run's row, insert, commit)
/// and is held open; without that lock the second writer's line (the larger
/// id) commits first, the follower moves past it, and the first line is lost
/// to it when it commits.
#[tokio::test]
async fn a_follower_resuming_after_an_id_misses_no_line_of_concurrent_writers() {
    use sqlx::Connection;
    if crate::BACKEND != orch_store::Backend::Postgres {
        return;
    }
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let run = run_now(&store, &deployment).await;

    let mut first = sqlx::PgConnection::connect(store.url()).await.unwrap();
    sqlx::query("BEGIN").execute(&mut first).await.unwrap();
    sqlx::query("SELECT id FROM flow_runs WHERE id = $1 FOR NO KEY UPDATE")
        .bind(&run.id)
        .execute(&mut first)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO logs (flow_run_id, emitter, seq, timestamp, stream, level, message) \
         VALUES ($1, 'first', 1, 1, 'stdout', 'INFO', 'first writer')",
    )
    .bind(&run.id)
    .execute(&mut first)
    .await
    .unwrap();

    let second = tokio::spawn({
        let store = store.store().clone();
        let line = line(&run.id, "second", 1, "second writer");
        async move { store.logs().write_logs(&[line]).await }
    });
    // Until the second writer has either committed or is waiting for the first.
    let mut watcher = sqlx::PgConnection::connect(store.url()).await.unwrap();
    loop {
        let (waiting,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM pg_stat_activity \
             WHERE wait_event_type = 'Lock' AND datname = current_database()",
        )
        .fetch_one(&mut watcher)
        .await
        .unwrap();
        if waiting > 0 || second.is_finished() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }

    let mut seen = store.logs().read_logs(&run.id, 0, 0).await.unwrap();
    let after = seen.last().map_or(0, |line| line.id);
    sqlx::query("COMMIT").execute(&mut first).await.unwrap();
    assert_eq!(second.await.unwrap().unwrap(), 1);
    seen.extend(store.logs().read_logs(&run.id, after, 0).await.unwrap());

    let mut messages = messages(&seen);
    messages.sort_unstable();
    assert_eq!(messages, ["first writer", "second writer"]);
}
