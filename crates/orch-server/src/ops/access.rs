//! The authorization checks that need a request's body: which run a call is
//! about, which pool a worker serves. The authentication layer has already
//! checked the scope (`crate::auth::rules`); these hold a flow's per-run
//! credential to its own run and a worker token to its pools. Both
//! transports call them, so the rule is written once.

use orch_core::auth::Principal;
use orch_store::StoreError;

use crate::api::ApiError;
use crate::caller::Caller;
use crate::state::AppState;

/// Why a check failed.
#[derive(Debug)]
pub enum AccessError {
    /// The caller may not (403 / PermissionDenied).
    Denied(String),
    /// The run or worker could not be looked up.
    Store(StoreError),
}

impl From<StoreError> for AccessError {
    fn from(error: StoreError) -> AccessError {
        AccessError::Store(error)
    }
}

impl From<AccessError> for StoreError {
    fn from(error: AccessError) -> StoreError {
        match error {
            AccessError::Denied(message) => StoreError::Forbidden(message),
            AccessError::Store(error) => error,
        }
    }
}

impl From<AccessError> for tonic::Status {
    fn from(error: AccessError) -> tonic::Status {
        match error {
            AccessError::Denied(message) => tonic::Status::permission_denied(message),
            AccessError::Store(error) => crate::error::status(error),
        }
    }
}

impl From<AccessError> for ApiError {
    fn from(error: AccessError) -> ApiError {
        match error {
            AccessError::Denied(message) => ApiError {
                status: axum::http::StatusCode::FORBIDDEN,
                message,
            },
            AccessError::Store(error) => error.into(),
        }
    }
}

/// May `caller` report on or read run `reference` (an id or a name)?
/// A run credential names its own run by id; a worker token reaches runs of
/// its pools; everyone else was settled by the scope.
pub async fn run(state: &AppState, caller: &Caller, reference: &str) -> Result<(), AccessError> {
    match &caller.principal {
        Principal::Run { run_id } if run_id == reference => Ok(()),
        Principal::Run { .. } => caller
            .may_use_run(reference, None)
            .map_err(|denied| AccessError::Denied(denied.0)),
        _ if !caller.is_restricted() => Ok(()),
        _ => {
            let run = state.store().flow_run(reference).await?;
            let pool = Some(run.work_pool.as_str()).filter(|p| !p.is_empty());
            caller
                .may_use_run(&run.id, pool)
                .map_err(|denied| AccessError::Denied(denied.0))
        }
    }
}

/// [`run`] for every distinct run in `references`.
pub async fn runs(
    state: &AppState,
    caller: &Caller,
    references: std::collections::BTreeSet<String>,
) -> Result<(), AccessError> {
    if !caller.is_restricted() {
        return Ok(());
    }
    for reference in &references {
        run(state, caller, reference).await?;
    }
    Ok(())
}

/// May `caller` act for pool `pool` (register a worker there)?
pub fn pool(caller: &Caller, pool: &str) -> Result<(), AccessError> {
    caller
        .may_use_pool(pool)
        .map_err(|denied| AccessError::Denied(denied.0))
}

/// May `caller` act as worker `worker_id` (heartbeat, subscribe, claim,
/// deregister)? A worker token: only as a worker of its pools that it
/// registered itself (see `Store::worker_owner`), so one worker's token
/// cannot keep another's lease alive, take its runs or stop it.
pub async fn worker(state: &AppState, caller: &Caller, worker_id: &str) -> Result<(), AccessError> {
    if !caller.is_restricted() {
        return Ok(());
    }
    let worker = state.store().worker(worker_id).await?;
    pool(caller, &worker.work_pool)?;
    if caller.is_worker_token() {
        let owner = state.store().worker_owner(worker_id).await?;
        if owner.is_none() || owner != caller.credential_id {
            return Err(AccessError::Denied(format!(
                "worker {:?} ({worker_id}) was registered by another credential than {:?}: a \
                 worker token acts only as the workers it registered itself; start the worker \
                 with this token so that it registers anew",
                worker.name, caller.name
            )));
        }
    }
    Ok(())
}
