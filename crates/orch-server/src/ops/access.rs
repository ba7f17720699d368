//! The authorization checks that need a request's body: which run a call is
//! about, which pool a worker serves. The authentication layer has already
//! checked the scope (the use case's permission); these hold a flow's per-run
//! credential to its own run and a worker token to its pools. The use
//! cases call them, so the rule is written once for both transports.

use orch_core::auth::Principal;

use super::{OpsError, OpsResult};
use crate::caller::Caller;
use crate::state::AppState;

fn denied(denied: orch_core::auth::Denied) -> OpsError {
    OpsError::PermissionDenied(denied.0)
}

/// May `caller` report on or read run `reference` (an id or a name)?
/// A run credential names its own run by id; a worker token reaches runs of
/// its pools; everyone else was settled by the scope.
pub async fn run(state: &AppState, caller: &Caller, reference: &str) -> OpsResult<()> {
    match &caller.principal {
        Principal::Run { run_id } if run_id == reference => Ok(()),
        Principal::Run { .. } => caller.may_use_run(reference, None).map_err(denied),
        _ if !caller.is_restricted() => Ok(()),
        _ => {
            let run = state.store().flow_runs().flow_run(reference).await?;
            let pool = Some(run.work_pool.as_str()).filter(|p| !p.is_empty());
            caller.may_use_run(&run.id, pool).map_err(denied)
        }
    }
}

/// [`run`] for a state report, whose run the store reads for its write
/// anyway: what can be settled from the credential alone is settled here;
/// for a worker token (whose pools the run's pool must be among) the
/// principal is returned, and the store checks it against the run as it
/// reads it for the write (`FlowRuns::set_flow_run_state_as`), instead of
/// the run being read once more before it. `None`: nothing left to check.
pub fn run_reporter(caller: &Caller, run_id: &str) -> OpsResult<Option<Principal>> {
    match &caller.principal {
        Principal::Run { run_id: own } if own == run_id => Ok(None),
        Principal::Run { .. } => caller
            .may_use_run(run_id, None)
            .map_err(denied)
            .map(|()| None),
        _ if !caller.is_restricted() => Ok(None),
        principal => Ok(Some(principal.clone())),
    }
}

/// [`run`] for every distinct run in `references`.
pub async fn runs(
    state: &AppState,
    caller: &Caller,
    references: std::collections::BTreeSet<String>,
) -> OpsResult<()> {
    if !caller.is_restricted() {
        return Ok(());
    }
    for reference in &references {
        run(state, caller, reference).await?;
    }
    Ok(())
}

/// May `caller` act for pool `pool` (register a worker there)?
pub fn pool(caller: &Caller, pool: &str) -> OpsResult<()> {
    caller.may_use_pool(pool).map_err(denied)
}

/// May `caller` act as worker `worker_id` (heartbeat, subscribe, claim,
/// deregister)? A worker token: only as a worker of its pools that it
/// registered itself (see `Workers::worker_owner`), so one worker's token
/// cannot keep another's lease alive, take its runs or stop it.
pub async fn worker(state: &AppState, caller: &Caller, worker_id: &str) -> OpsResult<()> {
    if !caller.is_restricted() {
        return Ok(());
    }
    let worker = state.store().workers().worker(worker_id).await?;
    pool(caller, &worker.work_pool)?;
    if caller.is_worker_token() {
        let owner = state.store().workers().worker_owner(worker_id).await?;
        if owner.is_none() || owner != caller.credential_id {
            return Err(OpsError::PermissionDenied(format!(
                "worker {:?} ({worker_id}) was registered by another credential than {:?}: a \
                 worker token acts only as the workers it registered itself; start the worker \
                 with this token so that it registers anew",
                worker.name, caller.name
            )));
        }
    }
    Ok(())
}
