//! Plain HTTP routes served beside gRPC on the same port.

use axum::extract::State;
use axum::http::HeaderValue;
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

/// The current version of the JSON API, as it appears in paths.
pub const API_VERSION_PREFIX: &str = "/api/v1";

/// Where a request path leads: `/api/v1/x` is served by the route `/api/x`
/// (`Some(canonical)`); anything else is served as it is (`None`).
pub(crate) fn canonical_api_path(path: &str) -> Option<String> {
    let rest = path.strip_prefix(API_VERSION_PREFIX)?;
    if rest.is_empty() || rest.starts_with('/') {
        Some(format!("/api{rest}"))
    } else {
        None
    }
}

/// Serves `/api/v1/...` by the one routing table of `/api/...` (the path is
/// rewritten before anything else sees it: authorization rules, the audit
/// trail and the routes are written once, unversioned). Answers to the old
/// unversioned paths, kept for one release, name their successor in a `Link`
/// header (`rel="successor-version"`, RFC 5829).
pub(crate) async fn api_version(
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let path = request.uri().path().to_owned();
    if let Some(canonical) = canonical_api_path(&path) {
        let query = request
            .uri()
            .query()
            .map(|query| format!("?{query}"))
            .unwrap_or_default();
        let mut parts = request.uri().clone().into_parts();
        match format!("{canonical}{query}").parse() {
            Ok(path_and_query) => parts.path_and_query = Some(path_and_query),
            Err(_) => return not_found(request.uri().clone()).await.into_response(),
        }
        if let Ok(uri) = Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
        return next.run(request).await;
    }
    let legacy = path.starts_with("/api/");
    let mut response = next.run(request).await;
    if legacy
        && let Some(rest) = path.strip_prefix("/api")
        && let Ok(link) = HeaderValue::from_str(&format!(
            "<{API_VERSION_PREFIX}{rest}>; rel=\"successor-version\""
        ))
    {
        response
            .headers_mut()
            .insert(axum::http::header::LINK, link);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::canonical_api_path;

    #[test]
    fn versioned_paths_lead_to_the_one_routing_table() {
        assert_eq!(
            canonical_api_path("/api/v1/flow-runs/abc").as_deref(),
            Some("/api/flow-runs/abc")
        );
        assert_eq!(canonical_api_path("/api/v1").as_deref(), Some("/api"));
        assert_eq!(canonical_api_path("/api/v10/x"), None);
        assert_eq!(canonical_api_path("/api/flow-runs"), None);
        assert_eq!(canonical_api_path("/flow-runs"), None);
    }
}
