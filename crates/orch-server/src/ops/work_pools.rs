//! Work pools: pause, resume and concurrency limits.

use orch_store::{WorkPool, WorkPoolUpdate};

use super::OpsResult;
use crate::state::AppState;

/// Applies `update` to the pool `name` and returns it. Its workers are woken:
/// resuming it or raising its limit can make runs claimable.
pub async fn update(state: &AppState, name: &str, update: WorkPoolUpdate) -> OpsResult<WorkPool> {
    let store = state.store();
    store.update_work_pool(name, update).await?;
    let pool = store.work_pool(name, state.online_since()).await?;
    state.events().runs_ready(Some(&pool.id));
    Ok(pool)
}
