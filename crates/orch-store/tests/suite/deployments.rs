//! Flows and deployments: applying deploy files, finding, pausing and deleting.

use crate::common::{
    SECOND, create_pool, deploy, history_types, input, interval_schedule, not_found_message,
    object, pool_and_deployment, register, run_at, run_now, spec, store,
};
use orch_core::StateType;
use orch_store::{ChangeKind, FlowRunFilter, StoreError, now_micros};
use serde_json::json;

#[tokio::test]
async fn applying_a_new_deployment_creates_its_flow_and_the_deployment() {
    let store = store().await;
    create_pool(&store, "default").await;
    let mut declared = spec("etl", "nightly", "default");
    declared.parameters = object(json!({"force": false}));
    declared.tags = vec!["data".into()];
    declared.retries = 2;
    declared.retry_delay_seconds = 30;

    let changes = store
        .deployments()
        .apply_deployments(&[input(declared)])
        .await
        .unwrap();

    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].flow, "etl");
    assert_eq!(changes[0].name, "nightly");
    assert_eq!(changes[0].kind, ChangeKind::Created);
    assert!(changes[0].flow_created);
    assert!(changes[0].changed_fields.is_empty());

    let deployment = store.deployments().deployment("etl/nightly").await.unwrap();
    assert_eq!(deployment.full_name(), "etl/nightly");
    assert_eq!(deployment.entrypoint, ["python", "-m", "etl"]);
    assert_eq!(deployment.work_pool, "default");
    assert_eq!(deployment.parameters, object(json!({"force": false})));
    assert_eq!(deployment.tags, ["data"]);
    assert_eq!(deployment.retries, 2);
    assert_eq!(deployment.retry_delay_seconds, 30);
    assert_eq!(deployment.base_dir, "/srv/project");

    let flows = store.deployments().list_flows().await.unwrap();
    assert_eq!(flows.len(), 1);
    assert_eq!(flows[0].name, "etl");
    assert_eq!(flows[0].deployment_count, 1);
    assert_eq!(deployment.flow_id, flows[0].id);
}

#[tokio::test]
async fn a_second_deployment_of_an_existing_flow_does_not_create_the_flow_again() {
    let store = store().await;
    create_pool(&store, "default").await;
    deploy(&store, spec("etl", "nightly", "default")).await;

    let changes = store
        .deployments()
        .apply_deployments(&[input(spec("etl", "hourly", "default"))])
        .await
        .unwrap();

    assert_eq!(changes[0].kind, ChangeKind::Created);
    assert!(!changes[0].flow_created);
    let flows = store.deployments().list_flows().await.unwrap();
    assert_eq!(flows.len(), 1);
    assert_eq!(flows[0].deployment_count, 2);
}

#[tokio::test]
async fn applying_the_same_deployment_again_is_unchanged() {
    let store = store().await;
    create_pool(&store, "default").await;
    let mut declared = spec("etl", "nightly", "default");
    declared.parameters = object(json!({"force": false, "window": {"days": 5}}));
    declared.schedules = vec![interval_schedule("0", 60)];
    store
        .deployments()
        .apply_deployments(&[input(declared.clone())])
        .await
        .unwrap();
    let before = store.deployments().deployment("etl/nightly").await.unwrap();

    let changes = store
        .deployments()
        .apply_deployments(&[input(declared)])
        .await
        .unwrap();

    assert_eq!(changes[0].kind, ChangeKind::Unchanged);
    assert!(changes[0].changed_fields.is_empty());
    assert!(!changes[0].flow_created);
    assert_eq!(
        store.deployments().deployment("etl/nightly").await.unwrap(),
        before
    );
}

#[tokio::test]
async fn changing_parameters_and_entrypoint_is_updated_naming_exactly_those_fields() {
    let store = store().await;
    create_pool(&store, "default").await;
    let declared = spec("etl", "nightly", "default");
    let created = deploy(&store, declared.clone()).await;

    let mut changed = declared;
    changed.entrypoint = vec!["etl-cli".into(), "run".into()];
    changed.parameters = object(json!({"force": true}));
    let changes = store
        .deployments()
        .apply_deployments(&[input(changed)])
        .await
        .unwrap();

    assert_eq!(changes[0].kind, ChangeKind::Updated);
    assert_eq!(changes[0].changed_fields, ["entrypoint", "parameters"]);
    let updated = store.deployments().deployment("etl/nightly").await.unwrap();
    assert_eq!(updated.id, created.id);
    assert_eq!(updated.entrypoint, ["etl-cli", "run"]);
    assert_eq!(updated.parameters, object(json!({"force": true})));
}

#[tokio::test]
async fn moving_a_deployment_to_another_pool_is_updated() {
    let store = store().await;
    create_pool(&store, "default").await;
    create_pool(&store, "gpu").await;
    let declared = spec("etl", "nightly", "default");
    deploy(&store, declared.clone()).await;

    let mut moved = declared;
    moved.work_pool = "gpu".into();
    let changes = store
        .deployments()
        .apply_deployments(&[input(moved)])
        .await
        .unwrap();

    assert_eq!(changes[0].changed_fields, ["work_pool"]);
    assert_eq!(
        store
            .deployments()
            .deployment("etl/nightly")
            .await
            .unwrap()
            .work_pool,
        "gpu"
    );
}

#[tokio::test]
async fn schedules_are_stored_and_returned_in_declaration_order() {
    let store = store().await;
    create_pool(&store, "default").await;
    let mut declared = spec("etl", "nightly", "default");
    let mut cron = interval_schedule("market-hours", 0);
    cron.rule.interval_seconds = None;
    cron.rule.cron = Some("*/15 9-15 * * 1-5".into());
    cron.rule.timezone = "America/New_York".into();
    cron.rule.parameters = object(json!({"force": true}));
    let mut interval = interval_schedule("b-interval", 240);
    interval.rule.anchor = Some("2026-01-01T00:00:00".into());
    interval.rule.active = false;
    let mut rrule = interval_schedule("a-daily", 0);
    rrule.rule.interval_seconds = None;
    rrule.rule.rrule = Some("FREQ=DAILY;BYHOUR=18".into());
    declared.schedules = vec![cron, interval, rrule];

    let deployment = deploy(&store, declared).await;

    let slugs: Vec<&str> = deployment
        .schedules
        .iter()
        .map(|s| s.slug.as_str())
        .collect();
    assert_eq!(slugs, ["market-hours", "b-interval", "a-daily"]);
    let first = &deployment.schedules[0];
    assert_eq!(first.rule.cron.as_deref(), Some("*/15 9-15 * * 1-5"));
    assert_eq!(first.rule.timezone, "America/New_York");
    assert_eq!(first.rule.parameters, object(json!({"force": true})));
    assert!(first.rule.active);
    let second = &deployment.schedules[1];
    assert_eq!(second.rule.interval_seconds, Some(240));
    assert_eq!(second.rule.anchor.as_deref(), Some("2026-01-01T00:00:00"));
    assert!(!second.rule.active);
    assert_eq!(
        deployment.schedules[2].rule.rrule.as_deref(),
        Some("FREQ=DAILY;BYHOUR=18")
    );

    let listed = store.deployments().list_deployments(None).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].schedules, deployment.schedules);
}

#[tokio::test]
async fn changed_schedules_replace_the_old_ones() {
    let store = store().await;
    create_pool(&store, "default").await;
    let mut declared = spec("etl", "nightly", "default");
    declared.schedules = vec![interval_schedule("0", 60), interval_schedule("1", 120)];
    deploy(&store, declared.clone()).await;

    declared.schedules = vec![interval_schedule("1", 300)];
    let changes = store
        .deployments()
        .apply_deployments(&[input(declared)])
        .await
        .unwrap();

    assert_eq!(changes[0].changed_fields, ["schedules"]);
    let schedules = store
        .deployments()
        .deployment("etl/nightly")
        .await
        .unwrap()
        .schedules;
    assert_eq!(schedules.len(), 1);
    assert_eq!(schedules[0].slug, "1");
    assert_eq!(schedules[0].rule.interval_seconds, Some(300));
}

#[tokio::test]
async fn a_deployment_on_an_unknown_pool_is_refused_and_nothing_is_written() {
    let store = store().await;
    create_pool(&store, "default").await;

    let error = store
        .deployments()
        .apply_deployments(&[input(spec("etl", "nightly", "defualt"))])
        .await
        .unwrap_err();

    let StoreError::InvalidInput(message) = error else {
        panic!("expected InvalidInput, got {error:?}");
    };
    assert!(message.contains("\"etl/nightly\""), "{message}");
    assert!(message.contains("\"defualt\""), "{message}");
    assert!(message.contains("did you mean \"default\""), "{message}");
    assert!(store.deployments().list_flows().await.unwrap().is_empty());
    assert!(
        store
            .deployments()
            .list_deployments(None)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_batch_whose_second_deployment_names_a_missing_pool_writes_neither() {
    let store = store().await;
    create_pool(&store, "default").await;
    let batch = [
        input(spec("etl", "nightly", "default")),
        input(spec("reports", "daily", "missing")),
    ];

    let error = store
        .deployments()
        .apply_deployments(&batch)
        .await
        .unwrap_err();

    let StoreError::InvalidInput(message) = error else {
        panic!("expected InvalidInput, got {error:?}");
    };
    assert!(message.contains("\"reports/daily\""), "{message}");
    assert!(message.contains("\"missing\""), "{message}");
    assert!(store.deployments().list_flows().await.unwrap().is_empty());
    assert!(
        store
            .deployments()
            .list_deployments(None)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        store.deployments().deployment("etl/nightly").await,
        Err(StoreError::NotFound { .. })
    ));
}

#[tokio::test]
async fn a_deployment_is_found_by_flow_and_name_and_by_id() {
    let store = store().await;
    create_pool(&store, "default").await;
    deploy(&store, spec("reports", "daily", "default")).await;
    let deployment = deploy(&store, spec("etl", "nightly", "default")).await;

    let by_name = store.deployments().deployment("etl/nightly").await.unwrap();
    let by_id = store
        .deployments()
        .deployment(&deployment.id)
        .await
        .unwrap();

    assert_eq!(by_name.full_name(), "etl/nightly");
    assert_eq!(by_id, by_name);
    let listed: Vec<String> = store
        .deployments()
        .list_deployments(None)
        .await
        .unwrap()
        .iter()
        .map(|d| d.full_name())
        .collect();
    assert_eq!(listed, ["etl/nightly", "reports/daily"]);
    let of_flow = store
        .deployments()
        .list_deployments(Some("reports"))
        .await
        .unwrap();
    assert_eq!(of_flow.len(), 1);
    assert_eq!(of_flow[0].full_name(), "reports/daily");
}

#[tokio::test]
async fn an_unknown_deployment_is_not_found_with_a_did_you_mean_for_a_close_name() {
    let store = store().await;
    create_pool(&store, "default").await;
    deploy(&store, spec("etl", "nightly", "default")).await;

    let message = not_found_message(
        store
            .deployments()
            .deployment("etl/nightyl")
            .await
            .unwrap_err(),
    );
    assert!(
        message.contains("did you mean \"etl/nightly\""),
        "{message}"
    );

    let message = not_found_message(store.deployments().deployment("nightly").await.unwrap_err());
    assert!(
        message.contains("did you mean \"etl/nightly\""),
        "{message}"
    );

    let message = not_found_message(store.deployments().deployment("zzz").await.unwrap_err());
    assert!(!message.contains("did you mean"), "{message}");
    assert!(message.contains("FLOW/NAME"), "{message}");
}

#[tokio::test]
async fn a_deployment_can_be_paused_and_resumed() {
    let store = store().await;
    create_pool(&store, "default").await;
    deploy(&store, spec("etl", "nightly", "default")).await;

    let paused = store
        .deployments()
        .set_deployment_paused("etl/nightly", true)
        .await
        .unwrap();
    assert!(paused.paused);
    assert!(
        store
            .deployments()
            .deployment("etl/nightly")
            .await
            .unwrap()
            .paused
    );

    let resumed = store
        .deployments()
        .set_deployment_paused("etl/nightly", false)
        .await
        .unwrap();
    assert!(!resumed.paused);
}

#[tokio::test]
async fn reapplying_keeps_a_pause_made_after_creation() {
    let store = store().await;
    create_pool(&store, "default").await;
    let declared = spec("etl", "nightly", "default");
    deploy(&store, declared.clone()).await;
    store
        .deployments()
        .set_deployment_paused("etl/nightly", true)
        .await
        .unwrap();

    let changes = store
        .deployments()
        .apply_deployments(&[input(declared)])
        .await
        .unwrap();

    assert_eq!(changes[0].kind, ChangeKind::Unchanged);
    assert!(
        store
            .deployments()
            .deployment("etl/nightly")
            .await
            .unwrap()
            .paused
    );
}

#[tokio::test]
async fn the_paused_flag_of_the_file_applies_only_when_the_deployment_is_created() {
    let store = store().await;
    create_pool(&store, "default").await;
    let mut declared = spec("etl", "nightly", "default");
    declared.paused = true;
    assert!(deploy(&store, declared.clone()).await.paused);

    declared.paused = false;
    let changes = store
        .deployments()
        .apply_deployments(&[input(declared)])
        .await
        .unwrap();

    assert_eq!(changes[0].kind, ChangeKind::Unchanged);
    assert!(
        store
            .deployments()
            .deployment("etl/nightly")
            .await
            .unwrap()
            .paused
    );
}

#[tokio::test]
async fn deleting_a_deployment_cancels_its_scheduled_runs_and_keeps_run_history() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let worker = register(&store, "w1", "default", 0).await;
    let finished = run_now(&store, &deployment).await;
    let claimed = store
        .claims()
        .claim_runs(&worker.id, 1)
        .await
        .unwrap()
        .value;
    assert_eq!(claimed[0].run.id, finished.id);
    crate::common::move_to(&store, &finished.id, StateType::Running).await;
    crate::common::move_to(&store, &finished.id, StateType::Completed).await;
    let waiting = run_at(&store, &deployment, now_micros() + 3600 * SECOND).await;

    let deleted = store
        .deployments()
        .delete_deployment("etl/nightly")
        .await
        .unwrap()
        .value;

    assert_eq!(deleted.id, deployment.id);
    assert!(matches!(
        store.deployments().deployment("etl/nightly").await,
        Err(StoreError::NotFound { .. })
    ));
    let cancelled = store.flow_runs().flow_run(&waiting.id).await.unwrap();
    assert_eq!(cancelled.state.kind, StateType::Cancelled);
    assert_eq!(cancelled.state.message, "deployment deleted");
    assert_eq!(
        history_types(&store, &waiting.id).await,
        [StateType::Scheduled, StateType::Cancelled]
    );
    let completed = store.flow_runs().flow_run(&finished.id).await.unwrap();
    assert_eq!(completed.state.kind, StateType::Completed);
    assert_eq!(completed.flow, "etl");
    assert_eq!(
        history_types(&store, &finished.id).await,
        [
            StateType::Scheduled,
            StateType::Pending,
            StateType::Running,
            StateType::Completed
        ]
    );
    let filter = FlowRunFilter {
        deployment_id: Some(deployment.id.clone()),
        ..Default::default()
    };
    assert_eq!(
        store
            .flow_runs()
            .list_flow_runs(&filter)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        store.deployments().list_flows().await.unwrap()[0].deployment_count,
        0
    );
}

#[tokio::test]
async fn recent_and_upcoming_runs_are_split_by_the_store_s_clock() {
    use chrono::TimeZone;
    // Years before the machine's clock: the system clock would call every
    // run here past.
    let clock =
        orch_store::ManualClock::new(chrono::Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap());
    let test_store = store().await;
    let store = test_store.store().clone().with_clock(clock.clock());
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let due = run_now(&store, &deployment).await;
    let later = run_at(&store, &deployment, store.now() + 3600 * SECOND).await;

    let ids = |runs: Vec<orch_store::FlowRun>| runs.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store
            .flow_runs()
            .last_runs(&deployment.id, 10)
            .await
            .unwrap()),
        [due.id]
    );
    assert_eq!(
        ids(store
            .flow_runs()
            .upcoming_runs(&deployment.id, 10)
            .await
            .unwrap()),
        [later.id]
    );

    clock.advance(std::time::Duration::from_secs(7200));
    assert!(
        store
            .flow_runs()
            .upcoming_runs(&deployment.id, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .flow_runs()
            .last_runs(&deployment.id, 10)
            .await
            .unwrap()
            .len(),
        2
    );
}
