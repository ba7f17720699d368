//! Artifacts: publishing, checking, listing, series, and going with their run.

use crate::common::{pool_and_deployment, raw_connection, run_now, store};
use orch_core::artifact::ArtifactKind;
use orch_store::{ArtifactFilter, NewArtifact, StoreError};
use serde_json::{Value, json};

fn artifact(run_id: &str, key: Option<&str>, kind: ArtifactKind, data: Value) -> NewArtifact {
    NewArtifact {
        flow_run_id: run_id.to_owned(),
        task_run_id: None,
        key: key.map(str::to_owned),
        kind,
        description: String::new(),
        data,
    }
}

#[tokio::test]
async fn artifacts_are_stored_and_listed_per_run_and_key() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "trading-flow", "prod").await;
    let run = run_now(&store, &deployment).await;
    let other = run_now(&store, &deployment).await;
    let table = json!([{"symbol": "GOOG", "signal": "BUY", "confidence": 0.71}]);
    let stored = store
        .artifacts()
        .create_artifact(artifact(
            &run.id,
            Some("decision-GOOG"),
            ArtifactKind::Table,
            table.clone(),
        ))
        .await
        .unwrap();
    assert_eq!(stored.data, table);
    assert_eq!(stored.flow, "trading-flow");
    assert_eq!(stored.flow_run_name, run.name);
    store
        .artifacts()
        .create_artifact(artifact(
            &run.id,
            None,
            ArtifactKind::Markdown,
            json!("# Done"),
        ))
        .await
        .unwrap();
    store
        .artifacts()
        .create_artifact(artifact(
            &other.id,
            Some("decision-GOOG"),
            ArtifactKind::Table,
            json!([]),
        ))
        .await
        .unwrap();

    let of_run = store
        .artifacts()
        .artifacts(&ArtifactFilter {
            flow_run_id: Some(run.id.clone()),
            ..ArtifactFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(of_run.len(), 2);
    assert_eq!(of_run[0].kind, ArtifactKind::Markdown, "newest first");
    let of_key = store
        .artifacts()
        .artifacts(&ArtifactFilter {
            key: Some("decision-GOOG".into()),
            ..ArtifactFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        of_key
            .iter()
            .map(|a| a.flow_run_id.as_str())
            .collect::<Vec<_>>(),
        [other.id.as_str(), run.id.as_str()]
    );
    assert_eq!(
        store.artifacts().artifact(&stored.id).await.unwrap(),
        stored
    );
}

#[tokio::test]
async fn a_series_is_oldest_first_and_keeps_the_newest() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "retrain", "nightly").await;
    for mae in [3.0, 2.5, 2.0, 1.5] {
        let run = run_now(&store, &deployment).await;
        store
            .artifacts()
            .create_artifact(artifact(
                &run.id,
                Some("model-GOOG"),
                ArtifactKind::Metrics,
                json!({"mae": mae}),
            ))
            .await
            .unwrap();
    }
    let series = store
        .artifacts()
        .artifact_series("model-GOOG", 3)
        .await
        .unwrap();
    let maes: Vec<f64> = series
        .iter()
        .map(|a| a.data["mae"].as_f64().unwrap())
        .collect();
    assert_eq!(maes, [2.5, 2.0, 1.5]);
    assert!(series.windows(2).all(|w| w[0].seq < w[1].seq));
    assert!(
        store
            .artifacts()
            .artifact_series("model-MSFT", 0)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn bad_artifacts_are_refused_with_a_clear_message() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let run = run_now(&store, &deployment).await;
    let refused = |result: Result<orch_store::Artifact, StoreError>| match result {
        Err(StoreError::InvalidInput(message)) => message,
        other => panic!("expected InvalidInput, got {other:?}"),
    };
    let big = "x".repeat(orch_core::artifact::MAX_DATA_BYTES + 1);
    let message = refused(
        store
            .artifacts()
            .create_artifact(artifact(
                &run.id,
                Some("report"),
                ArtifactKind::Markdown,
                json!(big),
            ))
            .await,
    );
    assert!(
        message.starts_with("artifact \"report\" is 513 KiB; the limit is 512 KiB"),
        "{message}"
    );
    let message = refused(
        store
            .artifacts()
            .create_artifact(artifact(
                &run.id,
                Some("m"),
                ArtifactKind::Metrics,
                json!({"loss": "NaN"}),
            ))
            .await,
    );
    assert!(
        message.contains("metric \"loss\" is \"NaN\", not a finite number"),
        "{message}"
    );
    let message = refused(
        store
            .artifacts()
            .create_artifact(artifact(
                &run.id,
                Some("bad key"),
                ArtifactKind::Markdown,
                json!("x"),
            ))
            .await,
    );
    assert!(
        message.starts_with("artifact key \"bad key\" contains ' '"),
        "{message}"
    );
    let mut orphan = artifact(&run.id, Some("t"), ArtifactKind::Markdown, json!("x"));
    orphan.task_run_id = Some("no-such-task-run".into());
    let message = refused(store.artifacts().create_artifact(orphan).await);
    assert!(
        message.contains("has no task run \"no-such-task-run\""),
        "{message}"
    );
    match store
        .artifacts()
        .create_artifact(artifact(
            "no-such-run",
            None,
            ArtifactKind::Markdown,
            json!("x"),
        ))
        .await
    {
        Err(StoreError::NotFound {
            kind: "flow run", ..
        }) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert!(
        store
            .artifacts()
            .artifacts(&ArtifactFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn artifacts_go_with_their_run() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let run = run_now(&store, &deployment).await;
    store
        .artifacts()
        .create_artifact(artifact(
            &run.id,
            Some("k"),
            ArtifactKind::Markdown,
            json!("x"),
        ))
        .await
        .unwrap();
    // Delete the run behind the store's back, as retention will.
    let mut conn = raw_connection(&store).await;
    sqlx::query("DELETE FROM flow_runs WHERE id = $1")
        .bind(&run.id)
        .execute(&mut *conn)
        .await
        .unwrap();
    assert!(
        store
            .artifacts()
            .artifacts(&ArtifactFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
}
