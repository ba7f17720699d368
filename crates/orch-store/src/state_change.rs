//! The one path through which a flow run's state changes.
//!
//! Every cause of a state change (a client's report, a claim, a cancel, an
//! expired lease, a catch-up policy, a deployment's deletion, a retry, late
//! marking...) ends in [`change_state`]: it checks the move with orch-core's
//! rules ([`orch_core::validate_transition`], or
//! [`orch_core::validate_lease_correction`] for a worker's late final report),
//! refuses a forbidden one with [`StoreError::Conflict`], writes the run's
//! new state and its history row in the caller's transaction, and returns the
//! [`Transition`] it made. Public store functions hand those transitions back
//! so that the server produces their effects (events, wake-ups, metrics) in
//! one place.

use orch_core::{StateType, validate_lease_correction, validate_transition};

use crate::Backend;
use crate::error::{Result, StoreError};
use crate::model::FlowRun;
use crate::state_write::write_state;
use crate::transitions::{NewState, load_run_for_update};

/// Why a run's state changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// It was created, Scheduled: a deployment run asked for (by a person,
    /// an automation or a re-run) or a schedule's slot.
    Created,
    /// Its worker or flow reported the state.
    Report,
    /// A failure was reported and the deployment's retries turned it into
    /// AwaitingRetry.
    Retry,
    /// A worker's final report on a run its expired lease had ended.
    LeaseCorrection,
    /// A worker claimed it (Scheduled -> Pending).
    Claim,
    /// Its worker never received the claim; it went back to Scheduled.
    ClaimReleased,
    /// Someone asked to cancel it.
    Cancel,
    /// Its worker stopped heartbeating (Crashed, Cancelled or AwaitingRetry).
    LeaseExpired,
    /// The deployment's catch-up policy or `max_lateness_seconds` skipped it.
    CatchUp,
    /// Its deployment was at its concurrency limit (cancel-new: Cancelled;
    /// enqueue: AwaitingConcurrencySlot).
    ConcurrencyLimit,
    /// It was not started in time (Late).
    Late,
    /// Its deployment was deleted before it started.
    DeploymentDeleted,
    /// It is a subflow run its parent's process created, Running.
    SubflowStarted,
    /// It is a subflow run whose parent ended before it did.
    ParentEnded,
}

impl Cause {
    /// The cause's name, e.g. `"lease_expired"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Created => "created",
            Cause::Report => "report",
            Cause::Retry => "retry",
            Cause::LeaseCorrection => "lease_correction",
            Cause::Claim => "claim",
            Cause::ClaimReleased => "claim_released",
            Cause::Cancel => "cancel",
            Cause::LeaseExpired => "lease_expired",
            Cause::CatchUp => "catch_up",
            Cause::ConcurrencyLimit => "concurrency_limit",
            Cause::Late => "late",
            Cause::DeploymentDeleted => "deployment_deleted",
            Cause::SubflowStarted => "subflow_started",
            Cause::ParentEnded => "parent_ended",
        }
    }
}

/// One state change a store call made.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// The run after the change (its `state` is the new state).
    pub run: FlowRun,
    /// The state type it left; `None` for a run this change created (a
    /// deployment's or a schedule's run, Scheduled; a subflow run, Running).
    pub from: Option<StateType>,
    /// The name of the state it left (e.g. `Late`; empty when created).
    pub from_name: String,
    /// The state type it entered.
    pub to: StateType,
    /// When (microseconds since the epoch, by the store's clock).
    pub at: i64,
    /// Why.
    pub cause: Cause,
    /// The changes this one caused in the same transaction: the run's
    /// unfinished subflow runs, ended with it (each with its own).
    pub subflows: Vec<Transition>,
    /// The run had task runs when it changed (read with the change), so an
    /// effect that reads them (the task metrics at a run's end) knows
    /// whether there is anything to read.
    pub task_runs: bool,
}

impl Transition {
    /// The change that made `run` (in the state it was created in).
    pub fn created(run: FlowRun, cause: Cause) -> Transition {
        Transition {
            from: None,
            from_name: String::new(),
            to: run.state.kind,
            at: run.state.timestamp,
            cause,
            subflows: Vec::new(),
            // A run is created before any of its tasks.
            task_runs: false,
            run,
        }
    }

    /// This transition and every one it caused, depth first.
    pub fn with_caused(&self) -> Vec<&Transition> {
        let mut all = vec![self];
        for child in &self.subflows {
            all.extend(child.with_caused());
        }
        all
    }
}

/// What a store call returned, with the state changes it made. The caller
/// must hand [`Changed::transitions`] to the server's effects (events,
/// wake-ups, metrics, traces), or the changes happen unseen.
#[derive(Debug, Clone, PartialEq)]
#[must_use = "a state change's effects are produced only from its transitions: apply them"]
pub struct Changed<T> {
    /// The call's own answer.
    pub value: T,
    /// The state changes it made, in order; effects are produced from these.
    pub transitions: Vec<Transition>,
}

impl<T> Changed<T> {
    /// An answer with no state change.
    pub fn unchanged(value: T) -> Changed<T> {
        Changed {
            value,
            transitions: Vec::new(),
        }
    }
}

impl From<Vec<Transition>> for Changed<()> {
    /// The state changes of a call whose only answer is its changes.
    fn from(transitions: Vec<Transition>) -> Changed<()> {
        Changed {
            value: (),
            transitions,
        }
    }
}

/// Which rules a change is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rules {
    /// The state machine ([`validate_transition`]).
    StateMachine,
    /// A worker's late final report ([`validate_lease_correction`]).
    LeaseCorrection,
}

/// A state change to make.
#[derive(Debug)]
pub(crate) struct Change<'a> {
    /// The run.
    pub run_id: &'a str,
    /// Its state type as the caller read it in this transaction; the write
    /// only happens if it still is (compare and set).
    pub from: StateType,
    /// Its state name as the caller read it.
    pub from_name: &'a str,
    /// The state to enter.
    pub to: &'a NewState,
    /// Why.
    pub cause: Cause,
    /// Client-made id making a report idempotent.
    pub transition_id: Option<&'a str>,
    /// The rules that apply.
    pub rules: Rules,
    /// The worker that takes the run with this change (a claim, or a late
    /// report that corrects an expired lease); `None` leaves it as it is.
    pub worker_id: Option<&'a str>,
    /// The caller's locked read found no unfinished subflow run of it (a
    /// subflow run is created under its parent's lock), so none need ending.
    pub no_open_subflows: bool,
}

impl<'a> Change<'a> {
    /// A change of `run` (read in this transaction) to `to`, under the state machine.
    pub(crate) fn of(run: &'a FlowRun, to: &'a NewState, cause: Cause) -> Change<'a> {
        Change {
            run_id: &run.id,
            from: run.state.kind,
            from_name: &run.state.name,
            to,
            cause,
            transition_id: None,
            rules: Rules::StateMachine,
            worker_id: None,
            no_open_subflows: false,
        }
    }
}

/// Checks `change` against its rules, writes it, and returns the run after
/// it. The caller's transaction makes it atomic with whatever else it writes.
/// A change that ends the run's process (see
/// [`orch_core::subflow::end_with_parent`]) also ends its unfinished
/// subflow runs, in the same transaction ([`Transition::subflows`]).
///
/// # Errors
///
/// [`StoreError::Conflict`] when the rules forbid the move, or when the
/// run is no longer in `change.from` (another writer moved it first);
/// nothing is written then. [`StoreError::NotFound`] for an unknown run.
pub(crate) async fn change_state(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    change: Change<'_>,
    now: i64,
) -> Result<Transition> {
    let to = change.to.kind;
    let verdict = match change.rules {
        Rules::StateMachine => validate_transition(Some(change.from), to),
        Rules::LeaseCorrection => validate_lease_correction(change.from, to),
    };
    if let Err(error) = verdict {
        return Err(StoreError::Conflict(format!(
            "flow run {}: {error}",
            change.run_id
        )));
    }
    let Some((run, task_runs)) = write_state(conn, backend, &change, now).await? else {
        return Err(StoreError::Conflict(format!(
            "flow run {} is no longer {}: another change came first; read it again",
            change.run_id,
            change.from.display_name()
        )));
    };
    let subflows = match orch_core::subflow::end_with_parent(change.from, to) {
        Some(_) if change.no_open_subflows => Vec::new(),
        Some(end) => Box::pin(end_subflows(conn, backend, &run, end, now)).await?,
        None => Vec::new(),
    };
    Ok(Transition {
        run,
        from: Some(change.from),
        from_name: change.from_name.to_owned(),
        to,
        at: now,
        cause: change.cause,
        subflows,
        task_runs,
    })
}

/// Ends the unfinished subflow runs of `parent` (which just left the
/// states its process runs in) in state `end`, each through
/// [`change_state`], so that theirs end too.
async fn end_subflows(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    parent: &FlowRun,
    end: StateType,
    now: i64,
) -> Result<Vec<Transition>> {
    let children: Vec<(String,)> = sqlx::query_as(
        "SELECT id FROM flow_runs WHERE parent_flow_run_id = $1 \
         AND state_type NOT IN ('COMPLETED', 'FAILED', 'CRASHED', 'CANCELLED') ORDER BY created_at, id",
    )
    .bind(&parent.id)
    .fetch_all(&mut *conn)
    .await?;
    let message = orch_core::subflow::ended_with_parent_message(&parent.name, &parent.state.name);
    let state = NewState::new(end, "", &message);
    let mut ended = Vec::with_capacity(children.len());
    for (child_id,) in children {
        let Some(child) = load_run_for_update(conn, backend, &child_id).await? else {
            continue;
        };
        if child.state.kind.is_terminal() {
            continue;
        }
        let change = Change::of(&child, &state, Cause::ParentEnded);
        ended.push(change_state(conn, backend, change, now).await?);
    }
    Ok(ended)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Proposal, Store};

    async fn store_with_run() -> (Store, FlowRun, tempfile::TempDir) {
        let (store, _, dir) = crate::test_support::store_with_deployment().await;
        let run = store
            .flow_runs()
            .create_flow_run("etl/nightly", &Default::default(), None, "")
            .await
            .unwrap()
            .value;
        (store, run, dir)
    }

    async fn move_to(store: &Store, run_id: &str, kind: StateType) -> FlowRun {
        let proposal = Proposal {
            state: NewState::new(kind, "", ""),
            transition_id: String::new(),
            worker_id: None,
        };
        let changed = store
            .flow_runs()
            .set_flow_run_state(run_id, proposal)
            .await
            .unwrap();
        assert_eq!(changed.transitions.len(), 1, "{:?}", changed.value);
        changed.transitions[0].run.clone()
    }

    /// Tries `change` in its own transaction, as every store path does.
    async fn attempt(store: &Store, change: Change<'_>) -> Result<Transition> {
        let mut tx = store.writer.begin().await.unwrap();
        let result = change_state(&mut tx, store.backend, change, store.now()).await;
        match &result {
            Ok(_) => tx.commit().await.unwrap(),
            Err(_) => tx.rollback().await.unwrap(),
        }
        result
    }

    #[tokio::test]
    async fn a_move_the_state_machine_forbids_is_a_conflict_and_writes_nothing() {
        let (store, run, _dir) = store_with_run().await;
        move_to(&store, &run.id, StateType::Pending).await;
        move_to(&store, &run.id, StateType::Running).await;
        let done = move_to(&store, &run.id, StateType::Completed).await;
        let history = store
            .flow_runs()
            .flow_run_history(&run.id)
            .await
            .unwrap()
            .len();

        for to in StateType::ALL {
            let state = NewState::new(to, "", "");
            let error = attempt(&store, Change::of(&done, &state, Cause::CatchUp))
                .await
                .unwrap_err();
            let StoreError::Conflict(message) = &error else {
                panic!("{to:?}: {error}");
            };
            assert!(
                message.contains("already Completed, a terminal state"),
                "{message}"
            );
        }

        assert_eq!(store.flow_runs().flow_run(&run.id).await.unwrap(), done);
        assert_eq!(
            store
                .flow_runs()
                .flow_run_history(&run.id)
                .await
                .unwrap()
                .len(),
            history
        );
    }

    #[tokio::test]
    async fn a_change_from_a_state_the_run_left_is_a_conflict_and_writes_nothing() {
        let (store, scheduled, _dir) = store_with_run().await;
        let claimed = move_to(&store, &scheduled.id, StateType::Pending).await;

        // A caller that read the run Scheduled, after a claim moved it on.
        let cancelled = NewState::new(StateType::Cancelled, "Cancelled", "deployment deleted");
        let error = attempt(
            &store,
            Change::of(&scheduled, &cancelled, Cause::DeploymentDeleted),
        )
        .await
        .unwrap_err();

        assert!(
            error.to_string().contains("is no longer Scheduled"),
            "{error}"
        );
        assert_eq!(
            store.flow_runs().flow_run(&scheduled.id).await.unwrap(),
            claimed
        );
        assert_eq!(
            store
                .flow_runs()
                .flow_run_history(&scheduled.id)
                .await
                .unwrap()
                .len(),
            2
        );
    }

    #[tokio::test]
    async fn an_allowed_change_returns_the_run_after_it_with_its_cause() {
        let (store, run, _dir) = store_with_run().await;
        let late = NewState::new(StateType::Scheduled, orch_core::names::LATE, "late");

        let transition = attempt(&store, Change::of(&run, &late, Cause::Late))
            .await
            .unwrap();

        assert_eq!(transition.from, Some(StateType::Scheduled));
        assert_eq!(transition.from_name, "Scheduled");
        assert_eq!(transition.to, StateType::Scheduled);
        assert_eq!(transition.cause, Cause::Late);
        assert_eq!(transition.run.state.name, orch_core::names::LATE);
        assert_eq!(transition.at, transition.run.state.timestamp);
        assert_eq!(
            store.flow_runs().flow_run(&run.id).await.unwrap(),
            transition.run
        );
    }

    #[tokio::test]
    async fn a_late_report_is_checked_against_the_lease_correction_rule() {
        let (store, run, _dir) = store_with_run().await;
        let completed = NewState::new(StateType::Completed, "", "");
        let change = Change {
            rules: Rules::LeaseCorrection,
            ..Change::of(&run, &completed, Cause::LeaseCorrection)
        };

        // A Scheduled run may be ended by a late report; a Running one may not.
        assert!(attempt(&store, change).await.is_ok());
        let (store, run, _dir) = store_with_run().await;
        move_to(&store, &run.id, StateType::Pending).await;
        let running = move_to(&store, &run.id, StateType::Running).await;
        let change = Change {
            rules: Rules::LeaseCorrection,
            ..Change::of(&running, &completed, Cause::LeaseCorrection)
        };
        assert!(matches!(
            attempt(&store, change).await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(store.flow_runs().flow_run(&run.id).await.unwrap(), running);
    }
}
