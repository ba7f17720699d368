//! `ServerService`.

use orch_proto::v1 as pb;
use orch_proto::v1::server_service_server::ServerService;
use tonic::{Request, Response, Status};

use crate::error::status;
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
        let store = self.state.store();
        let workers_online = store
            .count_workers_online(self.state.online_since())
            .await
            .map_err(status)?;
        let schema = store.schema_version().await.map_err(status)?;
        let started_at = self.state.started_at();
        let config = self.state.config();
        let totals = self.state.maintenance().snapshot();
        let health = store.write_health();
        Ok(Response::new(pb::ServerStatus {
            version: crate::VERSION.to_string(),
            database_backend: store.backend().as_str().to_string(),
            database_url: store.redacted_url(),
            started_at_micros: started_at.timestamp_micros(),
            uptime_seconds: (self.state.store().clock().now() - started_at)
                .num_seconds()
                .max(0) as u64,
            workers_online,
            schema_version: schema.applied,
            schema_latest: schema.latest,
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
            database_writable: health.ok,
            database_write_error: health.error.unwrap_or_default(),
        }))
    }

    async fn prune(
        &self,
        request: Request<pb::PruneRequest>,
    ) -> Result<Response<pb::PruneResponse>, Status> {
        let dry_run = request.into_inner().dry_run;
        let pruned = crate::maintenance::prune(&self.state, dry_run)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::PruneResponse {
            runs: pruned.runs,
            log_lines: pruned.log_lines,
            dry_run,
            retention: self.state.config().retention.policy.describe(),
        }))
    }
}
