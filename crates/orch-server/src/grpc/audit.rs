//! `AuditService`: the recorded changes, newest first.

use orch_proto::v1 as pb;
use orch_proto::v1::audit_service_server::AuditService;
use tonic::{Request, Response, Status};

use crate::error::status;
use crate::state::AppState;

/// Serves the audit trail.
#[derive(Debug, Clone)]
pub struct AuditApi {
    pub(crate) state: AppState,
}

/// The wire form of a record.
pub(crate) fn record(record: &orch_store::AuditRecord) -> pb::AuditRecord {
    pb::AuditRecord {
        id: record.id.clone(),
        at_micros: record.at,
        caller: record.caller.clone(),
        address: record.address.clone(),
        action: record.action.clone(),
        target: record.target.clone(),
        outcome: record.outcome.clone(),
        transport: record.transport.clone(),
    }
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
            records: records.iter().map(record).collect(),
        }))
    }
}
