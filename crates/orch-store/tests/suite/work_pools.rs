//! Work pools: creating, finding, pausing, limiting and deleting them.

use crate::common::{create_pool, deploy, not_found_message, spec, store};
use orch_store::{StoreError, WorkPoolUpdate};

#[tokio::test]
async fn a_created_pool_is_listed_and_found_by_name() {
    let store = store().await;
    let created = store
        .work_pools()
        .create_work_pool("sentinel-pool", "process", "trading hosts", Some(4))
        .await
        .unwrap();
    create_pool(&store, "another").await;

    assert_eq!(created.name, "sentinel-pool");
    assert_eq!(created.pool_type, "process");
    assert_eq!(created.description, "trading hosts");
    assert_eq!(created.concurrency_limit, Some(4));
    assert!(!created.paused);

    let listed: Vec<String> = store
        .work_pools()
        .list_work_pools(0)
        .await
        .unwrap()
        .into_iter()
        .map(|pool| pool.name)
        .collect();
    assert_eq!(listed, ["another", "sentinel-pool"]);

    assert_eq!(
        store
            .work_pools()
            .work_pool("sentinel-pool", 0)
            .await
            .unwrap(),
        created
    );
}

#[tokio::test]
async fn a_duplicate_pool_name_is_already_exists() {
    let store = store().await;
    create_pool(&store, "default").await;

    let error = store
        .work_pools()
        .create_work_pool("default", "process", "", None)
        .await
        .unwrap_err();

    assert!(
        matches!(&error, StoreError::AlreadyExists { kind: "work pool", name, .. } if name == "default"),
        "{error:?}"
    );
    assert_eq!(
        store.work_pools().list_work_pools(0).await.unwrap().len(),
        1
    );
}

#[tokio::test]
async fn an_unknown_pool_type_is_refused() {
    let store = store().await;

    let error = store
        .work_pools()
        .create_work_pool("default", "kubernetes", "", None)
        .await
        .unwrap_err();

    let StoreError::InvalidInput(message) = error else {
        panic!("expected InvalidInput, got {error:?}");
    };
    assert!(message.contains("\"kubernetes\""), "{message}");
    assert!(message.contains("process"), "{message}");
    assert!(
        store
            .work_pools()
            .list_work_pools(0)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn an_invalid_pool_name_is_refused() {
    let store = store().await;

    for name in ["", "my pool", "pool/a"] {
        let error = store
            .work_pools()
            .create_work_pool(name, "process", "", None)
            .await
            .unwrap_err();
        let StoreError::InvalidInput(message) = error else {
            panic!("{name:?}: expected InvalidInput, got {error:?}");
        };
        assert!(message.contains("invalid work pool name"), "{message}");
    }
    assert!(
        store
            .work_pools()
            .list_work_pools(0)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_pool_can_be_paused_and_resumed() {
    let store = store().await;
    create_pool(&store, "default").await;
    let pause = WorkPoolUpdate {
        paused: Some(true),
        ..Default::default()
    };
    let resume = WorkPoolUpdate {
        paused: Some(false),
        ..Default::default()
    };

    assert!(
        store
            .work_pools()
            .update_work_pool("default", pause)
            .await
            .unwrap()
            .paused
    );
    assert!(
        store
            .work_pools()
            .work_pool("default", 0)
            .await
            .unwrap()
            .paused
    );
    assert!(
        !store
            .work_pools()
            .update_work_pool("default", resume)
            .await
            .unwrap()
            .paused
    );
    assert!(
        !store
            .work_pools()
            .work_pool("default", 0)
            .await
            .unwrap()
            .paused
    );
}

#[tokio::test]
async fn a_concurrency_limit_can_be_set_and_cleared_without_touching_pause() {
    let store = store().await;
    create_pool(&store, "default").await;
    let pause = WorkPoolUpdate {
        paused: Some(true),
        ..Default::default()
    };
    store
        .work_pools()
        .update_work_pool("default", pause)
        .await
        .unwrap();

    let set = WorkPoolUpdate {
        concurrency_limit: Some(Some(5)),
        ..Default::default()
    };
    let pool = store
        .work_pools()
        .update_work_pool("default", set)
        .await
        .unwrap();
    assert_eq!(pool.concurrency_limit, Some(5));
    assert!(pool.paused, "setting the limit must not resume the pool");

    let unrelated = WorkPoolUpdate {
        paused: Some(true),
        concurrency_limit: None,
    };
    let pool = store
        .work_pools()
        .update_work_pool("default", unrelated)
        .await
        .unwrap();
    assert_eq!(pool.concurrency_limit, Some(5), "an unset field is kept");

    let clear = WorkPoolUpdate {
        concurrency_limit: Some(None),
        ..Default::default()
    };
    let pool = store
        .work_pools()
        .update_work_pool("default", clear)
        .await
        .unwrap();
    assert_eq!(pool.concurrency_limit, None);
    assert_eq!(
        store
            .work_pools()
            .work_pool("default", 0)
            .await
            .unwrap()
            .concurrency_limit,
        None
    );
}

#[tokio::test]
async fn a_negative_concurrency_limit_is_refused() {
    let store = store().await;

    let error = store
        .work_pools()
        .create_work_pool("default", "process", "", Some(-1))
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::InvalidInput(_)), "{error:?}");

    create_pool(&store, "default").await;
    let update = WorkPoolUpdate {
        concurrency_limit: Some(Some(-3)),
        ..Default::default()
    };
    let error = store
        .work_pools()
        .update_work_pool("default", update)
        .await
        .unwrap_err();
    let StoreError::InvalidInput(message) = error else {
        panic!("expected InvalidInput, got {error:?}");
    };
    assert!(message.contains("-3"), "{message}");
    assert_eq!(
        store
            .work_pools()
            .work_pool("default", 0)
            .await
            .unwrap()
            .concurrency_limit,
        None
    );
}

#[tokio::test]
async fn an_unknown_pool_is_not_found_with_a_did_you_mean_for_a_close_name() {
    let store = store().await;
    create_pool(&store, "sentinel-pool").await;

    let message = not_found_message(
        store
            .work_pools()
            .work_pool("sentinel-pol", 0)
            .await
            .unwrap_err(),
    );
    assert!(
        message.contains("did you mean \"sentinel-pool\""),
        "{message}"
    );

    let update = WorkPoolUpdate {
        paused: Some(true),
        ..Default::default()
    };
    let message = not_found_message(
        store
            .work_pools()
            .update_work_pool("sentinal-pool", update)
            .await
            .unwrap_err(),
    );
    assert!(
        message.contains("did you mean \"sentinel-pool\""),
        "{message}"
    );

    let message = not_found_message(
        store
            .work_pools()
            .delete_work_pool("zzz")
            .await
            .unwrap_err(),
    );
    assert!(!message.contains("did you mean"), "{message}");
    assert!(message.contains("orch work-pool create zzz"), "{message}");
}

#[tokio::test]
async fn a_pool_used_by_a_deployment_cannot_be_deleted_until_the_deployment_is() {
    let store = store().await;
    create_pool(&store, "default").await;
    deploy(&store, spec("etl", "nightly", "default")).await;

    let error = store
        .work_pools()
        .delete_work_pool("default")
        .await
        .unwrap_err();
    let StoreError::Conflict(message) = error else {
        panic!("expected Conflict, got {error:?}");
    };
    assert!(message.contains("etl/nightly"), "{message}");
    assert!(store.work_pools().work_pool("default", 0).await.is_ok());

    let _ = store
        .deployments()
        .delete_deployment("etl/nightly")
        .await
        .unwrap();
    store
        .work_pools()
        .delete_work_pool("default")
        .await
        .unwrap();

    assert!(matches!(
        store.work_pools().work_pool("default", 0).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(
        store
            .work_pools()
            .list_work_pools(0)
            .await
            .unwrap()
            .is_empty()
    );
}
