//! Container settings of `docker` pools: a pool's defaults, a deployment's
//! own, and the claim carrying the deployment's laid over the pool's.

use orch_core::{ContainerSettings, PullPolicy};
use orch_store::StoreError;
use serde_json::json;

use crate::common::{create_pool, deploy, input, object, register, spec, store};

fn settings(image: Option<&str>, memory: Option<&str>) -> ContainerSettings {
    ContainerSettings {
        image: image.map(str::to_owned),
        memory: memory.map(str::to_owned),
        ..ContainerSettings::default()
    }
}

#[tokio::test]
async fn a_docker_claim_carries_the_deployments_settings_over_the_pools() {
    let test = store().await;
    let store = test.store();
    let defaults = ContainerSettings {
        pull_policy: Some(PullPolicy::Never),
        ..settings(Some("base:1"), Some("512m"))
    };
    let pool = store
        .work_pools()
        .create_work_pool_with("boxes", "docker", "", None, &defaults)
        .await
        .unwrap();
    assert_eq!(pool.pool_type, "docker");
    assert_eq!(pool.container, defaults);
    assert_eq!(
        store
            .work_pools()
            .work_pool("boxes", 0)
            .await
            .unwrap()
            .container,
        defaults
    );

    let mut declared = spec("etl", "nightly", "boxes");
    declared.container = settings(Some("flows:2"), None);
    let deployment = deploy(store, declared.clone()).await;
    assert_eq!(deployment.container, declared.container);
    // Unchanged on a second apply; a change is named.
    let changes = store
        .deployments()
        .apply_deployments(&[input(declared.clone())])
        .await
        .unwrap();
    assert!(changes[0].changed_fields.is_empty(), "{changes:?}");
    declared.container.cpus = Some(0.5);
    let changes = store
        .deployments()
        .apply_deployments(&[input(declared.clone())])
        .await
        .unwrap();
    assert_eq!(changes[0].changed_fields, ["container"]);

    let worker = register(store, "w1", "boxes", 0).await;
    let _ = store
        .flow_runs()
        .create_flow_run("etl/nightly", &object(json!({})), None, "")
        .await
        .unwrap();
    let claimed = store
        .claims()
        .claim_runs(&worker.id, 1)
        .await
        .unwrap()
        .value;
    let container = claimed[0]
        .container
        .clone()
        .expect("a docker pool's claim has settings");
    assert_eq!(container.image.as_deref(), Some("flows:2"));
    assert_eq!(container.memory.as_deref(), Some("512m"));
    assert_eq!(container.cpus, Some(0.5));
    assert_eq!(container.pull_policy, Some(PullPolicy::Never));
}

#[tokio::test]
async fn a_process_claim_has_no_container_and_a_process_pool_no_defaults() {
    let test = store().await;
    let store = test.store();
    create_pool(store, "local").await;
    let mut declared = spec("etl", "nightly", "local");
    // Portable deploy files: the keys are kept, and ignored by process pools.
    declared.container = settings(Some("flows:2"), None);
    deploy(store, declared).await;
    let worker = register(store, "w1", "local", 0).await;
    let _ = store
        .flow_runs()
        .create_flow_run("etl/nightly", &object(json!({})), None, "")
        .await
        .unwrap();
    let claimed = store
        .claims()
        .claim_runs(&worker.id, 1)
        .await
        .unwrap()
        .value;
    assert_eq!(claimed[0].container, None);

    let error = store
        .work_pools()
        .create_work_pool_with("p2", "process", "", None, &settings(Some("x:1"), None))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, StoreError::InvalidInput(message) if message.contains("--type docker")),
        "{error:?}"
    );
    let error = store
        .work_pools()
        .create_work_pool_with("p3", "docker", "", None, &settings(None, Some("lots")))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, StoreError::InvalidInput(message) if message.contains("is not a size")),
        "{error:?}"
    );
    let error = store
        .work_pools()
        .create_work_pool("p4", "kubernetes", "", None)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, StoreError::InvalidInput(message) if message.contains("process, docker")),
        "{error:?}"
    );
}
