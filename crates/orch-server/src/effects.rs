//! The effects of flow run state changes, produced in one place.
//!
//! Every state change of a flow run, whatever caused it (a worker's report,
//! a claim, a cancel, an expired lease, a catch-up policy, a deleted
//! deployment, a retry, late marking), is made by the store's one state path,
//! which returns the [`Transition`]s it made. Whoever called the store (a use
//! case in [`crate::ops`], the scheduler, the background sweep) hands them to
//! [`apply`], and only [`apply`] turns them into effects:
//!
//! - watch events (`RunChanged`) for the dashboard, `orch flow-run watch` and
//!   other servers on the same database (a subflow run's also for its
//!   parent, whose detail lists it);
//! - worker wake-ups (`RunsReady`) when a run becomes claimable or frees a slot;
//! - the kill request (`CancelRun`) to the worker of a run now Cancelling;
//! - metrics: `orch_flow_run_transitions_total`, the duration histogram,
//!   lateness, pickup latency and retries ([`crate::metrics::observe_transition`]);
//! - the run's span, at its final state, when traces are on
//!   ([`crate::tracing_export::observe_transition`]);
//! - the same effects for the subflow runs a run's end ended with it
//!   ([`Transition::subflows`]);
//! - the automation engine is woken (`crate::automations::wake`): it reads the
//!   durable state history, written in the same transaction as each change,
//!   so a firing is never lost even if the server dies right after the commit.
//!
//! **A new effect of state changes (an automation, an alert, an audit record)
//! is added here, in [`apply_one`]**, and so follows every cause at once.
//! [`Transition`] carries the run after the change, the state it left, the
//! state it entered, when, and why ([`orch_store::Cause`]). Task run state
//! changes ([`TaskTransition`]) have their own, [`apply_task_runs`].

use std::collections::BTreeSet;

use orch_core::StateType;
use orch_store::{TaskTransition, Transition};

use crate::events::Event;
use crate::state::AppState;

/// Produces the effects of `transitions`, in order.
pub fn apply(state: &AppState, transitions: &[Transition]) {
    for transition in transitions {
        // A run ending ends its unfinished subflow runs in the same
        // transaction: their changes have their effects too.
        for change in transition.with_caused() {
            apply_one(state, change);
        }
    }
    if !transitions.is_empty() {
        // The engine reads the durable state history (written in the same
        // transaction as each change) from its cursor; this only wakes it now
        // instead of at its next poll.
        crate::automations::wake(state);
    }
}

/// Produces the effects of task run state changes: the watchers of their
/// flow runs are told (once per flow run).
pub fn apply_task_runs(state: &AppState, transitions: &[TaskTransition]) {
    let flow_runs: BTreeSet<&str> = transitions.iter().map(|t| t.flow_run_id.as_str()).collect();
    for flow_run in flow_runs {
        state.events().run_changed(flow_run);
    }
}

/// The effects of one transition.
fn apply_one(state: &AppState, transition: &Transition) {
    let run = &transition.run;
    let events = state.events();
    events.run_changed(&run.id);
    if let Some(parent) = &run.parent_flow_run_id {
        // The parent's detail lists its subflow runs and their states: its
        // watchers (its live page) are told too.
        events.run_changed(parent);
    }
    if frees_or_readies(state, transition) {
        events.runs_ready(run.work_pool_id.as_deref());
    }
    if transition.to == StateType::Cancelling {
        cancel_process(state, run);
    }
    crate::metrics::observe_transition(state, transition);
    crate::tracing_export::observe_transition(state, transition);
}

/// Whether the change can let a worker of the run's pool claim a run: the
/// run ended (its slot is free) or became Scheduled and due (a retry, a
/// released claim). Renaming a Scheduled run (Late, AwaitingConcurrencySlot)
/// readies nothing new.
fn frees_or_readies(state: &AppState, transition: &Transition) -> bool {
    let run = &transition.run;
    transition.to.is_terminal()
        || (transition.to == StateType::Scheduled
            && transition.from != Some(StateType::Scheduled)
            && run.expected_start <= state.now())
}

/// Tells the worker holding `run` to kill its process. Also used when a
/// cancel is asked again of a run already Cancelling: the request is
/// repeated, as the worker may have missed it.
pub(crate) fn cancel_process(state: &AppState, run: &orch_store::FlowRun) {
    if let Some(worker_id) = &run.worker_id {
        state.events().publish(Event::CancelRun {
            worker_id: worker_id.clone(),
            run_id: run.id.clone(),
        });
    }
}
