//! `AutomationService`.

use orch_proto::v1 as pb;
use orch_proto::v1::automation_service_server::AutomationService;

use tonic::{Request, Response, Status};

use crate::convert;
use crate::error::status;
use crate::ops;
use crate::state::AppState;

/// Serves automation requests.
#[derive(Debug, Clone)]
pub struct AutomationApi {
    pub(crate) state: AppState,
}

#[tonic::async_trait]
impl AutomationService for AutomationApi {
    async fn apply_automations(
        &self,
        request: Request<pb::ApplyAutomationsRequest>,
    ) -> Result<Response<pb::ApplyAutomationsResponse>, Status> {
        let specs: Vec<String> = request
            .into_inner()
            .automations
            .into_iter()
            .map(|a| a.spec_json)
            .collect();
        let changes = ops::automations::apply(&self.state, &specs)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ApplyAutomationsResponse {
            changes: changes
                .into_iter()
                .map(|(name, change)| pb::AutomationChange {
                    name,
                    change: change.to_owned(),
                })
                .collect(),
        }))
    }

    async fn list_automations(
        &self,
        _request: Request<pb::ListAutomationsRequest>,
    ) -> Result<Response<pb::ListAutomationsResponse>, Status> {
        let automations = ops::automations::list(&self.state).await.map_err(status)?;
        Ok(Response::new(pb::ListAutomationsResponse {
            automations: automations
                .into_iter()
                .map(|(a, unset)| convert::automation(&a, unset))
                .collect(),
        }))
    }

    async fn get_automation(
        &self,
        request: Request<pb::GetAutomationRequest>,
    ) -> Result<Response<pb::Automation>, Status> {
        let (found, unset) = ops::automations::get(&self.state, &request.into_inner().name)
            .await
            .map_err(status)?;
        Ok(Response::new(convert::automation(&found, unset)))
    }

    async fn set_automation_paused(
        &self,
        request: Request<pb::SetAutomationPausedRequest>,
    ) -> Result<Response<pb::Automation>, Status> {
        let request = request.into_inner();
        let (found, unset) =
            ops::automations::set_paused(&self.state, &request.name, request.paused)
                .await
                .map_err(status)?;
        Ok(Response::new(convert::automation(&found, unset)))
    }

    async fn delete_automation(
        &self,
        request: Request<pb::DeleteAutomationRequest>,
    ) -> Result<Response<pb::DeleteAutomationResponse>, Status> {
        ops::automations::delete(&self.state, &request.into_inner().name)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::DeleteAutomationResponse {}))
    }

    async fn automation_history(
        &self,
        request: Request<pb::AutomationHistoryRequest>,
    ) -> Result<Response<pb::AutomationHistoryResponse>, Status> {
        let request = request.into_inner();
        let entries = ops::automations::history(&self.state, &request.name, request.limit)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::AutomationHistoryResponse {
            entries: entries.iter().map(convert::history_entry).collect(),
        }))
    }

    async fn emit_event(
        &self,
        request: Request<pb::EmitEventRequest>,
    ) -> Result<Response<pb::EmitEventResponse>, Status> {
        let caller = crate::auth::caller(&request);
        let request = request.into_inner();
        let position = ops::automations::emit(
            &self.state,
            &caller,
            &request.flow_run_id,
            &request.name,
            &request.payload_json,
        )
        .await
        .map_err(status)?;
        Ok(Response::new(pb::EmitEventResponse { position }))
    }
}
