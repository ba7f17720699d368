//! `AuditService`: the recorded changes, newest first.

use orch_proto::v1 as pb;
use orch_proto::v1::audit_service_server::AuditService;
use tonic::{Request, Response, Status};

use crate::convert;
use crate::error::status;
use crate::state::AppState;

/// Serves the audit trail.
#[derive(Debug, Clone)]
pub struct AuditApi {
    pub(crate) state: AppState,
}

#[tonic::async_trait]
impl AuditService for AuditApi {
    async fn list_audit(
        &self,
        request: Request<pb::ListAuditRequest>,
    ) -> Result<Response<pb::ListAuditResponse>, Status> {
        let request = request.into_inner();
        let records = crate::ops::audit::list(&self.state, request.since_micros, request.limit)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ListAuditResponse {
            records: records.iter().map(convert::record).collect(),
        }))
    }
}
