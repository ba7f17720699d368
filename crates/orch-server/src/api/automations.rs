//! `/api/automations`: list, read, pause, resume, delete, history; and
//! `POST /api/flow-runs/{id}/emit`, a run's custom event.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use orch_proto::json;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiQuery, ApiResult, json_body};
use crate::convert::{automation, history_entry};
use crate::ops;
use crate::state::AppState;

fn record(found: &orch_store::Automation, unset: Vec<String>) -> json::Automation {
    json::Automation::from_proto(&automation(found, unset))
}

/// `GET /api/automations`.
pub(crate) async fn list(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let automations: Vec<json::Automation> = ops::automations::list(&state)
        .await?
        .into_iter()
        .map(|(a, unset)| record(&a, unset))
        .collect();
    Ok(Json(json!({ "automations": automations })))
}

/// `GET /api/automations/{name}`.
pub(crate) async fn get_one(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<json::Automation>> {
    let (found, unset) = ops::automations::get(&state, &name).await?;
    Ok(Json(record(&found, unset)))
}

/// `DELETE /api/automations/{name}`.
pub(crate) async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    ops::automations::delete(&state, &name).await?;
    Ok(Json(json!({ "deleted": name })))
}

/// `POST /api/automations/{name}/pause`.
pub(crate) async fn pause(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<json::Automation>> {
    let (found, unset) = ops::automations::set_paused(&state, &name, true).await?;
    Ok(Json(record(&found, unset)))
}

/// `POST /api/automations/{name}/resume`.
pub(crate) async fn resume(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<json::Automation>> {
    let (found, unset) = ops::automations::set_paused(&state, &name, false).await?;
    Ok(Json(record(&found, unset)))
}

/// `?limit=N` of the history.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct HistoryQuery {
    limit: Option<i64>,
}

/// `GET /api/automations/{name}/history`.
pub(crate) async fn history(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> ApiResult<Json<Value>> {
    let entries: Vec<json::AutomationHistoryEntry> =
        ops::automations::history(&state, &name, query.limit.unwrap_or(0))
            .await?
            .iter()
            .map(|entry| json::AutomationHistoryEntry::from_proto(&history_entry(entry)))
            .collect();
    Ok(Json(json!({ "automation": name, "entries": entries })))
}

/// The body of `POST /api/flow-runs/{id}/emit`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EmitRequest {
    name: String,
    #[serde(default)]
    payload: Value,
}

const EMIT_EXAMPLE: &str = r#"{"name": "no-data", "payload": {"symbol": "AAPL"}}"#;

/// `POST /api/flow-runs/{id}/emit`: records a custom event of the run.
pub(crate) async fn emit(
    State(state): State<AppState>,
    Path(run): Path<String>,
    caller: crate::caller::Caller,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let request: EmitRequest = json_body(&body, EMIT_EXAMPLE)?;
    let position = ops::automations::emit(
        &state,
        &caller,
        &run,
        &request.name,
        &request.payload.to_string(),
    )
    .await?;
    Ok(Json(
        json!({ "flow_run_id": run, "name": request.name, "position": position }),
    ))
}
