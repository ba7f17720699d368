//! Task runs as the SDK reports them: snapshots with new history entries and
//! edges, written many per statement, idempotent and newest-wins.

use crate::common::{pool_and_deployment, run_now, store};
use orch_core::StateType;
use orch_store::{State, StoreError, TaskRun, TaskRunState};

fn state(kind: StateType, timestamp: i64) -> State {
    State {
        kind,
        name: kind.display_name().to_string(),
        message: String::new(),
        timestamp,
    }
}

/// A snapshot of task `id` in `kind` at `timestamp`, carrying history entry `seq`.
fn snapshot(flow_run_id: &str, id: &str, kind: StateType, timestamp: i64, seq: u32) -> TaskRun {
    TaskRun {
        id: id.into(),
        flow_run_id: flow_run_id.into(),
        name: format!("task-{id}"),
        tags: vec!["db".into()],
        state: state(kind, timestamp),
        attempt: 1,
        max_retries: 2,
        start_time: (kind != StateType::Pending).then_some(10),
        end_time: kind.is_terminal().then_some(timestamp),
        error: String::new(),
        result: if kind == StateType::Completed {
            "42".into()
        } else {
            String::new()
        },
        upstream_ids: vec![],
        history: vec![TaskRunState {
            seq,
            attempt: 1,
            state: state(kind, timestamp),
        }],
        created_at: 1,
        cpu_micros: None,
    }
}

fn kinds(task: &TaskRun) -> Vec<StateType> {
    task.history.iter().map(|entry| entry.state.kind).collect()
}

#[tokio::test]
async fn a_large_report_is_stored_whole_with_history_and_edges() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let flow_run = run_now(&store, &deployment).await;
    // 1,200 tasks (more than one statement's worth), each Pending then
    // Completed in the same report, each consuming the one before.
    let mut report = Vec::new();
    for i in 0..1200u32 {
        let id = format!("t{i:04}");
        report.push(snapshot(&flow_run.id, &id, StateType::Pending, 100, 1));
        let mut done = snapshot(&flow_run.id, &id, StateType::Completed, 200, 2);
        if i > 0 {
            done.upstream_ids = vec![format!("t{:04}", i - 1)];
        }
        report.push(done);
    }

    store.task_runs().report_task_runs(&report).await.unwrap();

    let stored = store
        .task_runs()
        .list_task_runs(&flow_run.id)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1200);
    for (i, task) in stored.iter().enumerate() {
        assert_eq!(task.id, format!("t{i:04}"));
        assert_eq!(task.state.kind, StateType::Completed);
        assert_eq!(task.result, "42");
        assert_eq!(task.start_time, Some(10));
        assert_eq!(task.tags, ["db"]);
        assert_eq!(kinds(task), [StateType::Pending, StateType::Completed]);
        let expected: Vec<String> = if i == 0 {
            vec![]
        } else {
            vec![format!("t{:04}", i - 1)]
        };
        assert_eq!(task.upstream_ids, expected);
    }
}

#[tokio::test]
async fn a_resent_report_changes_nothing_and_an_older_snapshot_does_not_win() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let flow_run = run_now(&store, &deployment).await;
    let running = snapshot(&flow_run.id, "a", StateType::Running, 100, 1);
    let completed = snapshot(&flow_run.id, "a", StateType::Completed, 200, 2);

    store
        .task_runs()
        .report_task_runs(std::slice::from_ref(&running))
        .await
        .unwrap();
    store
        .task_runs()
        .report_task_runs(std::slice::from_ref(&completed))
        .await
        .unwrap();
    store
        .task_runs()
        .report_task_runs(&[completed])
        .await
        .unwrap();
    store
        .task_runs()
        .report_task_runs(&[running])
        .await
        .unwrap();

    let stored = store
        .task_runs()
        .list_task_runs(&flow_run.id)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].state.kind, StateType::Completed);
    assert_eq!(
        kinds(&stored[0]),
        [StateType::Running, StateType::Completed]
    );
}

#[tokio::test]
async fn a_report_naming_an_unknown_flow_run_or_a_nameless_task_writes_nothing() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let flow_run = run_now(&store, &deployment).await;
    let good = snapshot(&flow_run.id, "good", StateType::Running, 100, 1);

    let unknown = snapshot("no-such-run", "x", StateType::Running, 100, 1);
    let error = store
        .task_runs()
        .report_task_runs(&[good.clone(), unknown])
        .await
        .unwrap_err();
    assert!(
        matches!(&error, StoreError::InvalidInput(m) if m.contains("no-such-run")),
        "{error}"
    );

    let mut nameless = snapshot(&flow_run.id, "y", StateType::Running, 100, 1);
    nameless.name.clear();
    let error = store
        .task_runs()
        .report_task_runs(&[good, nameless])
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("needs an id and a name"),
        "{error}"
    );

    assert!(
        store
            .task_runs()
            .list_task_runs(&flow_run.id)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_report_naming_another_runs_task_run_is_refused_and_changes_nothing() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let run_a = run_now(&store, &deployment).await;
    let run_b = run_now(&store, &deployment).await;
    store
        .task_runs()
        .report_task_runs(&[snapshot(&run_b.id, "b-task", StateType::Running, 100, 1)])
        .await
        .unwrap();

    // Run A's report, naming B's task run as its own: refused whole.
    let forged = [
        snapshot(&run_a.id, "a-task", StateType::Running, 150, 1),
        snapshot(&run_a.id, "b-task", StateType::Failed, 200, 2),
    ];
    let error = store
        .task_runs()
        .report_task_runs(&forged)
        .await
        .unwrap_err();
    let StoreError::Forbidden(message) = error else {
        panic!("refused as forbidden: {error:?}");
    };
    assert!(
        message.contains("b-task") && message.contains(&run_b.id),
        "{message}"
    );
    // ... and linking B's task run into A's graph is refused too.
    let mut linked = snapshot(&run_a.id, "a-task", StateType::Running, 150, 1);
    linked.upstream_ids = vec!["b-task".into()];
    assert!(matches!(
        store.task_runs().report_task_runs(&[linked]).await,
        Err(StoreError::Forbidden(_))
    ));
    // Two snapshots of one id for two runs in one report: refused.
    let split = [
        snapshot(&run_a.id, "new-task", StateType::Running, 150, 1),
        snapshot(&run_b.id, "new-task", StateType::Running, 160, 1),
    ];
    assert!(matches!(
        store.task_runs().report_task_runs(&split).await,
        Err(StoreError::Forbidden(_))
    ));

    let b = store.task_runs().list_task_runs(&run_b.id).await.unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].state.kind, StateType::Running, "B's task is untouched");
    assert_eq!(kinds(&b[0]), [StateType::Running], "and its history too");
    assert!(
        store
            .task_runs()
            .list_task_runs(&run_a.id)
            .await
            .unwrap()
            .is_empty()
    );
    // A's own task runs are still reported.
    store
        .task_runs()
        .report_task_runs(&[snapshot(&run_a.id, "a-task", StateType::Running, 150, 1)])
        .await
        .unwrap();
    assert_eq!(
        store
            .task_runs()
            .list_task_runs(&run_a.id)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_task_runs_cpu_time_is_kept_and_a_snapshot_without_it_does_not_clear_it() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let flow_run = run_now(&store, &deployment).await;
    let mut running = snapshot(&flow_run.id, "cpu", StateType::Running, 100, 1);
    running.cpu_micros = Some(250_000);
    store
        .task_runs()
        .report_task_runs(&[running])
        .await
        .unwrap();
    let stored = store
        .task_runs()
        .list_task_runs(&flow_run.id)
        .await
        .unwrap();
    assert_eq!(stored[0].cpu_micros, Some(250_000));
    // A newer snapshot that says nothing of it (an older SDK) keeps it.
    let done = snapshot(&flow_run.id, "cpu", StateType::Completed, 200, 2);
    store.task_runs().report_task_runs(&[done]).await.unwrap();
    let stored = store
        .task_runs()
        .list_task_runs(&flow_run.id)
        .await
        .unwrap();
    assert_eq!(stored[0].state.kind, StateType::Completed);
    assert_eq!(stored[0].cpu_micros, Some(250_000));
    // A newer one with the sum of more attempts replaces it.
    let mut retried = snapshot(&flow_run.id, "cpu", StateType::Completed, 300, 3);
    retried.cpu_micros = Some(400_000);
    store
        .task_runs()
        .report_task_runs(&[retried])
        .await
        .unwrap();
    let stored = store
        .task_runs()
        .list_task_runs(&flow_run.id)
        .await
        .unwrap();
    assert_eq!(stored[0].cpu_micros, Some(400_000));
    // Unmeasured task runs stay unknown.
    let plain = snapshot(&flow_run.id, "plain", StateType::Completed, 100, 1);
    store.task_runs().report_task_runs(&[plain]).await.unwrap();
    let stored = store
        .task_runs()
        .list_task_runs(&flow_run.id)
        .await
        .unwrap();
    let plain = stored.iter().find(|task| task.id == "plain").unwrap();
    assert_eq!(plain.cpu_micros, None);
}
