//! Loop protection and per-receiver queues in the store: a firing on a run
//! its own automation led to is written loop-suppressed, counted, explained
//! and announced by an event; deliveries of a receiver at its limit are not
//! claimed.

use std::time::Duration;

use orch_core::automation::LOOP_SUPPRESSED_EVENT;
use orch_store::{FiringOutcome, JsonObject, NewDelivery, NewFiring, OutboxSource, Store};
use serde_json::{Value, json};

use super::automations::automation;
use crate::common::{pool_and_deployment, run_now, store};

const LEASE: Duration = Duration::from_secs(15);

fn delivery(action_type: &str, receiver: &str) -> NewDelivery {
    NewDelivery {
        action_type: action_type.into(),
        receiver: receiver.into(),
    }
}

fn firing(automation_id: &str, key: &str, run: &str, actions: Vec<NewDelivery>) -> NewFiring {
    NewFiring {
        automation_id: automation_id.into(),
        source_key: key.into(),
        kind: "fired".into(),
        flow_run_id: Some(run.into()),
        context: r#"{"summary":"x"}"#.into(),
        creates_runs: actions.iter().any(|a| a.action_type == "run-deployment"),
        actions,
        cooldown_seconds: 0,
    }
}

/// Claims the one pending delivery and returns its id and firing context.
async fn claim_one(store: &Store) -> (String, Value) {
    let claimed = store
        .deliveries()
        .claim_deliveries("o", LEASE, 10, &[])
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1, "{claimed:?}");
    let context = serde_json::from_str(&claimed[0].context).unwrap();
    (claimed[0].id.clone(), context)
}

#[tokio::test]
async fn a_firing_on_a_run_its_automation_led_to_is_loop_suppressed() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "loop", "self").await;
    let again = automation(&store, "again").await;
    let notify = automation(&store, "notify").await;
    let next = automation(&store, "next").await;
    let (_, start) = store
        .outbox()
        .outbox_batch(OutboxSource::Events, 10)
        .await
        .unwrap();

    // A run nobody's automation made starts a chain.
    let first = run_now(&store, &deployment).await;
    let run_deployment = || vec![delivery("run-deployment", "orch")];
    let created = store
        .automations()
        .record_firing(&firing(&again, "state:1", &first.id, run_deployment()))
        .await
        .unwrap();
    assert!(matches!(created, FiringOutcome::Created(_)), "{created:?}");
    let (delivery_id, context) = claim_one(&store).await;
    assert_eq!(context["automation_chain"], json!(["again"]));
    assert_eq!(context["summary"], "x", "the rest of the context is kept");

    // The run its action creates carries the delivery's id as its key.
    let made = store
        .flow_runs()
        .create_flow_run(
            &deployment.id,
            &JsonObject::new(),
            None,
            &format!("automation:{delivery_id}"),
        )
        .await
        .unwrap()
        .value;
    let outcome = store
        .automations()
        .record_firing(&firing(&again, "state:2", &made.id, run_deployment()))
        .await
        .unwrap();
    let FiringOutcome::LoopSuppressed(reason) = outcome else {
        panic!("not loop-suppressed: {outcome:?}");
    };
    assert!(
        reason.starts_with(
            "automation loop stopped: \"again\" would fire again on a run it led to (chain again -> again)"
        ),
        "{reason}"
    );
    let record = store.automations().automation("again").await.unwrap();
    assert_eq!(
        (
            record.firings,
            record.suppressed,
            record.loop_suppressed,
            record.pending
        ),
        (1, 0, 1, 1),
        "counted; nothing more to deliver than the first firing's"
    );
    assert_eq!(record.loop_message, reason);
    assert!(record.loop_suppressed_at.is_some());
    let history = store
        .automations()
        .automation_history("again", 10)
        .await
        .unwrap();
    assert_eq!(history[0].outcome, "loop-suppressed");
    assert_eq!(history[0].error, reason);
    assert_eq!(history[0].flow_run_id.as_deref(), Some(made.id.as_str()));

    // The event, on the run, for an `event` trigger to see.
    let (events, _) = store
        .outbox()
        .outbox_batch(OutboxSource::Events, 10)
        .await
        .unwrap();
    let events: Vec<_> = events.iter().filter(|e| e.position > start).collect();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].name, LOOP_SUPPRESSED_EVENT);
    assert_eq!(events[0].flow_run_id, made.id);
    let payload: Value = serde_json::from_str(&events[0].message).unwrap();
    assert_eq!(payload["automation"], "again");
    assert_eq!(payload["automation_chain"], json!(["again", "again"]));
    assert_eq!(payload["reason"], reason.as_str());

    // Written once, like any firing.
    assert_eq!(
        store
            .automations()
            .record_firing(&firing(&again, "state:2", &made.id, run_deployment()))
            .await
            .unwrap(),
        FiringOutcome::Duplicate
    );
    assert_eq!(
        store
            .automations()
            .automation("again")
            .await
            .unwrap()
            .loop_suppressed,
        1
    );

    // Another automation creating runs extends the chain; one that creates
    // none is never stopped.
    let extended = store
        .automations()
        .record_firing(&firing(&next, "state:2", &made.id, run_deployment()))
        .await
        .unwrap();
    assert!(
        matches!(extended, FiringOutcome::Created(_)),
        "{extended:?}"
    );
    let (_, context) = claim_one(&store).await;
    assert_eq!(context["automation_chain"], json!(["again", "next"]));
    let told = store
        .automations()
        .record_firing(&firing(
            &notify,
            "state:2",
            &made.id,
            vec![delivery("webhook", "http://h:80")],
        ))
        .await
        .unwrap();
    assert!(matches!(told, FiringOutcome::Created(_)), "{told:?}");
}

#[tokio::test]
async fn deliveries_of_a_receiver_at_its_limit_are_not_claimed() {
    let store = store().await;
    let deployment = pool_and_deployment(&store, "default", "etl", "nightly").await;
    let run = run_now(&store, &deployment).await;
    let hook = automation(&store, "hook").await;
    let hung = "http://127.0.0.1:9";
    let healthy = "http://127.0.0.1:8";
    let mut actions: Vec<NewDelivery> = (0..5).map(|_| delivery("webhook", hung)).collect();
    actions.push(delivery("webhook", healthy));
    store
        .automations()
        .record_firing(&firing(&hook, "event:1", &run.id, actions))
        .await
        .unwrap();

    // The hung receiver is full: only the healthy one's delivery is claimed,
    // however many of the hung one's are due before it.
    let busy = vec![hung.to_owned()];
    let claimed = store
        .deliveries()
        .claim_deliveries("o", LEASE, 3, &busy)
        .await
        .unwrap();
    let receivers: Vec<&str> = claimed.iter().map(|d| d.receiver.as_str()).collect();
    assert_eq!(receivers, [healthy]);
    assert_eq!(claimed[0].action_index, 5);
    // Nothing else is due for a receiver with room.
    assert_eq!(
        store
            .deliveries()
            .claim_deliveries("o", LEASE, 3, &busy)
            .await
            .unwrap()
            .len(),
        0
    );
    let due = store.deliveries().next_delivery_due(&busy).await.unwrap();
    assert!(
        due.is_some_and(|due| due > store.now()),
        "only the leased one, later"
    );
    // With room again, the hung receiver's deliveries are claimed, oldest first.
    let claimed = store
        .deliveries()
        .claim_deliveries("o", LEASE, 3, &[])
        .await
        .unwrap();
    let indexes: Vec<i64> = claimed.iter().map(|d| d.action_index).collect();
    assert_eq!(claimed.len(), 3);
    assert!(claimed.iter().all(|d| d.receiver == hung), "{indexes:?}");
}
