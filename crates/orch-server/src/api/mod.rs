//! The REST JSON API under `/api/`: everything the dashboard shows and does.
//! Documented in `docs/api.md`. Errors are `{"error": "..."}` with a 4xx/5xx status.

mod artifacts;
mod audit;
mod automations;
mod deployments;
mod error;
mod flow_runs;
mod live;
mod overview;
mod secrets;
mod tokens;
pub mod views;
mod work_pools;

use axum::Router;
use axum::body::Bytes;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::routing::{get, post};
use serde::de::DeserializeOwned;

pub use error::{ApiError, ApiResult};

use crate::state::AppState;

/// Largest request body the JSON API takes: a run's parameters at their
/// limit, with room for the rest of the request.
pub const MAX_BODY_BYTES: usize = orch_core::limits::MAX_PARAMETERS_BYTES + 64 * 1024;

/// Routes of the JSON API.
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/overview", get(overview::overview))
        .route("/api/flows", get(deployments::list_flows))
        .route(
            "/api/flow-runs",
            get(flow_runs::list).delete(flow_runs::delete_matching),
        )
        .route("/api/flow-runs/timeline", get(flow_runs::timeline))
        .route(
            "/api/flow-runs/{id}",
            get(flow_runs::detail).delete(flow_runs::delete),
        )
        .route("/api/flow-runs/{id}/logs", get(flow_runs::logs))
        .route("/api/flow-runs/{id}/events", get(live::events))
        .route("/api/flow-runs/{id}/cancel", post(flow_runs::cancel))
        .route("/api/flow-runs/{id}/retry", post(flow_runs::retry))
        .route("/api/deployments", get(deployments::list))
        .route(
            "/api/deployments/{*reference}",
            get(deployments::get_one).post(deployments::act),
        )
        .route("/api/work-pools", get(work_pools::list))
        .route("/api/work-pools/{name}", get(work_pools::get_one))
        .route("/api/work-pools/{name}/pause", post(work_pools::pause))
        .route("/api/work-pools/{name}/resume", post(work_pools::resume))
        .route("/api/workers", get(work_pools::workers))
        .route("/api/artifacts", get(artifacts::list))
        .route("/api/artifact-keys", get(artifacts::keys))
        .route("/api/artifacts/{key}", get(artifacts::get_one))
        .route("/api/artifacts/{key}/series", get(artifacts::series))
        .route("/api/flow-runs/{id}/artifacts", post(artifacts::publish))
        .route("/api/secrets", get(secrets::list))
        .route("/api/audit", get(audit::list))
        .route("/api/tokens", get(tokens::list))
        .route(
            "/api/secrets/{name}",
            axum::routing::put(secrets::set).delete(secrets::delete),
        )
        .route("/api/flow-runs/{id}/emit", post(automations::emit))
        .route("/api/automations", get(automations::list))
        .route(
            "/api/automations/{name}",
            get(automations::get_one).delete(automations::delete),
        )
        .route("/api/automations/{name}/history", get(automations::history))
        .route("/api/automations/{name}/pause", post(automations::pause))
        .route("/api/automations/{name}/resume", post(automations::resume))
        .with_state(state)
}

/// Query parameters whose parse errors are JSON 400s (axum's own are plain text).
pub(crate) struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|query| ApiQuery(query.0))
            .map_err(|rejection| {
                ApiError::bad_request(format!("invalid query string: {}", rejection.body_text()))
            })
    }
}

/// Parses a JSON request body; an empty body is `T::default()`. The content
/// type was checked by `crate::browser` (state-changing calls take JSON only).
pub(crate) fn json_body<T: DeserializeOwned + Default>(
    body: &Bytes,
    example: &str,
) -> ApiResult<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|error| {
        ApiError::bad_request(format!(
            "request body is not valid JSON ({error}); send e.g. {example}"
        ))
    })?;
    if !value.is_object() {
        return Err(ApiError::unprocessable(format!(
            "request body must be a JSON object, not {}; send e.g. {example}",
            json_kind(&value)
        )));
    }
    serde_json::from_value(value).map_err(|error| {
        ApiError::bad_request(format!(
            "request body is not valid for this endpoint ({error}); send e.g. {example}"
        ))
    })
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// An RFC 3339 time in microseconds, naming the parameter in errors.
pub(crate) fn parse_time(parameter: &str, text: &str) -> ApiResult<i64> {
    Ok(crate::ops::run_reads::parse_time(parameter, text)?)
}
