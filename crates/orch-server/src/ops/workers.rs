//! Workers: register, heartbeat (with reconciling claims the worker never
//! received), claim runs, deregister.

use std::time::Duration;

use orch_store::{ClaimedRun, Worker};

use super::secrets::{RunEnvironment, open_environment};
use super::{OpsError, OpsResult};
use crate::caller::Caller;
use crate::effects;
use crate::state::AppState;

/// A claim the worker has not reported this long after it was made was
/// never received (see `Workers::release_unheld_claims`).
const CLAIM_GRACE: Duration = Duration::from_secs(15);

/// A worker starting, as a transport received it.
#[derive(Debug, Clone, Default)]
pub struct Registration {
    /// Its name.
    pub name: String,
    /// The pool it serves.
    pub work_pool: String,
    /// The machine it runs on.
    pub hostname: String,
    /// Most runs at once; 0: no limit.
    pub limit: u32,
    /// Its version.
    pub version: String,
    /// Seconds between its heartbeats; 0 or not finite: the default.
    pub heartbeat_interval_seconds: f64,
}

/// Registers a worker (each start gets a new id), by a caller who may serve
/// its pool. It is registered by the caller's credential: a worker token may
/// later act only as the workers it registered.
pub async fn register(
    state: &AppState,
    caller: &Caller,
    registration: Registration,
) -> OpsResult<Worker> {
    super::access::pool(caller, &registration.work_pool)?;
    orch_core::NameKind::Worker
        .check(&registration.name)
        .map_err(|error| OpsError::Invalid(format!("{error} (orch worker start --name)")))?;
    orch_core::NameKind::WorkPool
        .check(&registration.work_pool)
        .map_err(|error| OpsError::Invalid(format!("{error} (orch worker start --pool)")))?;
    let store = state.store();
    let mut worker = store
        .workers()
        .register_worker_for(
            caller.credential_id.as_deref(),
            &registration.name,
            &registration.work_pool,
            &registration.hostname,
            registration.limit,
            &registration.version,
        )
        .await?;
    let interval = registration.heartbeat_interval_seconds;
    if interval.is_finite() && interval > 0.0 {
        worker = store
            .workers()
            .set_worker_heartbeat_interval(&worker.id, (interval * 1e6) as i64)
            .await?;
    }
    tracing::info!(worker = %worker.name, pool = %worker.work_pool, "worker registered");
    Ok(worker)
}

/// What a heartbeat's answer tells the worker.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HeartbeatAnswer {
    /// Its runs that must be cancelled (Cancelling).
    pub cancel: Vec<String>,
    /// Runs it says it executes that it no longer holds (their lease
    /// expired, or they ended): it stops them and reports nothing.
    pub lost: Vec<String>,
}

/// Records a worker's heartbeat; `running` are the runs it has. Claims it
/// does not have (their response was lost) go back to the queue, except
/// right after a stall, when this heartbeat may be old. Returns the runs it
/// must kill: Cancelling ones, and ones it no longer holds.
pub async fn heartbeat(
    state: &AppState,
    caller: &Caller,
    worker_id: &str,
    running: &[String],
) -> OpsResult<HeartbeatAnswer> {
    super::access::worker(state, caller, worker_id).await?;
    let store = state.background_store();
    let cancel = store.workers().heartbeat(worker_id).await?;
    if !state.within_stall_grace() {
        match store
            .workers()
            .release_unheld_claims(worker_id, running, state.micros_ago(CLAIM_GRACE))
            .await
        {
            Ok(released) => {
                for transition in &released.transitions {
                    tracing::warn!(run = %transition.run.id, worker = %worker_id, "released a claim its worker never received");
                }
                effects::apply(state, &released.transitions);
            }
            Err(error) => tracing::warn!(%error, "reconciling a worker's claims failed"),
        }
    }
    let lost = store.workers().runs_not_held(worker_id, running).await?;
    for run in &lost {
        tracing::warn!(run = %run, worker = %worker_id, "a worker still executes a run it no longer holds (its lease expired); told it to stop");
    }
    Ok(HeartbeatAnswer { cancel, lost })
}

/// A claimed run with what its worker needs to start it.
#[derive(Debug)]
pub struct Claimed {
    /// The run (now Pending), its entrypoint and, with authentication on,
    /// its flow's credential; its environment is moved to `environment`.
    pub claim: ClaimedRun,
    /// Its deployment's variables and its secrets' values.
    pub environment: RunEnvironment,
}

/// Claims up to `max_runs` due runs of the worker's pool for it. With
/// authentication on, each run's credential is made in the claim's
/// transaction. The claim is made before the secrets are opened: if they
/// cannot be read, the worker still gets the run and fails it, naming what
/// is missing, so no run is lost.
pub async fn claim(
    state: &AppState,
    caller: &Caller,
    worker_id: &str,
    max_runs: u32,
) -> OpsResult<Vec<Claimed>> {
    super::access::worker(state, caller, worker_id).await?;
    let store = state.store();
    let changed = if state.config().auth {
        store
            .claims()
            .claim_runs_with_credentials(worker_id, max_runs)
            .await?
    } else {
        store.claims().claim_runs(worker_id, max_runs).await?
    };
    effects::apply(state, &changed.transitions);
    let mut claimed = Vec::with_capacity(changed.value.len());
    for mut claim in changed.value {
        let environment = std::mem::take(&mut claim.environment);
        let environment = open_environment(state, &claim.run.id, environment)
            .await
            .unwrap_or_else(|error| {
                tracing::error!(run = %claim.run.id, %error, "cannot read the run's environment");
                RunEnvironment {
                    missing: vec!["(the server could not read them)".to_owned()],
                    ..Default::default()
                }
            });
        claimed.push(Claimed { claim, environment });
    }
    Ok(claimed)
}

/// The worker with id `worker_id`, whose event stream the caller opens
/// (its pool says which wake-ups are its).
pub async fn subscribe(state: &AppState, caller: &Caller, worker_id: &str) -> OpsResult<Worker> {
    super::access::worker(state, caller, worker_id).await?;
    Ok(state.store().workers().worker(worker_id).await?)
}

/// Marks a worker stopped (a clean shutdown); its runs' leases end at once.
pub async fn deregister(state: &AppState, caller: &Caller, worker_id: &str) -> OpsResult<()> {
    super::access::worker(state, caller, worker_id).await?;
    Ok(state.store().workers().deregister_worker(worker_id).await?)
}
