//! `TokenService`: API tokens (admin scope, see `crate::auth::rules`).

use orch_proto::v1 as pb;
use orch_proto::v1::token_service_server::TokenService;

use tonic::{Request, Response, Status};

use crate::convert;
use crate::error::status;
use crate::ops;
use crate::state::AppState;

/// Serves token requests.
#[derive(Debug, Clone)]
pub struct TokenApi {
    pub(crate) state: AppState,
}

#[tonic::async_trait]
impl TokenService for TokenApi {
    async fn create_token(
        &self,
        request: Request<pb::CreateTokenRequest>,
    ) -> Result<Response<pb::CreateTokenResponse>, Status> {
        let caller = crate::auth::caller(&request);
        let request = request.into_inner();
        let (info, key) = ops::tokens::create(
            &self.state,
            request.name,
            &request.scope,
            request.pools,
            request.expires_in_seconds,
            &caller.name,
        )
        .await
        .map_err(status)?;
        Ok(Response::new(pb::CreateTokenResponse {
            token: Some(convert::token(&info)),
            api_key: key,
        }))
    }

    async fn list_tokens(
        &self,
        _request: Request<pb::ListTokensRequest>,
    ) -> Result<Response<pb::ListTokensResponse>, Status> {
        let tokens = ops::tokens::list(&self.state).await.map_err(status)?;
        Ok(Response::new(pb::ListTokensResponse {
            tokens: tokens.iter().map(convert::token).collect(),
        }))
    }

    async fn revoke_token(
        &self,
        request: Request<pb::RevokeTokenRequest>,
    ) -> Result<Response<pb::Token>, Status> {
        let caller = crate::auth::caller(&request);
        let name = request.into_inner().name;
        let info = ops::tokens::revoke(&self.state, &name, &caller.name)
            .await
            .map_err(status)?;
        Ok(Response::new(convert::token(&info)))
    }
}
