//! The scheduler: keeps every active schedule of every unpaused deployment
//! filled ahead (at least 3 runs and an hour, at most 100 runs), replays
//! slots missed while the server was down as the deployment's catch-up
//! policy says, clears runs of schedules that went away, and applies the
//! catch-up policy to due runs that no worker has taken.
//!
//! It wakes when a deployment or schedule changes ([`AppState::wake_scheduler`])
//! and otherwise every [`PERIOD`]. Runs are created with an idempotency key
//! per slot under a unique index, so passes on several replicas, restarts and
//! re-deploys never duplicate a run. [`run_once`] is public so that tests
//! drive it with an injected clock.

use std::time::Duration;

use chrono::TimeDelta;
use orch_core::schedule::{Horizon, plan_slots};
use orch_store::{Cause, StoreError, micros_to_utc};

use crate::state::AppState;

/// How often the scheduler runs when nothing wakes it.
pub const PERIOD: Duration = Duration::from_secs(10);

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PassReport {
    /// Runs created, over all schedules.
    pub created: usize,
    /// Waiting runs deleted because their schedule went away.
    pub removed: u64,
    /// Runs Cancelled by a catch-up policy or `max_lateness_seconds`.
    pub cancelled: usize,
    /// Schedules that could not be read (invalid in the database); logged.
    pub invalid: usize,
}

/// Runs until the server shuts down.
///
/// Periodic passes run on the replica holding the scheduler duty
/// ([`crate::duties`]); a pass woken by a change made on this replica (a
/// deploy, a schedule edit) runs here at once whoever holds the duty: slots
/// are unique, so the holder's next pass finds them made.
pub(crate) async fn run(state: AppState) {
    let mut woken = false;
    loop {
        if (woken || state.duties().holds(crate::duties::Duty::Scheduler))
            && let Err(error) = run_once(&state).await
        {
            tracing::warn!(%error, "scheduler pass failed; trying again");
        }
        woken = tokio::select! {
            _ = state.shutting_down() => return,
            _ = state.scheduler_woken() => true,
            _ = tokio::time::sleep(PERIOD) => false,
        };
    }
}

/// One pass at the server clock's now.
///
/// # Errors
///
/// A database failure; what was done before it stays done.
pub async fn run_once(state: &AppState) -> Result<PassReport, StoreError> {
    let store = state.background_store();
    let mut report = PassReport {
        removed: store.schedules().remove_orphaned_scheduled_runs().await?,
        ..PassReport::default()
    };
    let now = micros_to_utc(store.now());
    let late_after = TimeDelta::from_std(state.config().late_after).unwrap_or(TimeDelta::MAX);
    let horizon = Horizon::default();
    for fill in store.schedules().schedules_to_fill().await? {
        let schedule = match orch_core::Schedule::parse(&fill.schedule) {
            Ok(schedule) => schedule,
            Err(error) => {
                report.invalid += 1;
                tracing::warn!(deployment = %fill.deployment, schedule = %fill.schedule.slug, %error, "skipping an invalid schedule");
                continue;
            }
        };
        let plan = plan_slots(
            &schedule,
            &fill.policy,
            now,
            fill.filled_until.map(micros_to_utc),
            late_after,
            &horizon,
        );
        let filled_until = plan.filled_until.timestamp_micros();
        if plan.slots.is_empty() && fill.filled_until == Some(filled_until) {
            continue;
        }
        let slots: Vec<i64> = plan.slots.iter().map(|s| s.timestamp_micros()).collect();
        let created = store
            .schedules()
            .create_scheduled_runs(&fill, &slots, filled_until)
            .await?;
        if !created.value.is_empty() {
            tracing::debug!(deployment = %fill.deployment, schedule = %fill.schedule.slug, created = created.value.len(), "scheduled runs");
        }
        report.created += created.value.len();
        // Watchers are told; missed slots replayed now are due at once, and
        // their pool's workers are woken.
        crate::effects::apply(state, &created.transitions);
    }
    let caught_up = store.schedules().apply_catch_up(None).await?;
    report.cancelled = caught_up
        .transitions
        .iter()
        .filter(|t| t.cause == Cause::CatchUp)
        .count();
    crate::effects::apply(state, &caught_up.transitions);
    Ok(report)
}
