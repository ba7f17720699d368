//! Plain HTTP routes served beside gRPC on the same port.

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Json};
use axum::routing::get;
use serde_json::json;

use crate::state::AppState;

/// `/api/health` and friends.
pub(crate) fn router(state: AppState) -> axum::Router {
    axum::Router::new()
        .route("/api/health", get(health))
        .route("/api/version", get(version))
        .with_state(state)
}

async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let store = state.store();
    let uptime = crate::ops::server::uptime_seconds(&state);
    Json(json!({
        "status": "ok",
        "version": crate::VERSION,
        "database": store.backend().as_str(),
        "uptime_seconds": uptime,
    }))
}

async fn version() -> impl IntoResponse {
    Json(json!({ "version": crate::VERSION }))
}

/// Unknown paths are a real 404 (tonic's own fallback would answer 200 with a gRPC status).
pub(crate) async fn not_found(uri: Uri) -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": format!("no such page or endpoint: {}", uri.path()) })),
    )
}

/// A known path asked with a method it does not take (axum adds the
/// `Allow` header listing the ones it does).
pub(crate) async fn method_not_allowed(method: axum::http::Method, uri: Uri) -> impl IntoResponse {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        Json(json!({
            "error": format!(
                "{method} is not allowed on {}; the Allow header lists the methods it takes",
                uri.path()
            )
        })),
    )
}

/// Turns every error answer that is not JSON yet (axum's own 405, 413, 415,
/// 422 and 5xx are plain text or empty) into `{"error": "..."}` with the same
/// status, so API clients can always read the reason. gRPC answers (HTTP 200
/// with a status in trailers) are left alone.
pub(crate) async fn json_errors(response: axum::response::Response) -> axum::response::Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let content_type = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if content_type.starts_with("application/json") || content_type.starts_with("application/grpc")
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
        .unwrap_or_default();
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => format!(
            "request body too large: the API takes bodies up to {}",
            orch_core::limits::human_bytes(crate::api::MAX_BODY_BYTES)
        ),
        _ if text.is_empty() => status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_lowercase(),
        _ => text,
    };
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    parts.headers.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    let body = serde_json::to_vec(&json!({ "error": message })).expect("JSON encodes");
    axum::response::Response::from_parts(parts, axum::body::Body::from(body))
}
