//! Schedules changed one at a time, their validation, and tag slots.

use crate::common::{create_pool, deploy, object, spec, store};
use orch_core::ScheduleSpec;
use orch_store::StoreError;
use serde_json::json;

fn cron(slug: &str, expr: &str, timezone: &str) -> ScheduleSpec {
    ScheduleSpec {
        slug: slug.into(),
        rule: orch_core::ScheduleRule {
            cron: Some(expr.into()),
            interval_seconds: None,
            anchor: None,
            rrule: None,
            timezone: timezone.into(),
            active: true,
            parameters: object(json!({"force": true})),
        },
        calendar: None,
        skip_after_close: true,
    }
}

#[tokio::test]
async fn schedules_are_added_with_a_free_slug_and_checked() {
    let store = store().await;
    create_pool(&store, "pool").await;
    deploy(&store, spec("f", "n", "pool")).await;

    let deployment = store
        .schedules()
        .add_schedule("f/n", cron("", "0 9 * * 1-5", "Europe/London"))
        .await
        .unwrap();
    assert_eq!(deployment.schedules[0].slug, "0");
    assert_eq!(deployment.schedules[0].rule.parameters["force"], true);

    let duplicate = store
        .schedules()
        .add_schedule("f/n", cron("0", "0 10 * * *", "UTC"))
        .await
        .unwrap_err();
    assert!(
        matches!(duplicate, StoreError::AlreadyExists { .. }),
        "{duplicate}"
    );

    let bad = store
        .schedules()
        .add_schedule("f/n", cron("open", "0 9 * *", "UTC"))
        .await
        .unwrap_err();
    assert!(matches!(bad, StoreError::InvalidInput(_)));
    assert!(
        bad.to_string().starts_with(
            "deployment \"f/n\", schedule \"open\": `cron` \"0 9 * *\" is not a valid cron expression"
        ),
        "{bad}"
    );
}

#[tokio::test]
async fn an_apply_with_an_unknown_time_zone_writes_nothing() {
    let store = store().await;
    create_pool(&store, "pool").await;
    let mut bad = spec("f", "n", "pool");
    bad.schedules = vec![cron("market", "*/15 9-15 * * 1-5", "America/NewYork")];
    let error = store
        .deployments()
        .apply_deployments(&[crate::common::input(bad)])
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains(
            "schedule \"market\": `timezone` \"America/NewYork\" is not an IANA time zone"
        ),
        "{error}"
    );
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
async fn unknown_schedules_are_not_found_with_a_suggestion() {
    let store = store().await;
    create_pool(&store, "pool").await;
    let mut with_schedule = spec("f", "n", "pool");
    with_schedule.schedules = vec![cron("market-hours", "0 9 * * *", "UTC")];
    deploy(&store, with_schedule).await;
    let error = store
        .schedules()
        .set_schedule_active("f/n", "market-hour", false)
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("did you mean \"market-hours\""),
        "{error}"
    );
    let deployment = store
        .schedules()
        .delete_schedule("f/n", "market-hours")
        .await
        .unwrap();
    assert!(deployment.schedules.is_empty());
}

#[tokio::test]
async fn slots_are_granted_for_all_limited_tags_or_none() {
    let store = store().await;
    store
        .concurrency()
        .set_concurrency_limit("database", 1)
        .await
        .unwrap();
    store
        .concurrency()
        .set_concurrency_limit("api", 2)
        .await
        .unwrap();
    let both = vec!["database".to_owned(), "api".to_owned()];
    let lease = 60_000_000;
    assert!(
        store
            .concurrency()
            .acquire_concurrency_slots(&both, "t1", None, lease)
            .await
            .unwrap()
            .granted
    );
    let refused = store
        .concurrency()
        .acquire_concurrency_slots(&both, "t2", None, lease)
        .await
        .unwrap();
    assert!(!refused.granted);
    assert_eq!(refused.full, [("database".to_owned(), 1)]);
    assert_eq!(
        store
            .concurrency()
            .concurrency_limit("api")
            .await
            .unwrap()
            .holders
            .len(),
        1,
        "t2 took no slot of api either"
    );
    // Acquiring again renews, and a tag without a limit needs no slot.
    let again = store
        .concurrency()
        .acquire_concurrency_slots(&both, "t1", None, lease)
        .await
        .unwrap();
    assert!(again.granted);
    let free = vec!["unlimited".to_owned()];
    assert!(
        store
            .concurrency()
            .acquire_concurrency_slots(&free, "t3", None, lease)
            .await
            .unwrap()
            .granted
    );
    assert_eq!(
        store
            .concurrency()
            .release_concurrency_slots("t1")
            .await
            .unwrap(),
        2
    );
    assert!(
        store
            .concurrency()
            .acquire_concurrency_slots(&both, "t2", None, lease)
            .await
            .unwrap()
            .granted
    );
    let error = store
        .concurrency()
        .set_concurrency_limit("database", -1)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("0 or more"), "{error}");
}
