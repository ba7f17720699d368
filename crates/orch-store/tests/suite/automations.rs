//! The automation outbox: state changes read once from a durable cursor,
//! firings written once per (automation, source), the cooldown, deliveries
//! claimed by one owner at a time and retaken when a lease runs out.

use std::time::Duration;

use orch_core::StateType;
use orch_store::{
    AttemptResult, AutomationInput, FiringOutcome, NewDelivery, NewFiring, OutboxSource, Store,
};

use crate::common::{move_to, pool_and_deployment, run_now, store};

pub(crate) async fn automation(store: &Store, name: &str) -> String {
    store
        .automations()
        .apply_automations(&[AutomationInput {
            name: name.into(),
            description: String::new(),
            spec: "{}".into(),
            paused: false,
        }])
        .await
        .unwrap();
    store.automations().automation(name).await.unwrap().id
}

fn firing(automation_id: &str, key: &str, cooldown_seconds: u64) -> NewFiring {
    NewFiring {
        automation_id: automation_id.into(),
        source_key: key.into(),
        kind: "fired".into(),
        flow_run_id: None,
        context: "{}".into(),
        actions: vec![
            NewDelivery {
                action_type: "webhook".into(),
                receiver: "http://h:80".into(),
            },
            NewDelivery {
                action_type: "slack".into(),
                receiver: "https://hooks.example:443".into(),
            },
        ],
        cooldown_seconds,
        creates_runs: false,
    }
}

#[tokio::test]
async fn the_outbox_starts_at_the_end_and_returns_each_state_change_in_order() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let before = run_now(&store, &deployment).await;
    let (rows, start) = store
        .outbox()
        .outbox_batch(OutboxSource::States, 100)
        .await
        .unwrap();
    assert!(
        rows.is_empty(),
        "history from before the engine ran is not replayed: {rows:?}"
    );

    let run = run_now(&store, &deployment).await;
    move_to(&store, &run.id, StateType::Cancelled).await;
    let (rows, advance) = store
        .outbox()
        .outbox_batch(OutboxSource::States, 100)
        .await
        .unwrap();
    let seen: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.flow_run_id.as_str(), r.kind.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            (run.id.as_str(), "SCHEDULED"),
            (run.id.as_str(), "CANCELLED")
        ]
    );
    assert_ne!(run.id, before.id);
    assert_eq!(rows[1].deployment, "etl/nightly");
    assert_eq!(rows[1].pool, "default");
    assert_eq!(advance, rows[1].position);
    assert!(advance > start);

    // Until the cursor moves, the same rows come back (a crash before it
    // moved re-reads them); after, nothing.
    let (again, _) = store
        .outbox()
        .outbox_batch(OutboxSource::States, 100)
        .await
        .unwrap();
    assert_eq!(again.len(), 2);
    store
        .outbox()
        .advance_outbox(OutboxSource::States, advance)
        .await
        .unwrap();
    store
        .outbox()
        .advance_outbox(OutboxSource::States, start)
        .await
        .unwrap();
    let (rest, _) = store
        .outbox()
        .outbox_batch(OutboxSource::States, 100)
        .await
        .unwrap();
    assert!(rest.is_empty(), "the cursor never moves back: {rest:?}");

    let (events, _) = store
        .outbox()
        .outbox_batch(OutboxSource::Events, 100)
        .await
        .unwrap();
    assert!(events.is_empty());
    store
        .automations()
        .emit_flow_run_event(&run.id, "no-data", "{\"x\":1}")
        .await
        .unwrap();
    let (events, _) = store
        .outbox()
        .outbox_batch(OutboxSource::Events, 100)
        .await
        .unwrap();
    let seen: Vec<(&str, &str, &str)> = events
        .iter()
        .map(|e| (e.kind.as_str(), e.name.as_str(), e.message.as_str()))
        .collect();
    assert_eq!(seen, [("EVENT", "no-data", "{\"x\":1}")]);
}

#[tokio::test]
async fn skipping_the_outbox_passes_rows_older_than_the_gap_grace_and_keeps_the_rest() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let (_, start) = store
        .outbox()
        .outbox_batch(OutboxSource::States, 100)
        .await
        .unwrap();
    let old = run_now(&store, &deployment).await;
    move_to(&store, &old.id, StateType::Cancelled).await;
    let now = store.now();

    // As of now, the last 10 s are kept: nothing moves.
    let kept = store
        .outbox()
        .skip_outbox(OutboxSource::States, now)
        .await
        .unwrap();
    assert_eq!(kept, start);
    let (rows, _) = store
        .outbox()
        .outbox_batch(OutboxSource::States, 100)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");

    // As of 11 s later, both rows are older than the grace: the cursor
    // passes them, and only rows written after that are read.
    let skipped = store
        .outbox()
        .skip_outbox(OutboxSource::States, now + 11_000_000)
        .await
        .unwrap();
    assert_eq!(skipped, rows[1].position);
    let (rows, _) = store
        .outbox()
        .outbox_batch(OutboxSource::States, 100)
        .await
        .unwrap();
    assert!(rows.is_empty(), "{rows:?}");
    let new = run_now(&store, &deployment).await;
    let (rows, _) = store
        .outbox()
        .outbox_batch(OutboxSource::States, 100)
        .await
        .unwrap();
    let runs: Vec<&str> = rows.iter().map(|r| r.flow_run_id.as_str()).collect();
    assert_eq!(runs, [new.id.as_str()]);

    // The events cursor moves the same way, and never back.
    let (events, _) = store
        .outbox()
        .outbox_batch(OutboxSource::Events, 100)
        .await
        .unwrap();
    assert!(events.is_empty(), "{events:?}");
    store
        .automations()
        .emit_flow_run_event(&old.id, "no-data", "{}")
        .await
        .unwrap();
    let (events, _) = store
        .outbox()
        .outbox_batch(OutboxSource::Events, 100)
        .await
        .unwrap();
    let at = store
        .outbox()
        .skip_outbox(OutboxSource::Events, now + 11_000_000)
        .await
        .unwrap();
    assert_eq!(at, events[0].position);
    assert_eq!(
        store
            .outbox()
            .skip_outbox(OutboxSource::Events, now)
            .await
            .unwrap(),
        at
    );
    let (events, _) = store
        .outbox()
        .outbox_batch(OutboxSource::Events, 100)
        .await
        .unwrap();
    assert!(events.is_empty(), "{events:?}");
}

#[tokio::test]
async fn the_automations_version_changes_on_every_create_update_pause_and_delete() {
    let store = store().await;
    // The engine compares each version with the one it last read.
    let mut last = store.outbox().automations_version().await.unwrap();
    let mut changed = |version: (i64, i64)| {
        assert_ne!(version, last, "the version did not change");
        last = version;
    };
    automation(&store, "a").await;
    changed(store.outbox().automations_version().await.unwrap());
    tokio::time::sleep(Duration::from_millis(2)).await;
    store
        .automations()
        .apply_automations(&[AutomationInput {
            name: "a".into(),
            description: "now described".into(),
            spec: "{}".into(),
            paused: false,
        }])
        .await
        .unwrap();
    changed(store.outbox().automations_version().await.unwrap());
    tokio::time::sleep(Duration::from_millis(2)).await;
    store
        .automations()
        .set_automation_paused("a", true)
        .await
        .unwrap();
    changed(store.outbox().automations_version().await.unwrap());
    store.automations().delete_automation("a").await.unwrap();
    changed(store.outbox().automations_version().await.unwrap());
}

#[tokio::test]
async fn a_firing_is_written_once_and_the_cooldown_suppresses_the_next() {
    let store = store().await;
    let id = automation(&store, "a").await;
    let first = store
        .automations()
        .record_firing(&firing(&id, "state:1", 300))
        .await
        .unwrap();
    assert!(matches!(first, FiringOutcome::Created(_)), "{first:?}");
    assert_eq!(
        store
            .automations()
            .record_firing(&firing(&id, "state:1", 300))
            .await
            .unwrap(),
        FiringOutcome::Duplicate
    );
    assert_eq!(
        store
            .automations()
            .record_firing(&firing(&id, "state:2", 300))
            .await
            .unwrap(),
        FiringOutcome::Suppressed
    );
    assert_eq!(
        store
            .automations()
            .record_firing(&firing(&id, "state:2", 300))
            .await
            .unwrap(),
        FiringOutcome::Duplicate
    );
    let mut resolved = firing(&id, "resolved:x", 300);
    resolved.kind = "resolved".into();
    assert!(matches!(
        store.automations().record_firing(&resolved).await.unwrap(),
        FiringOutcome::Created(_)
    ));
    let counted = store.automations().automation("a").await.unwrap();
    assert_eq!(
        (counted.firings, counted.suppressed, counted.pending),
        (2, 1, 4)
    );
    let history = store
        .automations()
        .automation_history("a", 10)
        .await
        .unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].outcome, "suppressed");
}

#[tokio::test]
async fn deliveries_are_claimed_once_and_retaken_after_the_lease() {
    let store = store().await;
    let id = automation(&store, "a").await;
    store
        .automations()
        .record_firing(&firing(&id, "state:1", 0))
        .await
        .unwrap();
    let lease = Duration::from_millis(300);
    let claimed = store
        .deliveries()
        .claim_deliveries("one", lease, 10, &[])
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    assert!(claimed.iter().all(|d| d.attempts == 1));
    assert!(
        store
            .deliveries()
            .claim_deliveries("two", lease, 10, &[])
            .await
            .unwrap()
            .is_empty(),
        "claimed twice"
    );

    let done = AttemptResult {
        outcome: "delivered",
        retry_at: None,
        status_code: Some(200),
        error: String::new(),
        started_at: store.now(),
        duration_micros: 10,
    };
    store
        .deliveries()
        .finish_delivery(&claimed[0], "one", &done)
        .await
        .unwrap();
    // "one" dies holding the other: after the lease, "two" takes it, with the
    // same id (the idempotency key) and the next attempt number.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let retaken = store
        .deliveries()
        .claim_deliveries("two", lease, 10, &[])
        .await
        .unwrap();
    assert_eq!(retaken.len(), 1);
    assert_eq!(retaken[0].id, claimed[1].id);
    assert_eq!(retaken[0].attempts, 2);
    // The dead owner's late report does not undo "two"'s lease.
    let late = AttemptResult {
        outcome: "retrying",
        retry_at: Some(store.now()),
        ..done.clone()
    };
    store
        .deliveries()
        .finish_delivery(&claimed[1], "one", &late)
        .await
        .unwrap();
    assert!(
        store
            .deliveries()
            .claim_deliveries("three", lease, 10, &[])
            .await
            .unwrap()
            .is_empty()
    );
    store
        .deliveries()
        .finish_delivery(&retaken[0], "two", &done)
        .await
        .unwrap();
    let counted = store.automations().automation("a").await.unwrap();
    assert_eq!((counted.delivered, counted.pending), (2, 0));
}
