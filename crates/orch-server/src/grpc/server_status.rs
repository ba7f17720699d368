//! `ServerService`: [`crate::ops::server`] over gRPC.

use orch_proto::v1 as pb;
use orch_proto::v1::server_service_server::ServerService;
use tonic::{Request, Response, Status};

use crate::error::status;
use crate::ops::server;
use crate::state::AppState;

/// Serves status requests.
#[derive(Debug, Clone)]
pub struct ServerApi {
    pub(crate) state: AppState,
}

#[tonic::async_trait]
impl ServerService for ServerApi {
    async fn get_status(
        &self,
        _request: Request<pb::GetStatusRequest>,
    ) -> Result<Response<pb::ServerStatus>, Status> {
        let now = server::status(&self.state).await.map_err(status)?;
        let config = self.state.config();
        let totals = now.maintenance;
        Ok(Response::new(pb::ServerStatus {
            version: crate::VERSION.to_string(),
            database_backend: now.backend.to_string(),
            database_url: now.database_url,
            started_at_micros: now.started_at,
            uptime_seconds: now.uptime_seconds,
            workers_online: now.workers_online,
            schema_version: now.schema.applied,
            schema_latest: now.schema.latest,
            retention: config.retention.policy.describe(),
            pruned_runs: totals.pruned.runs,
            pruned_log_lines: totals.pruned.log_lines,
            last_prune_micros: totals.last_prune_micros.unwrap_or(0),
            backup_dir: config
                .backup
                .as_ref()
                .map(|backup| backup.dir.display().to_string())
                .unwrap_or_default(),
            last_backup_micros: totals.last_backup_micros.unwrap_or(0),
            last_backup_file: totals.last_backup_file.unwrap_or_default(),
            last_backup_error: totals.last_backup_error.unwrap_or_default(),
            database_writable: now.writes.ok,
            database_write_error: now.writes.error.unwrap_or_default(),
            replica: now.replica,
            duties: now
                .duties
                .into_iter()
                .map(|(lease, this_replica)| pb::DutyHolder {
                    duty: lease.duty,
                    holder: lease.holder_name,
                    this_replica,
                    acquired_at_micros: lease.acquired_at,
                    expires_at_micros: lease.expires_at,
                })
                .collect(),
            replicas: now
                .replicas
                .into_iter()
                .map(|(live, this_replica)| pb::LiveReplica {
                    name: live.name,
                    this_replica,
                    started_at_micros: live.started_at,
                    renewed_at_micros: live.renewed_at,
                })
                .collect(),
            limits_shared_by: u32::try_from(now.limits_shared_by).unwrap_or(u32::MAX),
        }))
    }

    async fn prune(
        &self,
        request: Request<pb::PruneRequest>,
    ) -> Result<Response<pb::PruneResponse>, Status> {
        let dry_run = request.into_inner().dry_run;
        let pruned = server::prune(&self.state, dry_run).await.map_err(status)?;
        Ok(Response::new(pb::PruneResponse {
            runs: pruned.runs,
            log_lines: pruned.log_lines,
            dry_run,
            retention: self.state.config().retention.policy.describe(),
        }))
    }

    async fn create_login_link(
        &self,
        request: Request<pb::CreateLoginLinkRequest>,
    ) -> Result<Response<pb::LoginLink>, Status> {
        let caller = crate::auth::caller(&request);
        let link = server::login_code(&self.state, &caller)
            .await
            .map_err(status)?;
        let (code, expires_at_micros) = link.unwrap_or_default();
        Ok(Response::new(pb::LoginLink {
            code,
            expires_at_micros,
        }))
    }
}
