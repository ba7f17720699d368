//! `GET /api/overview`: the dashboard's front page in one call.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::views::{self, time};
use super::{ApiQuery, ApiResult};
use crate::ops;
use crate::state::AppState;

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
    let overview = ops::overview::overview(&state, params.hours).await?;
    let stats = overview.stats;
    let by_state: Vec<Value> = stats
        .by_state
        .iter()
        .map(|s| json!({ "type": s.state_type.as_str(), "name": s.state_name, "count": s.count }))
        .collect();
    Ok(Json(json!({
        "window_hours": params.hours,
        "since": time(overview.since),
        "until": time(overview.until),
        "total": stats.total,
        "by_state": by_state,
        "completed": stats.completed,
        "failed": stats.failed,
        "success_rate": stats.success_rate(),
        "late_now": stats.late_now,
        "started": stats.started,
        "average_lateness_seconds": stats.average_lateness_micros.map(|m| m / 1e6),
        "failures": views::runs(&state, &overview.failures),
        "workers_online": overview.workers_online,
    })))
}
