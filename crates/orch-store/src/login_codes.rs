//! One-time dashboard login codes: a code stands for a live API token for a
//! few minutes and logs one browser in, once. Only the code's SHA-256 is
//! stored; redeeming deletes the row in the same statement that reads it, so
//! two browsers racing with one link cannot both get in.

use sha2::{Digest, Sha256};

use crate::Tokens;
use crate::error::{Result, StoreError};
use crate::tokens::{CredentialKind, TokenInfo};

/// How long a login code works.
pub const LOGIN_CODE_SECONDS: i64 = 10 * 60;

fn code_hash(code: &str) -> String {
    hex::encode(Sha256::digest(code.trim().as_bytes()))
}

impl Tokens<'_> {
    /// Makes a login code for the live API token `token_name`; returns the
    /// code (shown once) and when it expires (micros). Expired codes of any
    /// token are cleared on the way.
    pub async fn create_login_code(&self, token_name: &str) -> Result<(String, i64)> {
        let token: Option<(String,)> = sqlx::query_as(
            "SELECT id FROM api_tokens WHERE kind = 'token' AND name = $1 AND revoked_at IS NULL",
        )
        .bind(token_name)
        .fetch_optional(self.writer.pool())
        .await?;
        let Some((token_id,)) = token else {
            return Err(StoreError::NotFound {
                kind: "token",
                name: token_name.to_owned(),
                hint: ": a login link is made for a live API token; log in with one".into(),
            });
        };
        let now = self.now();
        sqlx::query("DELETE FROM login_codes WHERE expires_at <= $1")
            .bind(now)
            .execute(self.writer.pool())
            .await?;
        let mut bytes = [0u8; 24];
        getrandom::fill(&mut bytes).expect("the operating system's random source works");
        let code = hex::encode(bytes);
        let expires_at = now + LOGIN_CODE_SECONDS * 1_000_000;
        sqlx::query(
            "INSERT INTO login_codes (code_hash, token_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(code_hash(&code))
        .bind(&token_id)
        .bind(now)
        .bind(expires_at)
        .execute(self.writer.pool())
        .await?;
        Ok((code, expires_at))
    }

    /// Uses up `code`: the token it stands for, if the code is known, unused,
    /// not expired and its token still live; `None` otherwise (the reason is
    /// not told: a guessed code learns nothing).
    pub async fn redeem_login_code(&self, code: &str) -> Result<Option<TokenInfo>> {
        let row: Option<(String, i64)> = sqlx::query_as(
            "DELETE FROM login_codes WHERE code_hash = $1 RETURNING token_id, expires_at",
        )
        .bind(code_hash(code))
        .fetch_optional(self.writer.pool())
        .await?;
        let Some((token_id, expires_at)) = row else {
            return Ok(None);
        };
        let now = self.now();
        if expires_at <= now {
            return Ok(None);
        }
        let token = self.credential(&token_id).await?;
        let live = token.kind == CredentialKind::Token
            && token.revoked_at.is_none()
            && token.expires_at.is_none_or(|at| at > now);
        Ok(live.then_some(token))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use orch_core::auth::Scope;

    use crate::test_support::store_with_deployment;
    use crate::{ManualClock, NewToken};

    #[tokio::test]
    async fn a_code_logs_in_once_and_only_before_it_expires() {
        let clock = ManualClock::new(chrono::Utc::now());
        let (store, _, _dir) = store_with_deployment().await;
        let store = store.with_clock(clock.clock());
        let new = NewToken {
            name: "viewer".into(),
            scope: Scope::Read,
            pools: Vec::new(),
            expires_at: None,
        };
        store.tokens().create_token(&new).await.expect("a token");
        let (code, _) = store.tokens().create_login_code("viewer").await.unwrap();
        assert!(!code.starts_with(crate::KEY_PREFIX), "a code is not a key");
        let token = store
            .tokens()
            .redeem_login_code(&code)
            .await
            .unwrap()
            .expect("valid");
        assert_eq!(token.name, "viewer");
        assert!(
            store
                .tokens()
                .redeem_login_code(&code)
                .await
                .unwrap()
                .is_none(),
            "used"
        );
        assert!(
            store
                .tokens()
                .redeem_login_code("guess")
                .await
                .unwrap()
                .is_none()
        );

        let (late, _) = store.tokens().create_login_code("viewer").await.unwrap();
        clock.advance(Duration::from_secs(super::LOGIN_CODE_SECONDS as u64 + 1));
        assert!(
            store
                .tokens()
                .redeem_login_code(&late)
                .await
                .unwrap()
                .is_none(),
            "expired"
        );

        let (revoked, _) = store.tokens().create_login_code("viewer").await.unwrap();
        store.tokens().revoke_token("viewer").await.unwrap();
        assert!(
            store
                .tokens()
                .redeem_login_code(&revoked)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store.tokens().create_login_code("viewer").await.is_err(),
            "no live token"
        );
    }
}
