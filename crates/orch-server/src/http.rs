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
    let uptime = (state.store().clock().now() - state.started_at())
        .num_seconds()
        .max(0);
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
