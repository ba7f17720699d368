//! Tag concurrency limits and the slots task runs take under them.

use std::time::Duration;

use orch_store::ConcurrencyLimit;

use super::{OpsError, OpsResult};
use crate::caller::Caller;
use crate::state::AppState;

/// Longest an acquire waits before answering "not granted".
pub const MAX_WAIT: Duration = Duration::from_secs(30);
/// Lease of a slot when the holder asks for none in particular.
pub const DEFAULT_LEASE: Duration = orch_core::defaults::SLOT_LEASE;
/// Waiting acquires also retry this often (a lease may lapse unannounced).
const RETRY: Duration = Duration::from_secs(1);

/// Sets the limit of `tag`, creating it if needed; `true` when created.
/// Holders waiting for slots try again: a raised limit may let them in.
pub async fn set_limit(
    state: &AppState,
    tag: &str,
    limit: i64,
) -> OpsResult<(ConcurrencyLimit, bool)> {
    let outcome = state
        .store()
        .concurrency()
        .set_concurrency_limit(tag, limit)
        .await?;
    state.slots_released();
    Ok(outcome)
}

/// Every tag limit with its holders.
pub async fn list(state: &AppState) -> OpsResult<Vec<ConcurrencyLimit>> {
    Ok(state
        .store()
        .concurrency()
        .list_concurrency_limits()
        .await?)
}

/// The limit of `tag` with its holders.
pub async fn get(state: &AppState, tag: &str) -> OpsResult<ConcurrencyLimit> {
    Ok(state.store().concurrency().concurrency_limit(tag).await?)
}

/// Deletes the limit of `tag`; its waiting holders are let in.
pub async fn delete(state: &AppState, tag: &str) -> OpsResult<()> {
    state
        .store()
        .concurrency()
        .delete_concurrency_limit(tag)
        .await?;
    state.slots_released();
    Ok(())
}

/// What a holder asks for.
#[derive(Debug, Clone, Default)]
pub struct Acquire {
    /// The tags whose slots it needs, all or none.
    pub tags: Vec<String>,
    /// Who holds them (a task run's id).
    pub holder_id: String,
    /// The run the holder belongs to, if any (its slots go with it).
    pub flow_run_id: Option<String>,
    /// How long the slots are held without renewal (zero: [`DEFAULT_LEASE`]).
    pub lease: Duration,
    /// How long to wait for them (capped at [`MAX_WAIT`]); zero: do not wait.
    pub wait: Duration,
}

/// The answer to an [`Acquire`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acquired {
    /// Whether the holder now has every slot it asked for.
    pub granted: bool,
    /// When not granted, the tags that had no free slot.
    pub full_tags: Vec<String>,
}

/// Takes one slot of each tag for the holder, waiting up to `wait` for them to
/// free up (woken at once by a release, retried every second meanwhile).
/// A run's own credential takes slots for its own run only.
pub async fn acquire(state: &AppState, caller: &Caller, request: Acquire) -> OpsResult<Acquired> {
    if caller.is_restricted() {
        let run = request.flow_run_id.as_deref().unwrap_or_default();
        super::access::run(state, caller, run).await?;
    }
    if request.holder_id.is_empty() {
        return Err(OpsError::Invalid(
            "holder_id is required: the id of the task run taking the slots".into(),
        ));
    }
    let lease = match request.lease {
        Duration::ZERO => DEFAULT_LEASE,
        lease => lease,
    };
    let deadline = tokio::time::Instant::now() + request.wait.min(MAX_WAIT);
    loop {
        // Listen before trying, so a release between the try and the wait is not missed.
        let released = state.slots_released_notify().notified();
        tokio::pin!(released);
        released.as_mut().enable();
        let outcome = state
            .store()
            .concurrency()
            .acquire_concurrency_slots(
                &request.tags,
                &request.holder_id,
                request.flow_run_id.as_deref(),
                lease.as_micros() as i64,
            )
            .await?;
        if outcome.granted || tokio::time::Instant::now() >= deadline {
            return Ok(Acquired {
                granted: outcome.granted,
                full_tags: outcome.full.into_iter().map(|(tag, _)| tag).collect(),
            });
        }
        tokio::select! {
            _ = released => {}
            _ = tokio::time::sleep(RETRY) => {}
            _ = tokio::time::sleep_until(deadline) => {}
            _ = state.shutting_down() => {
                return Err(OpsError::Unavailable(
                    "the server is shutting down; acquire again".into(),
                ));
            }
        }
    }
}

/// Gives back every slot the holder has; returns how many.
pub async fn release(state: &AppState, holder_id: &str) -> OpsResult<u64> {
    let released = state
        .store()
        .concurrency()
        .release_concurrency_slots(holder_id)
        .await?;
    if released > 0 {
        state.slots_released();
    }
    Ok(released)
}
