//! Flow runs: read one with its history, cancel, retry.

use orch_store::{FlowRun, State, StoreError, TaskRun};

use super::{OpsError, OpsResult};
use crate::events::Event;
use crate::state::AppState;

/// A run with its state history (oldest first) and task runs.
#[derive(Debug, Clone)]
pub struct RunDetail {
    /// The run.
    pub run: FlowRun,
    /// Its states, oldest first.
    pub history: Vec<State>,
    /// Its task runs, in creation order.
    pub task_runs: Vec<TaskRun>,
}

/// The run named by `reference` (id, unique id prefix or name), with its history
/// and task runs.
pub async fn detail(state: &AppState, reference: &str) -> OpsResult<RunDetail> {
    let store = state.store();
    let run = store.flow_run(reference).await?;
    let history = store.flow_run_history(&run.id).await?;
    let task_runs = store.list_task_runs(&run.id).await?;
    Ok(RunDetail {
        run,
        history,
        task_runs,
    })
}

/// Cancels a run: a Scheduled one ends Cancelled at once; a started one
/// becomes Cancelling and its worker is told to kill it at once.
pub async fn cancel(state: &AppState, reference: &str) -> OpsResult<FlowRun> {
    let store = state.store();
    let run = store.flow_run(reference).await?;
    let (run, worker) = store.cancel_flow_run(&run.id).await?;
    state.announce_run(&run);
    if let Some(worker_id) = worker {
        state.events().publish(Event::CancelRun {
            worker_id,
            run_id: run.id.clone(),
        });
    }
    Ok(run)
}

/// Starts a new run of a finished run's deployment with the same parameters.
pub async fn retry(state: &AppState, reference: &str) -> OpsResult<FlowRun> {
    let store = state.store();
    let run = store.flow_run(reference).await?;
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
    let new_run = store
        .create_flow_run(&deployment_id, &run.parameters, None, "")
        .await?;
    state.events().runs_ready(new_run.work_pool_id.as_deref());
    Ok(new_run)
}
