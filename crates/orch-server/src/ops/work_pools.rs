//! Work pools and their workers: create, list, pause, resume, limits, delete.

use std::time::Duration;

use orch_store::{WorkPool, WorkPoolUpdate, Worker};

use super::{OpsError, OpsResult};
use crate::caller::Caller;
use crate::state::AppState;

/// Workers that heartbeated within this window are listed.
pub const WORKER_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// What a new pool is.
#[derive(Debug, Clone, Default)]
pub struct NewPool {
    /// Its name.
    pub name: String,
    /// Its type (empty: `process`).
    pub pool_type: String,
    /// What it is for.
    pub description: String,
    /// Most runs in flight at once across its workers.
    pub concurrency_limit: Option<i64>,
    /// Default container settings of a `docker` pool (JSON; empty: none).
    pub container_json: String,
}

/// Creates a pool.
pub async fn create(state: &AppState, pool: NewPool) -> OpsResult<WorkPool> {
    let pool_type = match pool.pool_type.as_str() {
        "" => "process",
        other => other,
    };
    let container =
        orch_core::ContainerSettings::from_json(&pool.container_json).map_err(|problem| {
            orch_store::StoreError::InvalidInput(format!("work pool \"{}\": {problem}", pool.name))
        })?;
    Ok(state
        .store()
        .work_pools()
        .create_work_pool_with(
            &pool.name,
            pool_type,
            &pool.description,
            pool.concurrency_limit,
            &container,
        )
        .await?)
}

/// Every pool, by name.
pub async fn list(state: &AppState) -> OpsResult<Vec<WorkPool>> {
    Ok(state
        .store()
        .work_pools()
        .list_work_pools(state.online_since())
        .await?)
}

/// The pool named `name`.
pub async fn get(state: &AppState, name: &str) -> OpsResult<WorkPool> {
    Ok(state
        .store()
        .work_pools()
        .work_pool(name, state.online_since())
        .await?)
}

/// Applies `update` to the pool `name` and returns it. Its workers are woken:
/// resuming it or raising its limit can make runs claimable. Pausing and
/// resuming needs `operate`; changing the concurrency limit, `admin`.
pub async fn update(
    state: &AppState,
    caller: &Caller,
    name: &str,
    update: WorkPoolUpdate,
) -> OpsResult<WorkPool> {
    if update.concurrency_limit.is_some() {
        caller
            .principal
            .allows(orch_core::auth::Permission::Admin)
            .map_err(|denied| OpsError::PermissionDenied(denied.0))?;
    }
    let store = state.store();
    store.work_pools().update_work_pool(name, update).await?;
    let pool = store
        .work_pools()
        .work_pool(name, state.online_since())
        .await?;
    state.events().runs_ready(Some(&pool.id));
    Ok(pool)
}

/// Deletes the pool `name` (refused while deployments use it).
pub async fn delete(state: &AppState, name: &str) -> OpsResult<()> {
    Ok(state.store().work_pools().delete_work_pool(name).await?)
}

/// Workers seen within [`WORKER_WINDOW`], of one pool or all, most recent first.
pub async fn workers(state: &AppState, pool: Option<&str>) -> OpsResult<Vec<Worker>> {
    let pool = pool.filter(|p| !p.is_empty());
    Ok(state
        .store()
        .workers()
        .list_workers(pool, state.micros_ago(WORKER_WINDOW))
        .await?)
}
