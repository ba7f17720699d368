//! Backups, file checks and in-place upgrades of older databases.

use std::path::PathBuf;

use orch_core::StateType;
use orch_store::{Backend, FlowRunFilter, Store, StoreError};

use crate::common::{pool_and_deployment, run_now, start, store};

/// The database of `fixtures/schema-v4.db` (migrations 0001-0004), copied.
fn fixture_copy(dir: &tempfile::TempDir) -> PathBuf {
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema-v4.db");
    let copy = dir.path().join("orch.db");
    std::fs::copy(&fixture, &copy).expect("copy the fixture");
    copy
}

#[tokio::test]
async fn a_backup_taken_while_writing_is_consistent_and_checked() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    for _ in 0..20 {
        let run = run_now(&store, &deployment).await;
        start(&store, &run.id).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("backup.db");
    // Keep writing while the copy is taken.
    let writer = {
        let store = store.store().clone();
        let deployment = deployment.clone();
        tokio::spawn(async move {
            for _ in 0..50 {
                run_now(&store, &deployment).await;
            }
        })
    };
    let taken = store.maintenance().backup_to(&file).await;
    writer.await.unwrap();
    match crate::BACKEND {
        Backend::Sqlite => {
            let check = taken.expect("a SQLite backup");
            assert!(check.flow_runs >= 20, "{check:?}");
            assert!(check.schema.is_current());
            assert!(!dir.path().join("backup.db.partial").exists());
            let again = orch_store::check_database_file(&file).await.unwrap();
            assert_eq!(again.flow_runs, check.flow_runs);
            // The copy opens as a store of its own, with every run in it.
            let copy = Store::connect(&format!("sqlite://{}", file.display()))
                .await
                .unwrap();
            let runs = copy
                .flow_runs()
                .list_flow_runs(&FlowRunFilter::default())
                .await
                .unwrap();
            assert_eq!(runs.len() as i64, check.flow_runs.min(50));
            // An existing file is never overwritten.
            let error = store.maintenance().backup_to(&file).await.unwrap_err();
            assert!(error.to_string().contains("exists already"), "{error}");
        }
        Backend::Postgres => {
            let error = taken.unwrap_err();
            assert!(matches!(error, StoreError::InvalidInput(_)));
            let message = error.to_string();
            assert!(message.contains("pg_dump --format=custom"), "{message}");
            assert!(!file.exists());
        }
    }
}

#[tokio::test]
async fn files_that_are_not_sound_orch_databases_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![7u8; 8192]).unwrap();
    let error = orch_store::check_database_file(&garbage).await.unwrap_err();
    assert!(error.to_string().contains("garbage.db"), "{error}");

    let missing = orch_store::check_database_file(&dir.path().join("nope.db"))
        .await
        .unwrap_err();
    assert!(missing.to_string().contains("cannot be read"), "{missing}");

    let foreign = dir.path().join("foreign.db");
    let url = format!("sqlite://{}?mode=rwc", foreign.display());
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::query("CREATE TABLE t (x INTEGER)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let error = orch_store::check_database_file(&foreign).await.unwrap_err();
    assert!(
        error.to_string().contains("not an orch database"),
        "{error}"
    );
}

#[tokio::test]
async fn a_database_of_the_previous_schema_is_upgraded_in_place_with_runs_and_logs_intact() {
    let dir = tempfile::tempdir().unwrap();
    let path = fixture_copy(&dir);
    let before = orch_store::check_database_file(&path).await.unwrap();
    assert_eq!(before.schema.applied, 4);
    assert_eq!(before.flow_runs, 20);

    let store = Store::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("the old database upgrades");
    let version = store.maintenance().schema_version().await.unwrap();
    assert!(version.is_current() && version.applied > 4, "{version:?}");

    let runs = store
        .flow_runs()
        .list_flow_runs(&FlowRunFilter {
            limit: 100,
            ..FlowRunFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(runs.len(), 20);
    let run = store.flow_runs().flow_run("run-4").await.unwrap();
    assert_eq!(run.state.kind, StateType::Failed);
    assert_eq!(run.deployment, "trading-flow/trading-production");
    assert_eq!(run.parameters["force"], false);
    let history = store.flow_runs().flow_run_history("run-4").await.unwrap();
    assert_eq!(history.len(), 4);
    let logs = store.logs().read_logs("run-4", 0, 0).await.unwrap();
    let messages: Vec<&str> = logs.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "run 4 line 1",
            "run 4 line 2",
            "run 4 line 3",
            "run 4 line 4",
            "run 4 line 5"
        ]
    );
    assert_eq!(
        store
            .task_runs()
            .list_task_runs("run-4")
            .await
            .unwrap()
            .len(),
        1
    );
    let deployment = store
        .deployments()
        .deployment("trading-flow/trading-production")
        .await
        .unwrap();
    assert_eq!(deployment.schedules.len(), 1);
    // The upgraded database takes new work.
    let new_run = run_now(&store, &deployment).await;
    start(&store, &new_run.id).await;
    store.close().await;
    let after = orch_store::check_database_file(&path).await.unwrap();
    assert_eq!(after.flow_runs, 21);
    assert!(after.schema.is_current());
}
