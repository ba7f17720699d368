//! Loops the server runs beside requests: waking workers when delayed runs
//! fall due, marking late runs, ending runs whose worker went away, and
//! releasing tag concurrency slots nobody can use any more.
//!
//! [`sweep`] is public so that tests drive it with an injected clock.

use std::time::Duration;

use crate::effects;
use crate::state::AppState;

/// How often delayed runs (retries, runs scheduled ahead) are checked for falling due.
const DUE_CHECK: Duration = Duration::from_millis(250);
/// How often late runs and expired leases are looked for.
const SWEEP: Duration = Duration::from_secs(1);
/// A sweep tick this much later than due means the server itself was
/// stalled (stopped, suspended, starved of CPU); see [`AppState::note_stall`].
const STALL: Duration = Duration::from_secs(5);

/// Runs until the server shuts down.
pub(crate) async fn run(state: AppState) {
    let mut due_tick = tokio::time::interval(DUE_CHECK);
    let mut sweep_tick = tokio::time::interval(SWEEP);
    due_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    sweep_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut due_checked_until = state.now();
    let mut last_sweep = std::time::Instant::now();
    loop {
        tokio::select! {
            _ = state.shutting_down() => return,
            _ = due_tick.tick() => {
                let now = state.now();
                match state.background_store().flow_runs().pools_with_runs_due(due_checked_until, now).await {
                    Ok(pools) => {
                        due_checked_until = now;
                        for pool in pools {
                            state.events().runs_ready(Some(&pool));
                        }
                    }
                    Err(error) => tracing::warn!(%error, "checking for runs falling due failed"),
                }
            }
            _ = sweep_tick.tick() => {
                // The monotonic clock runs on while the process is stopped.
                let gap = last_sweep.elapsed();
                if gap > STALL {
                    tracing::warn!(
                        stalled_seconds = gap.as_secs_f64(),
                        "the server was stalled; leases are judged by heartbeats read from now on"
                    );
                    state.note_stall();
                }
                if state.duties().holds(crate::duties::Duty::Sweep) {
                    sweep(&state).await;
                }
                last_sweep = std::time::Instant::now();
            }
        }
    }
}

/// One pass: marks Scheduled runs not started within the late threshold as
/// Late, Crashes runs whose worker has not heartbeated within the lease
/// (retrying them when their flow retries allow), and releases tag slots
/// whose lease expired or whose flow run is no longer in flight, and folds
/// the run count changes into the totals. Failures
/// are logged; the next pass tries again.
pub async fn sweep(state: &AppState) {
    let config = state.config();
    match state
        .background_store()
        .flow_runs()
        .mark_late_runs(state.micros_ago(config.late_after))
        .await
    {
        Ok(late) => effects::apply(state, &late.transitions),
        Err(error) => tracing::warn!(%error, "marking late runs failed"),
    }
    let reaped = if state.within_stall_grace() {
        // Heartbeats sent while the server was stalled are still arriving.
        Ok(orch_store::Changed::unchanged(()))
    } else {
        state
            .background_store()
            .workers()
            .reap_orphaned_runs(state.micros_ago(config.worker_lease))
            .await
    };
    match reaped {
        Ok(reaped) => {
            for transition in &reaped.transitions {
                let run = &transition.run;
                tracing::warn!(run = %run.id, state = %run.state.name, message = %run.state.message, "ended a run whose worker went away");
            }
            effects::apply(state, &reaped.transitions);
        }
        Err(error) => tracing::warn!(%error, "checking worker leases failed"),
    }
    match state
        .background_store()
        .concurrency()
        .release_stale_concurrency_slots()
        .await
    {
        Ok(0) => {}
        Ok(released) => {
            tracing::info!(
                released,
                "released tag concurrency slots of ended runs or expired leases"
            );
            state.slots_released();
        }
        Err(error) => tracing::warn!(%error, "releasing stale concurrency slots failed"),
    }
    // The run counts of `/metrics` (kept by the database as runs change).
    if let Err(error) = state.background_store().stats().fold_run_counts().await {
        tracing::warn!(%error, "folding run count changes failed");
    }
}
