//! The delivery loop: claims due deliveries under a lease (one replica at a
//! time: `FOR UPDATE SKIP LOCKED` on PostgreSQL), runs their action, and
//! records the attempt; a failed attempt is retried with exponential
//! backoff ([`orch_core::automation::retry_delay`]).
//!
//! Exactly once, precisely: a delivery is *attempted* until one attempt
//! succeeds and is recorded. If the server dies after the receiver got the
//! request but before the success was recorded, the lease runs out and an
//! attempt is made again, with the same idempotency key: the receiver sees
//! the request twice and can tell it is one delivery. Actions on orch itself
//! (run-deployment) use that key as the run's idempotency key, so they take
//! effect once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orch_store::{AttemptResult, ClaimedDelivery};
use tokio::task::JoinSet;

use super::actions;
use crate::state::AppState;

/// How long a claimed delivery is held before another replica may take it
/// over; longer than an attempt may last ([`actions::ATTEMPT_TIMEOUT`]).
pub(super) const LEASE: Duration = Duration::from_secs(15);
/// The loop looks for due deliveries at least this often.
const POLL: Duration = Duration::from_secs(1);
/// Deliveries claimed at once.
const BATCH: i64 = 32;
/// Attempts in flight at once, over all receivers.
const IN_FLIGHT: usize = 128;
/// Attempts in flight at once to one receiver; its other deliveries wait in
/// the table, unclaimed, without holding anything another receiver needs.
const PER_RECEIVER: usize = 4;
/// How long a delivery claimed while its receiver was full waits before it
/// is claimed again (rare: only within one batch).
const BUSY_RECEIVER_WAIT: Duration = Duration::from_millis(500);

/// Attempts in flight per receiver ([`receiver_of`]).
#[derive(Default)]
struct Busy(Mutex<HashMap<String, usize>>);

impl Busy {
    /// Takes a slot of `receiver`, if it has one free.
    fn take(&self, receiver: &str) -> bool {
        let mut busy = self.0.lock().expect("not poisoned");
        let count = busy.entry(receiver.to_owned()).or_default();
        if *count >= PER_RECEIVER {
            return false;
        }
        *count += 1;
        true
    }

    /// Gives a slot of `receiver` back.
    fn give(&self, receiver: &str) {
        let mut busy = self.0.lock().expect("not poisoned");
        if let Some(count) = busy.get_mut(receiver) {
            *count -= 1;
            if *count == 0 {
                busy.remove(receiver);
            }
        }
    }

    /// The receivers with no slot free: their deliveries are not claimed.
    fn full(&self) -> Vec<String> {
        let busy = self.0.lock().expect("not poisoned");
        let mut full: Vec<String> = busy
            .iter()
            .filter(|(_, count)| **count >= PER_RECEIVER)
            .map(|(receiver, _)| receiver.clone())
            .collect();
        full.sort();
        full
    }
}

/// Who receives a delivery: the server its action talks to
/// ([`orch_core::automation::Action::receiver`]), as recorded with the
/// delivery, or read from the spec for one recorded before receivers were.
fn receiver_of(delivery: &ClaimedDelivery) -> String {
    if !delivery.receiver.is_empty() {
        return delivery.receiver.clone();
    }
    serde_json::from_str::<orch_core::automation::AutomationSpec>(&delivery.spec)
        .ok()
        .and_then(|spec| spec.actions.into_iter().nth(delivery.action_index as usize))
        .map(|action| action.receiver())
        .unwrap_or_default()
}

/// Runs until the server shuts down. Each attempt runs on a task of its own,
/// so an attempt that waits on a slow receiver (up to
/// [`actions::ATTEMPT_TIMEOUT`]) never delays another receiver's
/// deliveries; at most [`PER_RECEIVER`] attempts to one receiver are in
/// flight, and while it has no slot free none of its deliveries is claimed.
pub(super) async fn run(state: AppState) {
    let owner = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4());
    let client = actions::http_client();
    let busy = Arc::new(Busy::default());
    let mut running: JoinSet<()> = JoinSet::new();
    let wakers = super::wakers(&state);
    loop {
        while running.try_join_next().is_some() {}
        let room = IN_FLIGHT.saturating_sub(running.len()).min(BATCH as usize) as i64;
        let full = busy.full();
        let claimed = if room == 0 {
            Vec::new()
        } else {
            match state
                .background_store()
                .deliveries()
                .claim_deliveries(&owner, LEASE, room, &full)
                .await
            {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::warn!(%error, "claiming automation deliveries failed; retrying");
                    Vec::new()
                }
            }
        };
        let mut started = false;
        for delivery in claimed {
            let receiver = receiver_of(&delivery);
            if !busy.take(&receiver) {
                // More of one receiver's deliveries in this batch than it has
                // slots: give the rest back.
                let due = state.now() + BUSY_RECEIVER_WAIT.as_micros() as i64;
                if let Err(error) = state
                    .background_store()
                    .deliveries()
                    .release_delivery(&delivery, &owner, due)
                    .await
                {
                    tracing::warn!(%error, delivery = %delivery.id, "giving back a delivery failed; its lease will run out");
                }
                continue;
            }
            started = true;
            let (state, client, owner, busy) =
                (state.clone(), client.clone(), owner.clone(), busy.clone());
            running.spawn(async move {
                attempt(&state, &client, &owner, &delivery).await;
                busy.give(&receiver);
            });
        }
        if started {
            continue;
        }
        let wait = match state
            .background_store()
            .deliveries()
            .next_delivery_due(&busy.full())
            .await
        {
            Ok(Some(due)) => Duration::from_micros((due - state.now()).max(0) as u64).min(POLL),
            _ => POLL,
        };
        tokio::select! {
            _ = state.shutting_down() => {
                running.shutdown().await;
                return;
            }
            _ = wakers.deliver.notified() => {}
            _ = running.join_next(), if !running.is_empty() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// One attempt of one delivery, recorded.
async fn attempt(
    state: &AppState,
    client: &reqwest::Client,
    owner: &str,
    delivery: &ClaimedDelivery,
) {
    let started_at = state.now();
    let clock = std::time::Instant::now();
    // Every action is bounded, e-mail and actions on orch included.
    let outcome = tokio::time::timeout(
        actions::ATTEMPT_TIMEOUT,
        actions::perform(state, client, delivery),
    )
    .await
    .unwrap_or_else(|_| actions::Outcome::Failed {
        status: None,
        error: format!(
            "the attempt took longer than {} s",
            actions::ATTEMPT_TIMEOUT.as_secs()
        ),
        permanent: false,
    });
    let duration_micros = clock.elapsed().as_micros() as i64;
    let result = match outcome {
        actions::Outcome::Delivered { status } => AttemptResult {
            outcome: "delivered",
            retry_at: None,
            status_code: status,
            error: String::new(),
            started_at,
            duration_micros,
        },
        actions::Outcome::Skipped(reason) => AttemptResult {
            outcome: "skipped",
            retry_at: None,
            status_code: None,
            error: reason,
            started_at,
            duration_micros,
        },
        actions::Outcome::Failed {
            status,
            error,
            permanent,
        } => {
            let delay = (!permanent)
                .then(|| orch_core::automation::retry_delay(delivery.attempts as u32))
                .flatten();
            AttemptResult {
                outcome: if delay.is_some() {
                    "retrying"
                } else {
                    "failed"
                },
                retry_at: delay.map(|d| state.now() + d.as_micros() as i64),
                status_code: status,
                error,
                started_at,
                duration_micros,
            }
        }
    };
    if result.outcome != "delivered" {
        tracing::warn!(
            automation = %delivery.automation_name,
            delivery = %delivery.id,
            attempt = delivery.attempts,
            outcome = result.outcome,
            error = %result.error,
            "an automation's action did not go through"
        );
    }
    state
        .metrics()
        .automations
        .observe_delivery(&delivery.automation_name, result.outcome);
    if let Err(error) = state
        .background_store()
        .deliveries()
        .finish_delivery(delivery, owner, &result)
        .await
    {
        tracing::warn!(%error, delivery = %delivery.id, "recording a delivery attempt failed; it will be attempted again");
    }
}
