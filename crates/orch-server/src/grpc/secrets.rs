//! `SecretService`: values go in, never out.

use orch_proto::v1 as pb;
use orch_proto::v1::secret_service_server::SecretService;
use tonic::{Request, Response, Status};

use crate::convert;
use crate::error::status;
use crate::ops;
use crate::state::AppState;

/// Serves secret requests.
#[derive(Debug, Clone)]
pub struct SecretApi {
    pub(crate) state: AppState,
}

#[tonic::async_trait]
impl SecretService for SecretApi {
    async fn set_secret(
        &self,
        request: Request<pb::SetSecretRequest>,
    ) -> Result<Response<pb::SetSecretResponse>, Status> {
        let request = request.into_inner();
        let created = ops::secrets::set(&self.state, &request.name, &request.value)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::SetSecretResponse { created }))
    }

    async fn list_secrets(
        &self,
        _request: Request<pb::ListSecretsRequest>,
    ) -> Result<Response<pb::ListSecretsResponse>, Status> {
        let secrets = ops::secrets::list(&self.state).await.map_err(status)?;
        Ok(Response::new(pb::ListSecretsResponse {
            secrets: secrets.iter().map(convert::secret).collect(),
        }))
    }

    async fn delete_secret(
        &self,
        request: Request<pb::DeleteSecretRequest>,
    ) -> Result<Response<pb::DeleteSecretResponse>, Status> {
        ops::secrets::delete(&self.state, &request.into_inner().name)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::DeleteSecretResponse {}))
    }
}
