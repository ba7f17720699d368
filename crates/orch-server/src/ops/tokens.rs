//! API tokens: create (the key is shown once), list, revoke. Admin scope
//! (see `crate::auth::rules`).

use orch_core::auth::Scope;
use orch_store::{NewToken, TokenInfo};

use super::{OpsError, OpsResult};
use crate::state::AppState;

/// Creates a token of `scope` (limited to `pools` for a worker token),
/// expiring `expires_in_seconds` from now (0: never). Returns it with its
/// key, which is shown this once and never stored. `by` names the caller,
/// for the server's log.
pub async fn create(
    state: &AppState,
    name: String,
    scope: &str,
    pools: Vec<String>,
    expires_in_seconds: u64,
    by: &str,
) -> OpsResult<(TokenInfo, String)> {
    let scope: Scope = scope.parse().map_err(OpsError::Invalid)?;
    let expires_at = match expires_in_seconds {
        0 => None,
        seconds => {
            let micros = i64::try_from(seconds)
                .ok()
                .and_then(|s| s.checked_mul(1_000_000))
                .ok_or_else(|| OpsError::Invalid("expires_in_seconds is too large".into()))?;
            Some(state.now().saturating_add(micros))
        }
    };
    let new = NewToken {
        name,
        scope,
        pools,
        expires_at,
    };
    let (info, key) = state.store().tokens().create_token(&new).await?;
    tracing::info!(token = %info.name, scope = %info.scope, %by, "token created");
    Ok((info, key))
}

/// Every token, newest first; never a key.
pub async fn list(state: &AppState) -> OpsResult<Vec<TokenInfo>> {
    Ok(state.store().tokens().list_tokens().await?)
}

/// Revokes the token `name` (and the dashboard sessions made from it).
pub async fn revoke(state: &AppState, name: &str, by: &str) -> OpsResult<TokenInfo> {
    let info = state.store().tokens().revoke_token(name).await?;
    // Other replicas empty theirs when the revocation's notification arrives.
    state.token_cache().revoked();
    tracing::info!(token = %info.name, %by, "token revoked");
    Ok(info)
}
