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

use std::time::Duration;

use futures::future::join_all;
use orch_store::{AttemptResult, ClaimedDelivery};

use super::actions;
use crate::state::AppState;

/// How long a claimed delivery is held before another replica may take it
/// over; longer than an attempt may last ([`actions::ATTEMPT_TIMEOUT`]).
pub(super) const LEASE: Duration = Duration::from_secs(15);
/// The loop looks for due deliveries at least this often.
const POLL: Duration = Duration::from_secs(1);
/// Deliveries claimed at once (delivered concurrently).
const BATCH: i64 = 32;

/// Runs until the server shuts down.
pub(super) async fn run(state: AppState) {
    let owner = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4());
    let client = actions::http_client();
    loop {
        let claimed = match state
            .background_store()
            .claim_deliveries(&owner, LEASE, BATCH)
            .await
        {
            Ok(claimed) => claimed,
            Err(error) => {
                tracing::warn!(%error, "claiming automation deliveries failed; retrying");
                Vec::new()
            }
        };
        if !claimed.is_empty() {
            join_all(
                claimed
                    .iter()
                    .map(|delivery| attempt(&state, &client, &owner, delivery)),
            )
            .await;
            continue;
        }
        let wait = match state.background_store().next_delivery_due().await {
            Ok(Some(due)) => Duration::from_micros((due - state.now()).max(0) as u64).min(POLL),
            _ => POLL,
        };
        tokio::select! {
            _ = state.shutting_down() => return,
            _ = state.automation_wakers().deliver.notified() => {}
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
    let outcome = actions::perform(state, client, delivery).await;
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
    super::metrics::observe_delivery(&delivery.automation_name, result.outcome);
    if let Err(error) = state
        .background_store()
        .finish_delivery(delivery, owner, &result)
        .await
    {
        tracing::warn!(%error, delivery = %delivery.id, "recording a delivery attempt failed; it will be attempted again");
    }
}
