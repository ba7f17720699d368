//! The dashboard's front page: how runs went over a window of hours.

use orch_store::{FlowRun, RunStats};

use super::{OpsError, OpsResult};
use crate::state::AppState;

/// Failures listed as needing attention.
pub const FAILURES_SHOWN: u32 = 10;
/// The longest window, in hours (30 days).
pub const MAX_HOURS: u32 = 720;

/// Runs over a window ending now.
#[derive(Debug, Clone)]
pub struct Overview {
    /// Start of the window (micros).
    pub since: i64,
    /// End of the window: now (micros).
    pub until: i64,
    /// Runs expected in the window, by state, with success rate and lateness.
    pub stats: RunStats,
    /// Failures not followed by a success of their deployment, newest first.
    pub failures: Vec<FlowRun>,
    /// Workers whose lease is alive.
    pub workers_online: i64,
}

/// The last `hours` hours (1 to [`MAX_HOURS`]).
pub async fn overview(state: &AppState, hours: u32) -> OpsResult<Overview> {
    if !(1..=MAX_HOURS).contains(&hours) {
        return Err(OpsError::Invalid(format!(
            "hours must be between 1 and {MAX_HOURS}, got {hours}"
        )));
    }
    let store = state.store();
    let until = state.now();
    let since = until - i64::from(hours) * 3600 * 1_000_000;
    Ok(Overview {
        since,
        until,
        stats: store.stats().run_stats(since, until).await?,
        failures: store
            .stats()
            .unresolved_failures(since, FAILURES_SHOWN)
            .await?,
        workers_online: store
            .workers()
            .count_workers_online(state.online_since())
            .await?,
    })
}
