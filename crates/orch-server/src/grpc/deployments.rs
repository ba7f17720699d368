//! `DeploymentService`.

use orch_proto::v1 as pb;
use orch_proto::v1::deployment_service_server::DeploymentService;
use orch_store::ChangeKind;
use tonic::{Request, Response, Status};

use crate::convert;
use crate::error::status;
use crate::ops::deployments;
use crate::state::AppState;

/// Serves flow and deployment requests.
#[derive(Debug, Clone)]
pub struct DeploymentApi {
    pub(crate) state: AppState,
}

#[tonic::async_trait]
impl DeploymentService for DeploymentApi {
    async fn apply_deployments(
        &self,
        request: Request<pb::ApplyDeploymentsRequest>,
    ) -> Result<Response<pb::ApplyDeploymentsResponse>, Status> {
        let inputs = request
            .into_inner()
            .deployments
            .into_iter()
            .map(convert::deployment_input)
            .collect::<Result<Vec<_>, Status>>()?;
        let changes = deployments::apply(&self.state, &inputs)
            .await
            .map_err(status)?;
        let changes = changes
            .into_iter()
            .map(|change| pb::DeploymentChange {
                flow: change.flow,
                name: change.name,
                kind: match change.kind {
                    ChangeKind::Created => pb::ChangeKind::Created,
                    ChangeKind::Updated => pb::ChangeKind::Updated,
                    ChangeKind::Unchanged => pb::ChangeKind::Unchanged,
                } as i32,
                changed_fields: change.changed_fields,
                flow_created: change.flow_created,
            })
            .collect();
        Ok(Response::new(pb::ApplyDeploymentsResponse { changes }))
    }

    async fn list_deployments(
        &self,
        request: Request<pb::ListDeploymentsRequest>,
    ) -> Result<Response<pb::ListDeploymentsResponse>, Status> {
        let flow = request.into_inner().flow;
        let deployments = deployments::list(&self.state, Some(&flow))
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ListDeploymentsResponse {
            deployments: deployments.iter().map(convert::deployment).collect(),
        }))
    }

    async fn get_deployment(
        &self,
        request: Request<pb::GetDeploymentRequest>,
    ) -> Result<Response<pb::Deployment>, Status> {
        let deployment = deployments::get(&self.state, &request.into_inner().deployment)
            .await
            .map_err(status)?;
        Ok(Response::new(convert::deployment(&deployment)))
    }

    async fn update_deployment(
        &self,
        request: Request<pb::UpdateDeploymentRequest>,
    ) -> Result<Response<pb::Deployment>, Status> {
        let request = request.into_inner();
        let deployment = match request.paused {
            Some(paused) => deployments::set_paused(&self.state, &request.deployment, paused).await,
            None => deployments::get(&self.state, &request.deployment).await,
        }
        .map_err(status)?;
        Ok(Response::new(convert::deployment(&deployment)))
    }

    async fn delete_deployment(
        &self,
        request: Request<pb::DeleteDeploymentRequest>,
    ) -> Result<Response<pb::DeleteDeploymentResponse>, Status> {
        deployments::delete(&self.state, &request.into_inner().deployment)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::DeleteDeploymentResponse {}))
    }

    async fn list_flows(
        &self,
        _request: Request<pb::ListFlowsRequest>,
    ) -> Result<Response<pb::ListFlowsResponse>, Status> {
        let flows = deployments::flows(&self.state).await.map_err(status)?;
        Ok(Response::new(pb::ListFlowsResponse {
            flows: flows
                .into_iter()
                .map(|flow| pb::Flow {
                    id: flow.id,
                    name: flow.name,
                    created_at_micros: flow.created_at,
                    deployment_count: flow.deployment_count,
                })
                .collect(),
        }))
    }

    async fn run_deployment(
        &self,
        request: Request<pb::RunDeploymentRequest>,
    ) -> Result<Response<pb::FlowRun>, Status> {
        let audit = request
            .extensions()
            .get::<crate::ops::audit::Pending>()
            .cloned();
        let metadata = request.metadata();
        let trace = crate::tracing_export::caller_trace(|name| {
            metadata
                .get(name)
                .map(tonic::metadata::MetadataValue::as_bytes)
        })
        .map_err(crate::error::invalid)?;
        let request = request.into_inner();
        let overrides = convert::json_object("parameters", &request.parameters_json)?;
        let run = deployments::run_traced(
            &self.state,
            &request.deployment,
            &overrides,
            request.scheduled_at_micros,
            &request.idempotency_key,
            audit.as_ref(),
            trace.as_ref(),
        )
        .await
        .map_err(status)?;
        Ok(Response::new(convert::flow_run(&run)))
    }
}
