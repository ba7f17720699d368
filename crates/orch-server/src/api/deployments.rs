//! `/api/deployments` and `/api/flows`: listing with last and upcoming runs,
//! runs on demand, pause and resume.
//!
//! A deployment is named either by id (`/api/deployments/{id}/...`) or by
//! flow and name (`/api/deployments/{flow}/{name}/...`).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use orch_store::{Deployment, JsonObject};
use serde::Deserialize;
use serde_json::{Value, json};

use orch_proto::json;

use super::views;
use super::{ApiError, ApiResult, json_body, parse_time};
use crate::ops::deployments;
use crate::state::AppState;

/// Runs shown per deployment in each of "last" and "upcoming".
const RUNS_SHOWN: u32 = 5;

/// Actions after a deployment's reference.
const ACTIONS: [&str; 3] = ["runs", "pause", "resume"];

async fn view(state: &AppState, deployment: &Deployment) -> ApiResult<json::Deployment> {
    let (last, upcoming) = deployments::recent_runs(state, deployment, RUNS_SHOWN).await?;
    Ok(views::deployment(state, deployment, &last, &upcoming))
}

/// `GET /api/deployments`: all deployments by flow then name.
pub(crate) async fn list(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let deployments = deployments::list(&state, None).await?;
    let mut views = Vec::with_capacity(deployments.len());
    for deployment in &deployments {
        views.push(view(&state, deployment).await?);
    }
    Ok(Json(json!({ "deployments": views })))
}

/// `GET /api/flows`: flows with their deployment counts.
pub(crate) async fn list_flows(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let flows = deployments::flows(&state).await?;
    let flows: Vec<Value> = flows
        .iter()
        .map(|flow| {
            json!({
                "id": flow.id,
                "name": flow.name,
                "deployment_count": flow.deployment_count,
                "created_at": views::time(flow.created_at),
            })
        })
        .collect();
    Ok(Json(json!({ "flows": flows })))
}

/// Splits `{id}`, `{flow}/{name}`, `{id}/{action}` or `{flow}/{name}/{action}`.
fn split_reference(path: &str) -> ApiResult<(String, Option<&str>)> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let action = parts.last().copied().filter(|p| ACTIONS.contains(p));
    let name_parts = &parts[..parts.len() - usize::from(action.is_some())];
    match name_parts {
        [id] if !id.is_empty() => Ok((id.to_string(), action)),
        [flow, name] if !flow.is_empty() && !name.is_empty() => {
            Ok((format!("{flow}/{name}"), action))
        }
        _ => Err(ApiError::not_found(format!(
            "no such endpoint: /api/deployments/{path}; use /api/deployments/{{id}} or \
             /api/deployments/{{flow}}/{{name}}, optionally followed by /runs, /pause or /resume"
        ))),
    }
}

/// `GET /api/deployments/{id}` or `/api/deployments/{flow}/{name}`.
pub(crate) async fn get_one(
    State(state): State<AppState>,
    Path(path): Path<String>,
) -> ApiResult<Json<json::Deployment>> {
    let (reference, action) = split_reference(&path)?;
    if let Some(action) = action {
        return Err(ApiError {
            status: StatusCode::METHOD_NOT_ALLOWED,
            message: format!("use POST for /{action}"),
        });
    }
    let deployment = deployments::get(&state, &reference).await?;
    Ok(Json(view(&state, &deployment).await?))
}

/// Body of `POST .../runs`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RunRequest {
    /// Merged over the deployment's defaults.
    parameters: Option<Value>,
    /// RFC 3339; default now.
    scheduled_at: Option<String>,
    /// A second request with the same key returns the first run.
    idempotency_key: Option<String>,
}

const RUN_EXAMPLE: &str = r#"{"parameters": {"force": true}}"#;

/// `POST /api/deployments/{ref}/runs`, `/pause`, `/resume`.
pub(crate) async fn act(
    State(state): State<AppState>,
    Path(path): Path<String>,
    audit: Option<Extension<crate::ops::audit::Pending>>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let (reference, action) = split_reference(&path)?;
    match action {
        Some("runs") => {
            let request: RunRequest = json_body(&body, RUN_EXAMPLE)?;
            let parameters: JsonObject = match request.parameters {
                None | Some(Value::Null) => JsonObject::new(),
                Some(Value::Object(object)) => object,
                Some(other) => {
                    return Err(ApiError::bad_request(format!(
                        "parameters must be a JSON object, got {other}; send e.g. {RUN_EXAMPLE}"
                    )));
                }
            };
            let scheduled_at = request
                .scheduled_at
                .as_deref()
                .map(|t| parse_time("scheduled_at", t))
                .transpose()?;
            let trace = crate::tracing_export::caller_trace(|name| {
                headers.get(name).map(axum::http::HeaderValue::as_bytes)
            })
            .map_err(ApiError::bad_request)?;
            let run = deployments::run_traced(
                &state,
                &reference,
                &parameters,
                scheduled_at,
                request.idempotency_key.as_deref().unwrap_or(""),
                audit.as_ref().map(|Extension(pending)| pending),
                trace.as_ref(),
            )
            .await?;
            Ok((StatusCode::CREATED, Json(views::run(&state, &run))).into_response())
        }
        Some(pause @ ("pause" | "resume")) => {
            let paused = pause == "pause";
            let deployment = deployments::set_paused(&state, &reference, paused).await?;
            Ok(Json(view(&state, &deployment).await?).into_response())
        }
        _ => Err(ApiError {
            status: StatusCode::METHOD_NOT_ALLOWED,
            message: format!(
                "POST /api/deployments/{path} does nothing: POST to .../runs, .../pause or .../resume, GET to read it"
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_ids_or_flow_and_name_with_an_optional_action() {
        assert_eq!(split_reference("abc").unwrap(), ("abc".into(), None));
        assert_eq!(split_reference("f/n").unwrap(), ("f/n".into(), None));
        assert_eq!(
            split_reference("abc/runs").unwrap(),
            ("abc".into(), Some("runs"))
        );
        assert_eq!(
            split_reference("f/n/pause").unwrap(),
            ("f/n".into(), Some("pause"))
        );
        assert_eq!(
            split_reference("a/b/c").unwrap_err().status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            split_reference("a/b/c/runs").unwrap_err().status,
            StatusCode::NOT_FOUND
        );
    }
}
