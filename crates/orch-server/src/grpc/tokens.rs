//! `TokenService`: API tokens (admin scope, see `crate::auth::rules`).

use orch_core::auth::Scope;
use orch_proto::v1 as pb;
use orch_proto::v1::token_service_server::TokenService;
use orch_store::{NewToken, TokenInfo};
use tonic::{Request, Response, Status};

use crate::error::{invalid, status};
use crate::state::AppState;

/// Serves token requests.
#[derive(Debug, Clone)]
pub struct TokenApi {
    pub(crate) state: AppState,
}

fn token(info: &TokenInfo) -> pb::Token {
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
        let scope: Scope = request.scope.parse().map_err(invalid)?;
        let expires_at = match request.expires_in_seconds {
            0 => None,
            seconds => {
                let micros = i64::try_from(seconds)
                    .ok()
                    .and_then(|s| s.checked_mul(1_000_000))
                    .ok_or_else(|| invalid("expires_in_seconds is too large"))?;
                Some(self.state.now().saturating_add(micros))
            }
        };
        let new = NewToken {
            name: request.name,
            scope,
            pools: request.pools,
            expires_at,
        };
        let (info, key) = self
            .state
            .store()
            .create_token(&new)
            .await
            .map_err(status)?;
        tracing::info!(token = %info.name, scope = %info.scope, by = %caller.name, "token created");
        Ok(Response::new(pb::CreateTokenResponse {
            token: Some(token(&info)),
            api_key: key,
        }))
    }

    async fn list_tokens(
        &self,
        _request: Request<pb::ListTokensRequest>,
    ) -> Result<Response<pb::ListTokensResponse>, Status> {
        let tokens = self.state.store().list_tokens().await.map_err(status)?;
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
        let info = self
            .state
            .store()
            .revoke_token(&name)
            .await
            .map_err(status)?;
        tracing::info!(token = %info.name, by = %caller.name, "token revoked");
        Ok(Response::new(token(&info)))
    }
}
