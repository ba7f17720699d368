//! Schedules: add, switch on or off, delete, and the upcoming fire times.
//!
//! Every change wakes the scheduler, so a new or re-activated schedule gets
//! its runs at once rather than at the scheduler's next tick.

use orch_core::ScheduleSpec;
use orch_store::{Deployment, FlowRun, micros_to_utc};

use super::OpsResult;
use crate::state::AppState;

/// Most fire times [`upcoming`] lists.
pub const MAX_UPCOMING: usize = 1000;
/// Fire times [`upcoming`] lists when asked for none in particular.
pub const DEFAULT_UPCOMING: usize = 10;

/// One upcoming fire time of a deployment's schedule.
#[derive(Debug, Clone)]
pub struct UpcomingRun {
    /// The schedule's slug.
    pub slug: String,
    /// The schedule's time zone.
    pub timezone: String,
    /// When it fires (micros since the epoch).
    pub fire_time: i64,
    /// The run already made for this slot, if any.
    pub run: Option<FlowRun>,
    /// Why the slot is skipped (a holiday, a closed market), or empty.
    pub skipped: String,
}

/// A deployment's upcoming fire times.
#[derive(Debug, Clone)]
pub struct Upcoming {
    /// The deployment.
    pub deployment: Deployment,
    /// Fire times, soonest first.
    pub runs: Vec<UpcomingRun>,
    /// When no fire time gets a run: why (no active schedule, a calendar
    /// closing every slot of the window looked at, schedules that fire no
    /// more); empty otherwise.
    pub empty_reason: String,
}

/// The deployment named by `reference` with its schedules.
pub async fn list(state: &AppState, reference: &str) -> OpsResult<Deployment> {
    Ok(state.store().deployments().deployment(reference).await?)
}

/// Adds a schedule to a deployment.
pub async fn add(state: &AppState, reference: &str, spec: ScheduleSpec) -> OpsResult<Deployment> {
    let deployment = state
        .store()
        .schedules()
        .add_schedule(reference, spec)
        .await?;
    state.wake_scheduler();
    Ok(deployment)
}

/// Switches a schedule on or off (`None`: leaves it as it is).
pub async fn set_active(
    state: &AppState,
    reference: &str,
    slug: &str,
    active: Option<bool>,
) -> OpsResult<Deployment> {
    let store = state.store();
    let deployment = match active {
        Some(active) => {
            store
                .schedules()
                .set_schedule_active(reference, slug, active)
                .await?
        }
        None => store.deployments().deployment(reference).await?,
    };
    state.wake_scheduler();
    Ok(deployment)
}

/// Deletes a schedule from a deployment.
pub async fn delete(state: &AppState, reference: &str, slug: &str) -> OpsResult<Deployment> {
    let deployment = state
        .store()
        .schedules()
        .delete_schedule(reference, slug)
        .await?;
    state.wake_scheduler();
    Ok(deployment)
}

/// The next `count` fire times (0: [`DEFAULT_UPCOMING`]; at most
/// [`MAX_UPCOMING`]) of the deployment's active schedules, soonest first,
/// with the runs already made for them; with `show_skipped`, the slots a
/// calendar skips are listed too (they do not count towards `count`).
pub async fn upcoming(
    state: &AppState,
    reference: &str,
    count: usize,
    show_skipped: bool,
) -> OpsResult<Upcoming> {
    let count = match count {
        0 => DEFAULT_UPCOMING,
        n => n.min(MAX_UPCOMING),
    };
    let store = state.store();
    let deployment = store.deployments().deployment(reference).await?;
    let waiting = store
        .schedules()
        .waiting_scheduled_runs(&deployment.id)
        .await?;
    let now = state.now();
    let runs = fire_times(&deployment, &waiting, now, count, show_skipped);
    let empty_reason = if runs.iter().any(|run| run.skipped.is_empty()) {
        String::new()
    } else {
        why_no_run(&deployment, now)
    };
    Ok(Upcoming {
        deployment,
        runs,
        empty_reason,
    })
}

/// Why none of the deployment's schedules has a slot that gets a run after
/// `now`: each active schedule's reason (see [`orch_core::schedule::NoSlot`]).
fn why_no_run(deployment: &Deployment, now: i64) -> String {
    let active: Vec<_> = deployment
        .schedules
        .iter()
        .filter(|s| s.rule.active)
        .collect();
    if active.is_empty() {
        return format!(
            "No upcoming runs: {} has no active schedule. Add one with 'orch deployment \
             schedule create' or in the deploy file, or resume one with 'orch deployment \
             schedule resume'.",
            deployment.full_name()
        );
    }
    let reasons: Vec<String> = active
        .iter()
        .filter_map(|schedule| {
            let parsed = orch_core::Schedule::parse(schedule).ok()?;
            let why = parsed.why_no_slot(micros_to_utc(now))?;
            Some(why.describe(&schedule.slug))
        })
        .collect();
    if reasons.is_empty() {
        return format!(
            "No upcoming runs: the {} active schedule(s) of {} fire no more.",
            active.len(),
            deployment.full_name()
        );
    }
    format!(
        "No upcoming runs: {} active schedule(s), but {}.",
        active.len(),
        reasons.join("; ")
    )
}

fn fire_times(
    deployment: &Deployment,
    waiting: &[FlowRun],
    now: i64,
    count: usize,
    show_skipped: bool,
) -> Vec<UpcomingRun> {
    let mut runs: Vec<UpcomingRun> = Vec::new();
    for schedule in deployment.schedules.iter().filter(|s| s.rule.active) {
        let Ok(parsed) = orch_core::Schedule::parse(schedule) else {
            continue;
        };
        for slot in parsed.upcoming(micros_to_utc(now), count, show_skipped) {
            let fire_time = slot.time.timestamp_micros();
            let run = waiting.iter().find(|run| {
                run.expected_start == fire_time
                    && run.schedule_slug.as_deref() == Some(schedule.slug.as_str())
            });
            runs.push(UpcomingRun {
                slug: schedule.slug.clone(),
                timezone: schedule.rule.timezone.clone(),
                fire_time,
                run: run.cloned(),
                skipped: slot.skipped.unwrap_or_default(),
            });
        }
    }
    runs.sort_by(|a, b| (a.fire_time, &a.slug).cmp(&(b.fire_time, &b.slug)));
    // `count` slots that get a run, with the skipped ones among them.
    let mut kept = 0;
    runs.retain(|run| {
        let keep = kept < count;
        if run.skipped.is_empty() {
            kept += 1;
        }
        keep
    });
    runs
}
