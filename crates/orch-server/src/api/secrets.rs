//! `/api/secrets`: names and times, never values. A value goes in with
//! `PUT /api/secrets/{name}` and `{"value": "..."}`, and never comes back.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use orch_proto::json;

use super::{ApiError, ApiResult, json_body};
use crate::ops;
use crate::state::AppState;

const SET_EXAMPLE: &str = r#"{"value": "..."}"#;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetRequest {
    value: Option<String>,
}

/// `GET /api/secrets`.
pub(crate) async fn list(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let secrets: Vec<json::Secret> = ops::secrets::list(&state)
        .await?
        .iter()
        .map(|info| json::Secret::from(&crate::convert::secret(info)))
        .collect();
    Ok(Json(json!({ "secrets": secrets })))
}

/// `PUT /api/secrets/{name}`: 201 when created, 200 when replaced; the
/// answer names the secret, never its value.
pub(crate) async fn set(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let request: SetRequest = json_body(&body, SET_EXAMPLE)?;
    let Some(value) = request.value else {
        return Err(ApiError::bad_request(format!(
            "the body must carry the secret's value; send e.g. {SET_EXAMPLE}"
        )));
    };
    let created = ops::secrets::set(&state, &name, &value).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!({ "name": name, "created": created }))))
}

/// `DELETE /api/secrets/{name}`.
pub(crate) async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    ops::secrets::delete(&state, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
