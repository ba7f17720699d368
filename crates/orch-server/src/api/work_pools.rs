//! `/api/work-pools` and `/api/workers`: status, heartbeats, runs in flight,
//! concurrency; pause and resume.

use axum::Json;
use axum::extract::{Path, State};
use orch_store::{WorkPool, WorkPoolUpdate};
use serde::Deserialize;
use serde_json::{Value, json};

use orch_proto::json;

use super::views;
use super::{ApiQuery, ApiResult};
use crate::caller::Caller;
use crate::ops::work_pools;
use crate::state::AppState;

async fn pool_view(state: &AppState, pool: &WorkPool) -> ApiResult<json::WorkPool> {
    let workers = work_pools::workers(state, Some(&pool.name)).await?;
    let workers = workers.iter().map(|w| views::worker(state, w)).collect();
    Ok(views::pool(pool, workers))
}

/// `GET /api/work-pools`: every pool with its workers.
pub(crate) async fn list(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let pools = work_pools::list(&state).await?;
    let mut views = Vec::with_capacity(pools.len());
    for pool in &pools {
        views.push(pool_view(&state, pool).await?);
    }
    Ok(Json(json!({ "work_pools": views })))
}

/// `GET /api/work-pools/{name}`.
pub(crate) async fn get_one(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<json::WorkPool>> {
    let pool = work_pools::get(&state, &name).await?;
    Ok(Json(pool_view(&state, &pool).await?))
}

async fn set_paused(
    state: &AppState,
    caller: &Caller,
    name: &str,
    paused: bool,
) -> ApiResult<Json<json::WorkPool>> {
    let update = WorkPoolUpdate {
        paused: Some(paused),
        concurrency_limit: None,
    };
    let pool = work_pools::update(state, caller, name, update).await?;
    Ok(Json(pool_view(state, &pool).await?))
}

/// `POST /api/work-pools/{name}/pause`.
pub(crate) async fn pause(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<json::WorkPool>> {
    set_paused(&state, &caller, &name, true).await
}

/// `POST /api/work-pools/{name}/resume`.
pub(crate) async fn resume(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<json::WorkPool>> {
    set_paused(&state, &caller, &name, false).await
}

/// Filter of `GET /api/workers`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct WorkerParams {
    work_pool: String,
}

/// `GET /api/workers`: workers seen in the last 24 hours, most recent first.
pub(crate) async fn workers(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<WorkerParams>,
) -> ApiResult<Json<Value>> {
    let workers = work_pools::workers(&state, Some(&params.work_pool)).await?;
    let workers: Vec<json::Worker> = workers.iter().map(|w| views::worker(&state, w)).collect();
    Ok(Json(json!({ "workers": workers })))
}
