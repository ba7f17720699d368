//! Secrets (stored sealed, listed without values, checked at deploy) and the
//! audit trail.

use orch_core::FlowEnvironment;
use orch_store::{NewAuditRecord, StoreError};

use crate::common::{create_pool, input, spec, store};

#[tokio::test]
async fn secrets_are_listed_by_name_with_their_users_and_deleted() {
    let test = store().await;
    let store = test.store();
    assert!(
        store
            .secrets()
            .set_secret("NEWSAPI_KEY", "v1:k:sealed-1")
            .await
            .unwrap()
    );
    assert!(
        !store
            .secrets()
            .set_secret("NEWSAPI_KEY", "v1:k:sealed-2")
            .await
            .unwrap()
    );
    assert!(
        store
            .secrets()
            .set_secret("BROKER_KEY", "v1:k:sealed-3")
            .await
            .unwrap()
    );

    create_pool(store, "p").await;
    let mut with_secret = spec("news", "prod", "p");
    with_secret.environment = FlowEnvironment {
        env: [("LOG_LEVEL".to_owned(), "info".to_owned())].into(),
        secrets: vec!["NEWSAPI_KEY".to_owned()],
    };
    store
        .deployments()
        .apply_deployments(&[input(with_secret)])
        .await
        .unwrap();

    let listed = store.secrets().list_secrets().await.unwrap();
    let names: Vec<&str> = listed.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["BROKER_KEY", "NEWSAPI_KEY"]);
    assert_eq!(listed[1].deployments, ["news/prod"]);
    assert!(listed[1].updated_at >= listed[1].created_at);
    assert_eq!(
        store
            .secrets()
            .secret_ciphertexts(&["NEWSAPI_KEY".to_owned(), "GONE".to_owned()])
            .await
            .unwrap(),
        [("NEWSAPI_KEY".to_owned(), "v1:k:sealed-2".to_owned())]
    );
    let deployment = store.deployments().deployment("news/prod").await.unwrap();
    let environment = store
        .secrets()
        .deployment_environment(&deployment.id)
        .await
        .unwrap();
    assert_eq!(environment.secrets, ["NEWSAPI_KEY"]);
    assert_eq!(environment.env["LOG_LEVEL"], "info");
    assert_eq!(deployment.environment, environment);

    store.secrets().delete_secret("BROKER_KEY").await.unwrap();
    let missing = store
        .secrets()
        .delete_secret("BROKER_KEY")
        .await
        .unwrap_err();
    assert!(
        matches!(missing, StoreError::NotFound { kind: "secret", .. }),
        "{missing}"
    );
}

#[tokio::test]
async fn a_deployment_naming_an_unset_secret_is_refused_with_how_to_set_it() {
    let test = store().await;
    let store = test.store();
    create_pool(store, "p").await;
    let mut declared = spec("news", "prod", "p");
    declared.environment.secrets = vec!["NEWSAPI_KEY".to_owned()];
    let error = store
        .deployments()
        .apply_deployments(&[input(declared.clone())])
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "deployment \"news/prod\" uses secret \"NEWSAPI_KEY\", which is not set; set it with \
         `orch secret set NEWSAPI_KEY` (value on stdin) and deploy again"
    );
    assert!(
        store.deployments().deployment("news/prod").await.is_err(),
        "nothing was written"
    );
    store
        .secrets()
        .set_secret("NEWSAPI_KEY", "v1:k:x")
        .await
        .unwrap();
    store
        .deployments()
        .apply_deployments(&[input(declared.clone())])
        .await
        .unwrap();
    // Dropping the secret from the file is a change of `secrets`.
    declared.environment.secrets.clear();
    let changes = store
        .deployments()
        .apply_deployments(&[input(declared)])
        .await
        .unwrap();
    assert_eq!(changes[0].changed_fields, ["secrets"]);
}

#[tokio::test]
async fn audit_records_are_listed_newest_first_since_a_time() {
    let test = store().await;
    let store = test.store();
    for (action, target) in [("deployment.run", "f/d"), ("flow-run.cancel", "run-1")] {
        store
            .audit()
            .record_audit(&NewAuditRecord {
                caller: "ci".into(),
                address: "10.0.0.7:5000".into(),
                action: action.into(),
                target: target.into(),
                outcome: "ok".into(),
                transport: "grpc".into(),
            })
            .await
            .unwrap();
        // Distinct times, so that the order is the recording order.
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let records = store.audit().list_audit(0, 0).await.unwrap();
    let actions: Vec<&str> = records.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(actions, ["flow-run.cancel", "deployment.run"]);
    assert_eq!(records[0].caller, "ci");
    assert_eq!(records[0].address, "10.0.0.7:5000");
    assert_eq!(store.audit().list_audit(0, 1).await.unwrap().len(), 1);
    let later = records[0].at + 1;
    assert!(store.audit().list_audit(later, 0).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_audit_records_all_land_in_the_order_of_their_ids() {
    let test = store().await;
    let before = orch_store::now_micros();
    let mut calls = tokio::task::JoinSet::new();
    // Fields that differ from record to record, so a mix-up shows.
    let outcome = |i: u32| {
        if i.is_multiple_of(2) {
            "ok"
        } else {
            "not_found"
        }
    };
    let transport = |i: u32| if i.is_multiple_of(3) { "rest" } else { "grpc" };
    for i in 0..200u32 {
        let store = test.store().clone();
        calls.spawn(async move {
            store
                .audit()
                .record_audit(&NewAuditRecord {
                    caller: format!("caller-{i}"),
                    address: format!("127.0.0.1:{}", 10_000 + i),
                    action: "deployment.run".into(),
                    target: format!("f/d-{i}"),
                    outcome: outcome(i).into(),
                    transport: transport(i).into(),
                })
                .await
        });
    }
    while let Some(call) = calls.join_next().await {
        call.unwrap().unwrap();
    }
    let after = orch_store::now_micros();

    let records = test.audit().list_audit(0, 1000).await.unwrap();
    assert_eq!(records.len(), 200);
    // Newest first by time; ids (time-ordered) must give the same order.
    for pair in records.windows(2) {
        assert!(
            pair[0].id > pair[1].id,
            "{:?} listed before {:?}",
            pair[0],
            pair[1]
        );
        assert!(pair[0].at >= pair[1].at);
    }
    let mut seen = std::collections::HashSet::new();
    for record in &records {
        let i: u32 = record.target.strip_prefix("f/d-").unwrap().parse().unwrap();
        assert!(seen.insert(i), "{i} recorded twice");
        assert_eq!(record.caller, format!("caller-{i}"));
        assert_eq!(record.address, format!("127.0.0.1:{}", 10_000 + i));
        assert_eq!(record.action, "deployment.run");
        assert_eq!(record.outcome, outcome(i));
        assert_eq!(record.transport, transport(i));
        assert!((before..=after).contains(&record.at), "{record:?}");
    }
}

#[tokio::test]
async fn an_audit_record_is_stamped_by_the_store_clock() {
    let test = store().await;
    let start = chrono::DateTime::parse_from_rfc3339("2026-03-06T20:10:00Z").unwrap();
    let clock = orch_store::ManualClock::new(start.into());
    let store = test.store().clone().with_clock(clock.clock());
    store
        .audit()
        .record_audit(&NewAuditRecord {
            action: "secret.set".into(),
            ..NewAuditRecord::default()
        })
        .await
        .unwrap();
    let records = store.audit().list_audit(0, 0).await.unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].at, start.timestamp_micros());
    assert_eq!(records[0].action, "secret.set");
}

#[tokio::test]
async fn a_run_made_with_its_audit_record_commits_both_and_a_repeat_writes_neither() {
    let store = store().await;
    let deployment = crate::common::pool_and_deployment(&store, "default", "etl", "nightly").await;
    let record = NewAuditRecord {
        caller: "ci".into(),
        address: "10.0.0.1:5000".into(),
        action: "deployment.run".into(),
        target: "etl/nightly".into(),
        outcome: "ok".into(),
        transport: "grpc".into(),
    };
    let overrides = Default::default();

    let (run, recorded) = store
        .flow_runs()
        .create_flow_run_audited(
            "etl/nightly",
            &overrides,
            None,
            "key-1",
            Some(&record),
            None,
        )
        .await
        .unwrap()
        .value;
    assert!(recorded);
    assert_eq!(run.deployment_id.as_deref(), Some(deployment.id.as_str()));
    let trail = store.audit().list_audit(0, 0).await.unwrap();
    assert_eq!(trail.len(), 1, "{trail:?}");
    assert_eq!(
        (
            trail[0].caller.as_str(),
            trail[0].action.as_str(),
            trail[0].target.as_str()
        ),
        ("ci", "deployment.run", "etl/nightly")
    );
    assert!(trail[0].at >= run.created_at);

    // The same idempotency key returns the first run and writes nothing:
    // the caller records that call itself.
    let (again, recorded) = store
        .flow_runs()
        .create_flow_run_audited(
            "etl/nightly",
            &overrides,
            None,
            "key-1",
            Some(&record),
            None,
        )
        .await
        .unwrap()
        .value;
    assert!(!recorded);
    assert_eq!(again.id, run.id);
    assert_eq!(store.audit().list_audit(0, 0).await.unwrap().len(), 1);

    // No run for a deployment that does not exist, and no record.
    assert!(
        store
            .flow_runs()
            .create_flow_run_audited("etl/gone", &overrides, None, "", Some(&record), None)
            .await
            .is_err()
    );
    assert_eq!(store.audit().list_audit(0, 0).await.unwrap().len(), 1);
}
