//! `ArtifactService`: parses requests into the artifact use cases
//! ([`crate::ops::artifacts`]) and renders their results.

use crate::convert;
use orch_proto::v1 as pb;
use orch_proto::v1::artifact_service_server::ArtifactService;
use tonic::{Request, Response, Status};

use crate::error::{invalid, status};
use crate::ops::artifacts::{self, Publish};
use crate::state::AppState;

/// Serves artifact requests.
#[derive(Debug, Clone)]
pub struct ArtifactApi {
    pub(crate) state: AppState,
}

#[tonic::async_trait]
impl ArtifactService for ArtifactApi {
    async fn create_artifact(
        &self,
        request: Request<pb::CreateArtifactRequest>,
    ) -> Result<Response<pb::Artifact>, Status> {
        let caller = crate::auth::caller(&request);
        let request = request.into_inner();
        let data = serde_json::from_str(&request.data_json)
            .map_err(|error| invalid(format!("data_json is not JSON: {error}")))?;
        let created = artifacts::publish(
            &self.state,
            &caller,
            Publish {
                flow_run_id: request.flow_run_id,
                task_run_id: request.task_run_id,
                key: request.key,
                kind: request.kind,
                description: request.description,
                data,
            },
        )
        .await
        .map_err(status)?;
        Ok(Response::new(convert::artifact(&created)))
    }

    async fn list_artifacts(
        &self,
        request: Request<pb::ListArtifactsRequest>,
    ) -> Result<Response<pb::ListArtifactsResponse>, Status> {
        let request = request.into_inner();
        let list = artifacts::list(
            &self.state,
            &request.key,
            &request.flow_run_id,
            request.limit,
        )
        .await
        .map_err(status)?;
        Ok(Response::new(pb::ListArtifactsResponse {
            artifacts: list.iter().map(convert::artifact).collect(),
        }))
    }

    async fn get_artifact(
        &self,
        request: Request<pb::GetArtifactRequest>,
    ) -> Result<Response<pb::Artifact>, Status> {
        let found = artifacts::get(&self.state, &request.into_inner().id)
            .await
            .map_err(status)?;
        Ok(Response::new(convert::artifact(&found)))
    }

    async fn get_artifact_series(
        &self,
        request: Request<pb::GetArtifactSeriesRequest>,
    ) -> Result<Response<pb::ArtifactSeries>, Status> {
        let request = request.into_inner();
        let series = artifacts::series(&self.state, &request.key, request.limit)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ArtifactSeries {
            key: request.key.trim().to_owned(),
            artifacts: series.iter().map(convert::artifact).collect(),
        }))
    }
}
