//! Static files embedded at compile time, served with an ETag so browsers
//! revalidate cheaply.

use std::hash::{Hash, Hasher};

use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// (file name, content type, content).
const FILES: [(&str, &str, &str); 15] = [
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("assets/style.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/app.js"),
    ),
    (
        "overview.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/overview.js"),
    ),
    (
        "flow-runs.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/flow-runs.js"),
    ),
    (
        "flow-run.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/flow-run.js"),
    ),
    (
        "charts.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/charts.js"),
    ),
    (
        "deployments.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/deployments.js"),
    ),
    (
        "work-pools.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/work-pools.js"),
    ),
    (
        "automations.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/automations.js"),
    ),
    (
        "artifacts.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/artifacts.js"),
    ),
    (
        "artifact.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/artifact.js"),
    ),
    (
        "artifact-keys.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/artifact-keys.js"),
    ),
    (
        "tokens.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/tokens.js"),
    ),
    (
        "audit.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/audit.js"),
    ),
    ("logo.svg", "image/svg+xml", include_str!("assets/logo.svg")),
];

fn etag(content: &str) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    content.hash(&mut hasher);
    format!("\"{:016x}\"", hasher.finish())
}

fn respond(headers: &HeaderMap, content_type: &'static str, content: &'static str) -> Response {
    let tag = etag(content);
    let cached = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == tag);
    let common = [
        (header::ETAG, tag),
        (header::CACHE_CONTROL, "no-cache".to_string()),
    ];
    if cached {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (common, [(header::CONTENT_TYPE, content_type)], content).into_response()
}

/// `GET /assets/{file}`.
pub(crate) async fn serve(Path(file): Path<String>, headers: HeaderMap) -> Response {
    match FILES.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, content)) => respond(&headers, content_type, content),
        None => crate::api::ApiError::not_found(format!("no such dashboard asset: /assets/{file}"))
            .into_response(),
    }
}

/// `GET /favicon.svg`.
pub(crate) async fn favicon(headers: HeaderMap) -> Response {
    respond(&headers, "image/svg+xml", include_str!("assets/logo.svg"))
}
