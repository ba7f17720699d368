//! `GET /api/overview`: the dashboard's front page in one call.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::views::{self, time};
use super::{ApiError, ApiQuery, ApiResult};
use crate::state::AppState;

/// Failures listed as needing attention.
const FAILURES_SHOWN: u32 = 10;

/// The window.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct OverviewParams {
    /// Hours back from now (1 to 720).
    hours: u32,
}

impl Default for OverviewParams {
    fn default() -> Self {
        OverviewParams { hours: 24 }
    }
}

/// Runs expected in the window by state, success rate, lateness, failures
/// not followed by a success of their deployment, and workers online.
pub(crate) async fn overview(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<OverviewParams>,
) -> ApiResult<Json<Value>> {
    if !(1..=720).contains(&params.hours) {
        return Err(ApiError::bad_request(format!(
            "hours must be between 1 and 720, got {}",
            params.hours
        )));
    }
    let store = state.store();
    let until = state.now();
    let since = until - i64::from(params.hours) * 3600 * 1_000_000;
    let stats = store.run_stats(since, until).await?;
    let failures = store.unresolved_failures(since, FAILURES_SHOWN).await?;
    let workers_online = store.count_workers_online(state.online_since()).await?;
    let by_state: Vec<Value> = stats
        .by_state
        .iter()
        .map(|s| json!({ "type": s.state_type.as_str(), "name": s.state_name, "count": s.count }))
        .collect();
    Ok(Json(json!({
        "window_hours": params.hours,
        "since": time(since),
        "until": time(until),
        "total": stats.total,
        "by_state": by_state,
        "completed": stats.completed,
        "failed": stats.failed,
        "success_rate": stats.success_rate(),
        "late_now": stats.late_now,
        "started": stats.started,
        "average_lateness_seconds": stats.average_lateness_micros.map(|m| m / 1e6),
        "failures": views::runs(&state, &failures),
        "workers_online": workers_online,
    })))
}
