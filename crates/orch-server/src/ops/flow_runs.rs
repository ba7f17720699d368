//! Flow runs: read one with its history, report a state, cancel, retry,
//! delete, write logs.

use std::collections::BTreeSet;

use orch_core::run_deletion::DeleteFilter;
use orch_store::{FlowRun, LogLine, Proposal, Pruned, StoreError, TransitionResult};

use super::{OpsError, OpsResult};
use crate::caller::Caller;
use crate::effects;
use crate::events::Event;
use crate::state::AppState;

pub use orch_store::RunDetail;

/// The run named by `reference` (id, unique id prefix or name), with its
/// history, task runs and subflow runs, for a caller who may read it.
pub async fn detail(state: &AppState, caller: &Caller, reference: &str) -> OpsResult<RunDetail> {
    super::access::run(state, caller, reference).await?;
    let store = state.store();
    let run = store.flow_runs().flow_run(reference).await?;
    let history = store.flow_runs().flow_run_history(&run.id).await?;
    let task_runs = store.task_runs().list_task_runs(&run.id).await?;
    let subflow_runs = store.flow_runs().subflow_runs(&run.id).await?;
    Ok(RunDetail {
        run,
        history,
        task_runs,
        subflow_runs,
    })
}

/// Cancels a run: a Scheduled one ends Cancelled at once; a started one
/// becomes Cancelling and its worker is told to kill it at once.
/// Cancelling a run already Cancelling repeats the kill request.
pub async fn cancel(state: &AppState, reference: &str) -> OpsResult<FlowRun> {
    let store = state.store();
    let run = store.flow_runs().flow_run(reference).await?;
    let changed = store.flow_runs().cancel_flow_run(&run.id).await?;
    let (run, _) = changed.value;
    if changed.transitions.is_empty() {
        effects::cancel_process(state, &run);
    }
    effects::apply(state, &changed.transitions);
    Ok(run)
}

/// A worker's or flow's report that run `run_id` is in a new state: applied
/// when allowed (a failure with retries left becomes AwaitingRetry),
/// otherwise rejected with the reason; resending the same `transition_id`
/// changes nothing.
/// A run's own credential reports on its own run only; a worker token on
/// runs of its pools.
pub async fn set_state(
    state: &AppState,
    caller: &Caller,
    run_id: &str,
    proposal: Proposal,
) -> OpsResult<TransitionResult> {
    let flow_runs = state.store().flow_runs();
    let changed = match super::access::run_reporter(caller, run_id)? {
        // A worker token: the run's pool is checked as the run is read for
        // the write (no read of its own).
        Some(reporter) => {
            flow_runs
                .set_flow_run_state_as(run_id, proposal, &reporter)
                .await?
        }
        None => flow_runs.set_flow_run_state(run_id, proposal).await?,
    };
    effects::apply(state, &changed.transitions);
    Ok(changed.value)
}

/// Several reports at once (a worker's `SetFlowRunStates`), each as
/// [`set_state`] with its own check and effects, made at the same moment so
/// that they share the store's group commit. Answers in order; a refused or
/// failed report fails alone.
pub async fn set_states(
    state: &AppState,
    caller: &Caller,
    reports: Vec<(String, Proposal)>,
) -> Vec<OpsResult<TransitionResult>> {
    futures::future::join_all(
        reports.into_iter().map(|(run_id, proposal)| async move {
            set_state(state, caller, &run_id, proposal).await
        }),
    )
    .await
}

/// Stores log lines (idempotent per emitter and sequence number) of runs
/// the caller may report on, and tells the runs' watchers; returns how many
/// lines were new.
pub async fn write_logs(state: &AppState, caller: &Caller, lines: &[LogLine]) -> OpsResult<u64> {
    let runs = lines.iter().map(|l| l.flow_run_id.clone()).collect();
    super::access::runs(state, caller, runs).await?;
    let stored = state.store().logs().write_logs(lines).await?;
    let runs: BTreeSet<&str> = lines.iter().map(|l| l.flow_run_id.as_str()).collect();
    for run_id in runs {
        state.events().publish(Event::LogsWritten {
            run_id: run_id.to_string(),
        });
    }
    Ok(stored)
}

/// Starts a new run of a finished run's deployment with the same parameters.
pub async fn retry(state: &AppState, reference: &str) -> OpsResult<FlowRun> {
    let store = state.store();
    let run = store.flow_runs().flow_run(reference).await?;
    if !run.state.kind.is_terminal() {
        return Err(OpsError::from(StoreError::Conflict(format!(
            "flow run {} is {}: only a finished run can be retried; cancel it first",
            run.name, run.state.name
        ))));
    }
    let Some(deployment_id) = run.deployment_id.clone() else {
        return Err(OpsError::from(StoreError::Conflict(format!(
            "flow run {} has no deployment to run again",
            run.name
        ))));
    };
    let created = store
        .flow_runs()
        .create_flow_run(&deployment_id, &run.parameters, None, "")
        .await?;
    effects::apply(state, &created.transitions);
    Ok(created.value)
}

/// Deletes the finished runs named by `references` (ids, unique id prefixes
/// or names) with their states, task runs, artifacts and log lines, all or
/// none: one that is not finished fails the call (cancel it first). Returns
/// the deleted runs and what went with them.
pub async fn delete(state: &AppState, references: &[String]) -> OpsResult<(Vec<FlowRun>, Pruned)> {
    if references.is_empty() {
        return Err(OpsError::Invalid(
            "name the flow runs to delete (ids or id prefixes), or delete by filter: --state failed --before 30d".into(),
        ));
    }
    let store = state.store();
    let mut ids = Vec::with_capacity(references.len());
    for reference in references {
        ids.push(store.flow_runs().flow_run(reference).await?.id);
    }
    Ok(store.maintenance().delete_flow_runs(&ids).await?)
}

/// Deletes every run that ended in `state` longer than `before` ago (e.g.
/// "failed", "30d"), in small batches as pruning does; with `dry_run`, only
/// counts them. Returns what was (or would be) deleted.
pub async fn delete_matching(
    state: &AppState,
    run_state: &str,
    before: &str,
    dry_run: bool,
) -> OpsResult<Pruned> {
    let filter = DeleteFilter::parse(run_state, before)
        .map_err(|error| OpsError::Invalid(error.to_string()))?;
    let store = state.store();
    let cutoff = filter.cutoff_micros(state.now());
    if dry_run {
        return Ok(store
            .maintenance()
            .count_finished_runs(filter.state, cutoff)
            .await?);
    }
    let batch = state.config().retention.batch;
    let mut total = Pruned::default();
    loop {
        let deleted = store
            .maintenance()
            .delete_finished_runs_batch(filter.state, cutoff, batch)
            .await?;
        if deleted.is_empty() {
            return Ok(total);
        }
        total += deleted;
        tokio::task::yield_now().await;
    }
}
