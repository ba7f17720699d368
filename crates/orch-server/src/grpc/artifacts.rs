//! `ArtifactService`: parses requests into the artifact use cases
//! ([`crate::artifacts`]) and renders their results.

use orch_proto::v1 as pb;
use orch_proto::v1::artifact_service_server::ArtifactService;
use orch_store::Artifact;
use tonic::{Request, Response, Status};

use crate::artifacts::{self, Publish};
use crate::error::{invalid, status};
use crate::state::AppState;

/// Serves artifact requests.
#[derive(Debug, Clone)]
pub struct ArtifactApi {
    pub(crate) state: AppState,
}

/// The wire form of an artifact.
pub(crate) fn artifact(artifact: &Artifact) -> pb::Artifact {
    pb::Artifact {
        id: artifact.id.clone(),
        flow_run_id: artifact.flow_run_id.clone(),
        flow_run_name: artifact.flow_run_name.clone(),
        flow: artifact.flow.clone(),
        task_run_id: artifact.task_run_id.clone().unwrap_or_default(),
        key: artifact.key.clone().unwrap_or_default(),
        kind: artifact.kind.as_str().to_owned(),
        description: artifact.description.clone(),
        data_json: artifact.data.to_string(),
        created_at_micros: artifact.created_at,
    }
}

#[tonic::async_trait]
impl ArtifactService for ArtifactApi {
    async fn create_artifact(
        &self,
        request: Request<pb::CreateArtifactRequest>,
    ) -> Result<Response<pb::Artifact>, Status> {
        let request = request.into_inner();
        let data = serde_json::from_str(&request.data_json)
            .map_err(|error| invalid(format!("data_json is not JSON: {error}")))?;
        let created = artifacts::publish(
            &self.state,
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
        Ok(Response::new(artifact(&created)))
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
            artifacts: list.iter().map(artifact).collect(),
        }))
    }

    async fn get_artifact(
        &self,
        request: Request<pb::GetArtifactRequest>,
    ) -> Result<Response<pb::Artifact>, Status> {
        let found = artifacts::get(&self.state, &request.into_inner().id)
            .await
            .map_err(status)?;
        Ok(Response::new(artifact(&found)))
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
            artifacts: series.iter().map(artifact).collect(),
        }))
    }
}
