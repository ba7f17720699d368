//! Task runs: the steps of a flow run, as its SDK reports them.

use orch_store::TaskRun;

use super::OpsResult;
use crate::caller::Caller;
use crate::effects;
use crate::state::AppState;

/// Stores task run snapshots (each moves only forward, see
/// `TaskRuns::report_task_runs`) and tells the flow runs' watchers. A run's
/// credential reports only for its own run, and the store refuses task run
/// ids that belong to another run.
pub async fn report(state: &AppState, caller: &Caller, task_runs: &[TaskRun]) -> OpsResult<()> {
    let runs = task_runs
        .iter()
        .map(|task| task.flow_run_id.clone())
        .collect();
    super::access::runs(state, caller, runs).await?;
    let changed = state
        .store()
        .task_runs()
        .report_task_runs(task_runs)
        .await?;
    effects::apply_task_runs(state, &changed);
    Ok(())
}

/// The task runs of the flow run named by `reference` (id or name), for a
/// caller who may read that run.
pub async fn list(state: &AppState, caller: &Caller, reference: &str) -> OpsResult<Vec<TaskRun>> {
    super::access::run(state, caller, reference).await?;
    let store = state.store();
    let run = store.flow_runs().flow_run(reference).await?;
    Ok(store.task_runs().list_task_runs(&run.id).await?)
}
