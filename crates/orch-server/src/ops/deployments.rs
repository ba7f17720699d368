//! Flows and deployments: register (deploy), list, read, run, pause, resume, delete.

use orch_store::{Deployment, DeploymentChange, DeploymentInput, Flow, FlowRun, JsonObject};

use super::OpsResult;
use crate::effects;
use crate::state::AppState;

/// Creates a run of the deployment named by `reference` (id or `flow/name`):
/// `overrides` merged over its parameters, due at `scheduled_at` (default now);
/// a second call with the same non-empty `idempotency_key` returns the first run.
/// The creation is a transition: its effects (workers of its pool woken when
/// it is due now, watchers told, metrics) come from [`effects::apply`].
/// `audit`, the record of the call asking for it, is committed with the new run.
pub async fn run(
    state: &AppState,
    reference: &str,
    overrides: &JsonObject,
    scheduled_at: Option<i64>,
    idempotency_key: &str,
    audit: Option<&super::audit::Pending>,
) -> OpsResult<FlowRun> {
    run_traced(
        state,
        reference,
        overrides,
        scheduled_at,
        idempotency_key,
        audit,
        None,
    )
    .await
}

/// [`run`], for a caller that sent a trace context: the run's trace is
/// then the caller's, its span a child of the caller's, and it keeps the
/// caller's `tracestate`.
pub async fn run_traced(
    state: &AppState,
    reference: &str,
    overrides: &JsonObject,
    scheduled_at: Option<i64>,
    idempotency_key: &str,
    audit: Option<&super::audit::Pending>,
    trace: Option<&orch_core::CallerTrace>,
) -> OpsResult<FlowRun> {
    let record = audit.map(super::audit::Pending::record);
    let created = state
        .store()
        .flow_runs()
        .create_flow_run_audited(
            reference,
            overrides,
            scheduled_at,
            idempotency_key,
            record.as_ref(),
            trace,
        )
        .await?;
    effects::apply(state, &created.transitions);
    let (run, recorded) = created.value;
    if recorded && let Some(pending) = audit {
        pending.written();
    }
    Ok(run)
}

/// Pauses or resumes a deployment. The scheduler is woken either way (a paused
/// deployment's schedules create no runs; a resumed one's are refilled at once)
/// and, on resume, its pool's workers are woken for the runs it held back.
pub async fn set_paused(state: &AppState, reference: &str, paused: bool) -> OpsResult<Deployment> {
    let store = state.store();
    let deployment = store
        .deployments()
        .set_deployment_paused(reference, paused)
        .await?;
    state.wake_scheduler();
    if !paused {
        let pool = store
            .work_pools()
            .work_pool(&deployment.work_pool, 0)
            .await?;
        state.events().runs_ready(Some(&pool.id));
    }
    Ok(deployment)
}

/// Registers or updates deployments all or nothing; says what changed in
/// each. The scheduler is woken so new schedules get their runs at once.
pub async fn apply(
    state: &AppState,
    inputs: &[DeploymentInput],
) -> OpsResult<Vec<DeploymentChange>> {
    let changes = state
        .store()
        .deployments()
        .apply_deployments(inputs)
        .await?;
    state.wake_scheduler();
    Ok(changes)
}

/// Deployments by flow then name, of one flow or all.
pub async fn list(state: &AppState, flow: Option<&str>) -> OpsResult<Vec<Deployment>> {
    let flow = flow.filter(|f| !f.is_empty());
    Ok(state.store().deployments().list_deployments(flow).await?)
}

/// The deployment named by `reference` (id or `flow/name`).
pub async fn get(state: &AppState, reference: &str) -> OpsResult<Deployment> {
    Ok(state.store().deployments().deployment(reference).await?)
}

/// Flows with their deployment counts.
pub async fn flows(state: &AppState) -> OpsResult<Vec<Flow>> {
    Ok(state.store().deployments().list_flows().await?)
}

/// A deployment's latest `count` runs (newest first) and its next `count`
/// scheduled ones (soonest first).
pub async fn recent_runs(
    state: &AppState,
    deployment: &Deployment,
    count: u32,
) -> OpsResult<(Vec<FlowRun>, Vec<FlowRun>)> {
    let store = state.store();
    let last = store.flow_runs().last_runs(&deployment.id, count).await?;
    let upcoming = store
        .flow_runs()
        .upcoming_runs(&deployment.id, count)
        .await?;
    Ok((last, upcoming))
}

/// Deletes a deployment: its runs that have not started are Cancelled (with
/// their effects), its history is kept, and the scheduler forgets its schedules.
pub async fn delete(state: &AppState, reference: &str) -> OpsResult<Deployment> {
    let changed = state
        .store()
        .deployments()
        .delete_deployment(reference)
        .await?;
    effects::apply(state, &changed.transitions);
    state.wake_scheduler();
    Ok(changed.value)
}
