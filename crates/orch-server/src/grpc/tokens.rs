//! `TokenService`: API tokens (admin scope, see `crate::auth::rules`).

use orch_proto::v1 as pb;
use orch_proto::v1::token_service_server::TokenService;
use orch_store::TokenInfo;
use tonic::{Request, Response, Status};

use crate::error::status;
use crate::ops;
use crate::state::AppState;

/// Serves token requests.
#[derive(Debug, Clone)]
pub struct TokenApi {
    pub(crate) state: AppState,
}

/// A token as the API shows it (never its key).
pub(crate) fn token(info: &TokenInfo) -> pb::Token {
    pb::Token {
        name: info.name.clone(),
        scope: info.scope.as_str().to_owned(),
        pools: info.pools.clone(),
        created_micros: info.created_at,
        expires_micros: info.expires_at,
        revoked_micros: info.revoked_at,
        last_used_micros: info.last_used,
    }
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
            token: Some(token(&info)),
            api_key: key,
        }))
    }

    async fn list_tokens(
        &self,
        _request: Request<pb::ListTokensRequest>,
    ) -> Result<Response<pb::ListTokensResponse>, Status> {
        let tokens = ops::tokens::list(&self.state).await.map_err(status)?;
        Ok(Response::new(pb::ListTokensResponse {
            tokens: tokens.iter().map(token).collect(),
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
        Ok(Response::new(token(&info)))
    }
}
