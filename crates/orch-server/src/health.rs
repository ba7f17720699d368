//! Probes for load balancers and supervisors: `GET /healthz` (the process
//! answers) and `GET /readyz` (it can serve: every check of [`readiness`]
//! passes). Both are JSON; `/readyz` is 503 when a check fails.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json};
use axum::routing::get;
use serde::Serialize;
use serde_json::json;

use crate::state::AppState;

/// How long the database may take to answer a readiness probe.
const DATABASE_TIMEOUT: Duration = Duration::from_secs(2);

/// `/healthz` and `/readyz`.
pub(crate) fn router(state: AppState) -> axum::Router {
    axum::Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
}

/// One readiness check's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was checked: `database`, `migrations`, `shutdown`, ...
    pub name: &'static str,
    /// Whether it passed.
    pub ok: bool,
    /// What was found, or what is wrong and how to fix it.
    pub detail: String,
}

impl Check {
    fn pass(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            name,
            ok: true,
            detail: detail.into(),
        }
    }

    fn fail(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            name,
            ok: false,
            detail: detail.into(),
        }
    }
}

/// Every readiness check, in order. The server is ready when all pass; a
/// new condition (e.g. the store's write health) is one more entry here.
pub async fn readiness(state: &AppState) -> Vec<Check> {
    let mut checks = Vec::new();
    checks.push(if state.is_shutting_down() {
        Check::fail("shutdown", "the server is shutting down")
    } else {
        Check::pass("shutdown", "serving")
    });
    let store = state.store();
    match tokio::time::timeout(DATABASE_TIMEOUT, store.maintenance().ping()).await {
        Ok(Ok(())) => checks.push(Check::pass("database", store.backend().as_str())),
        Ok(Err(error)) => checks.push(Check::fail("database", error.to_string())),
        Err(_) => checks.push(Check::fail(
            "database",
            format!("no answer within {DATABASE_TIMEOUT:?}"),
        )),
    }
    let database_ok = checks.last().is_some_and(|check| check.ok);
    let writes = store.write_health();
    checks.push(match (writes.ok, writes.error) {
        (true, _) => Check::pass("writes", "the last write transaction committed"),
        (false, error) => Check::fail(
            "writes",
            format!(
                "the database cannot store writes ({}): free disk space or fix the database; \
                 writes resume by themselves once they succeed",
                error.unwrap_or_else(|| "unknown error".to_owned())
            ),
        ),
    });
    if database_ok {
        checks.push(
            match tokio::time::timeout(DATABASE_TIMEOUT, store.maintenance().schema_version()).await {
                Ok(Ok(version)) if version.is_current() => {
                    Check::pass("migrations", format!("schema {}", version.applied))
                }
                Ok(Ok(version)) => Check::fail(
                    "migrations",
                    format!(
                        "the database is at schema {} but this server needs {}: restart it to migrate",
                        version.applied, version.latest
                    ),
                ),
                Ok(Err(error)) => Check::fail("migrations", error.to_string()),
                Err(_) => Check::fail(
                    "migrations",
                    format!("no answer within {DATABASE_TIMEOUT:?}"),
                ),
            },
        );
    }
    checks
}

async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "alive", "version": crate::VERSION }))
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let checks = readiness(&state).await;
    let ready = checks.iter().all(|check| check.ok);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "checks": checks,
    });
    (status, Json(body))
}
