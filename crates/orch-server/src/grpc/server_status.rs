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
        let started_at = self.state.started_at();
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
            database_writable: health.ok,
            database_write_error: health.error.unwrap_or_default(),
        }))
    }
}
