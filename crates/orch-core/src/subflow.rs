//! Subflow runs: a flow called inside a flow is a flow run of its own,
//! linked to its parent run and to the parent's task run that called it
//! (the "wrapper" task run, a node of the parent's graph).
//!
//! A subflow run executes in its parent's process: no worker claims it, it
//! has no deployment and no work pool, so no deployment, pool or worker
//! limit counts it (a deployment at its limit of 1 whose flow calls a
//! subflow does not wait for itself). The rules here are pure; the store
//! applies them in its one state path.

use crate::error::{Error, Result};
use crate::state::StateType;

/// The state a subflow run is created in: its code starts at once, in the
/// parent's process, which is already running.
pub const START: StateType = StateType::Running;

/// Checks that a subflow run may start now, under a parent in state
/// `parent` (named `parent_name` in the refusal).
///
/// # Errors
///
/// [`Error::InvalidInitialState`] unless the parent is Running: a subflow
/// runs inside its parent's code, so a parent that is not running (waiting,
/// being cancelled, finished) cannot be calling one.
pub fn validate_start(parent_name: &str, parent: StateType) -> Result<()> {
    if parent == StateType::Running {
        return Ok(());
    }
    Err(Error::InvalidInitialState {
        to: START,
        reason: format!(
            "its parent run {parent_name} is {parent}, and a subflow run starts only while its \
             parent runs"
        ),
    })
}

/// Checks a state reported for a subflow run (by its parent's process): it
/// may run again (a retried subflow: Running "Retrying") or end; it never
/// waits to be claimed or resumed, having no worker or pool.
///
/// # Errors
///
/// [`Error::InvalidTransition`] for Scheduled, Pending and Paused.
pub fn validate_report(from: StateType, to: StateType) -> Result<()> {
    if to.is_terminal() || matches!(to, StateType::Running | StateType::Cancelling) {
        return Ok(());
    }
    Err(Error::InvalidTransition {
        from,
        to,
        reason: "a subflow run runs in its parent's process, never claimed by a worker: it can \
                 only run again or end (Completed, Failed, Cancelled, Crashed)"
            .to_owned(),
    })
}

/// What becomes of a parent's unfinished subflow runs when the parent moves
/// from `from` to `to`: `Some(state)` when the move ends the parent's
/// process (a final state, or Scheduled again to be retried), so that the
/// code of its subflows cannot run on; `None` when they live on.
///
/// A cancelled parent's subflow runs are Cancelled; any other end leaves
/// them Crashed (the process that ran them is gone without reporting them).
pub fn end_with_parent(from: StateType, to: StateType) -> Option<StateType> {
    // Only a run that has been running can have subflow runs.
    let could_have_children = matches!(
        from,
        StateType::Running | StateType::Cancelling | StateType::Paused
    );
    if !could_have_children || !(to.is_terminal() || to == StateType::Scheduled) {
        return None;
    }
    Some(if to == StateType::Cancelled {
        StateType::Cancelled
    } else {
        StateType::Crashed
    })
}

/// The message of a subflow run ended with its parent.
pub fn ended_with_parent_message(parent_name: &str, parent_state: &str) -> String {
    format!("its parent run {parent_name} ended ({parent_state}) before this subflow run finished")
}

/// The idempotency key of the subflow run called by the parent's task run
/// `parent_task_run_id`: one wrapper task run per call, so every call (and
/// every attempt of the parent) makes a new subflow run, while a creation
/// sent again after a lost answer finds the run it made.
pub fn run_key(parent_task_run_id: &str) -> String {
    format!("subflow:{parent_task_run_id}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use StateType::*;

    #[test]
    fn a_subflow_run_starts_running_under_a_running_parent_only() {
        assert_eq!(validate_start("brisk-otter", Running), Ok(()));
        for parent in StateType::ALL.into_iter().filter(|s| *s != Running) {
            let error = validate_start("brisk-otter", parent)
                .unwrap_err()
                .to_string();
            assert!(
                error.contains(&format!("its parent run brisk-otter is {parent}")),
                "{error}"
            );
        }
    }

    #[test]
    fn a_subflow_run_may_only_run_again_or_end() {
        for to in StateType::ALL {
            let allowed = !matches!(to, Scheduled | Pending | Paused);
            assert_eq!(validate_report(Running, to).is_ok(), allowed, "{to:?}");
        }
        let error = validate_report(Running, Scheduled).unwrap_err().to_string();
        assert!(error.contains("never claimed by a worker"), "{error}");
    }

    #[test]
    fn the_end_of_the_parents_process_ends_its_subflow_runs() {
        // Every pair the state machine allows, from a state a parent with
        // subflow runs can be in.
        for from in [Running, Cancelling, Paused] {
            for to in crate::state::allowed_transitions(Some(from)) {
                let expected = match to {
                    Cancelled => Some(Cancelled),
                    Completed | Failed | Crashed | Scheduled => Some(Crashed),
                    Running | Cancelling | Paused | Pending => None,
                };
                assert_eq!(end_with_parent(from, *to), expected, "{from:?} -> {to:?}");
            }
        }
        // A run that never ran has none to end.
        assert_eq!(end_with_parent(Scheduled, Cancelled), None);
        assert_eq!(end_with_parent(Pending, Crashed), None);
    }

    #[test]
    fn each_wrapper_task_run_names_its_own_subflow_run() {
        assert_eq!(run_key("t-1"), "subflow:t-1");
        assert_ne!(run_key("t-1"), run_key("t-2"));
        assert!(
            ended_with_parent_message("brisk-otter", "Cancelled").contains("brisk-otter ended")
        );
    }
}
