//! The server itself: its status, and pruning on demand.

use orch_store::{Pruned, SchemaVersion, WriteHealth};

use super::OpsResult;
use crate::maintenance::Totals;
use crate::state::AppState;

/// What `orch server status` shows.
#[derive(Debug, Clone)]
pub struct Status {
    /// The database's backend (`sqlite`, `postgres`).
    pub backend: &'static str,
    /// The database URL, password redacted.
    pub database_url: String,
    /// When the server started (micros).
    pub started_at: i64,
    /// Seconds since then.
    pub uptime_seconds: u64,
    /// Workers whose lease is alive.
    pub workers_online: i64,
    /// Applied and latest schema versions.
    pub schema: SchemaVersion,
    /// What the pruner and automatic backups did since start.
    pub maintenance: Totals,
    /// Whether the database stores writes.
    pub writes: WriteHealth,
    /// This replica's name.
    pub replica: String,
    /// Who runs each background duty, and whether it is this replica.
    pub duties: Vec<(orch_store::DutyLease, bool)>,
    /// The replicas alive on the database, and whether each is this one.
    pub replicas: Vec<(orch_store::Replica, bool)>,
    /// How many replicas this one divides its shared limits by.
    pub limits_shared_by: usize,
}

/// The server's status now.
pub async fn status(state: &AppState) -> OpsResult<Status> {
    let store = state.store();
    let workers_online = store
        .workers()
        .count_workers_online(state.online_since())
        .await?;
    let schema = store.maintenance().schema_version().await?;
    let replica = state.duties().replica();
    let duties = store
        .replicas()
        .duty_leases()
        .await?
        .into_iter()
        .map(|lease| {
            let mine = lease.holder == replica;
            (lease, mine)
        })
        .collect();
    let replicas = store
        .replicas()
        .live_replicas()
        .await?
        .into_iter()
        .map(|live| {
            let mine = live.id == replica;
            (live, mine)
        })
        .collect();
    Ok(Status {
        backend: store.backend().as_str(),
        database_url: store.redacted_url(),
        started_at: state.started_at().timestamp_micros(),
        uptime_seconds: uptime_seconds(state),
        workers_online,
        schema,
        maintenance: crate::maintenance::totals(state).snapshot(),
        writes: store.write_health(),
        replica: state.duties().name().to_owned(),
        duties,
        replicas,
        limits_shared_by: state.duties().live_replicas().get(),
    })
}

/// Seconds since the server started, by its clock.
pub fn uptime_seconds(state: &AppState) -> u64 {
    (state.store().clock().now() - state.started_at())
        .num_seconds()
        .max(0) as u64
}

/// Runs a pruning pass now (or, with `dry_run`, counts what one would delete).
pub async fn prune(state: &AppState, dry_run: bool) -> OpsResult<Pruned> {
    Ok(crate::maintenance::prune(state, dry_run).await?)
}

/// A one-time dashboard login code for `caller`'s own token, and when it
/// expires (micros); `None` when the server does not authenticate (the
/// dashboard needs no login then). A flow's run credential cannot log in.
pub async fn login_code(
    state: &AppState,
    caller: &crate::caller::Caller,
) -> OpsResult<Option<(String, i64)>> {
    match &caller.principal {
        orch_core::auth::Principal::Unchecked => Ok(None),
        orch_core::auth::Principal::Run { .. } => Err(super::OpsError::PermissionDenied(
            "a run credential cannot log in to the dashboard: use an API token ('orch token create NAME --scope read')".into(),
        )),
        _ => Ok(Some(state.store().tokens().create_login_code(&caller.name).await?)),
    }
}
