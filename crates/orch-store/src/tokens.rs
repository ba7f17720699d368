//! Credentials: API tokens with a scope, dashboard sessions made from a
//! token, and per-run credentials for flow processes.
//!
//! A key reads `orch_<id>_<secret>`: `id` (16 hex digits) finds the row, and
//! the SHA-256 of `secret` (32 random bytes, 64 hex digits) is compared with
//! the stored hash in constant time. Only hashes are stored; the key is shown
//! once, when it is made. The store caches nothing; a server that caches
//! checked keys (orch-server's token cache) learns of every revocation: on
//! PostgreSQL each one sends [`CREDENTIALS_CHANNEL`] a notification in its
//! own transaction, so every replica listening hears of it at commit.

use orch_core::StateType;
use orch_core::auth::{Principal, Scope};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::Tokens;
use crate::error::{Result, StoreError};
use crate::rows::{from_json, sql, to_json};

/// Prefix of every orch key, so secret scanners and people recognise one.
pub const KEY_PREFIX: &str = "orch_";

/// The PostgreSQL channel a revocation (token revoked, session ended) is
/// announced on, in the revoking transaction; the payload is the
/// credential's id.
pub const CREDENTIALS_CHANNEL: &str = "orch_credentials";

/// What kind of credential a row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// An API token (`orch token create`).
    Token,
    /// A dashboard session, made from a token at login.
    Session,
    /// A flow process's credential for one run, made at claim.
    Run,
}

impl CredentialKind {
    fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Token => "token",
            CredentialKind::Session => "session",
            CredentialKind::Run => "run",
        }
    }

    fn parse(text: &str) -> CredentialKind {
        match text {
            "session" => CredentialKind::Session,
            "run" => CredentialKind::Run,
            _ => CredentialKind::Token,
        }
    }
}

/// A stored credential (never its secret).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenInfo {
    /// The key's public part.
    pub id: String,
    /// The token's name (`run:<id>` for a run credential).
    pub name: String,
    /// What kind of credential it is.
    pub kind: CredentialKind,
    /// Its scope (`Worker` for a run credential, which [`TokenInfo::principal`] narrows).
    pub scope: Scope,
    /// The pools of a `worker` token.
    pub pools: Vec<String>,
    /// The run of a run credential.
    pub flow_run_id: Option<String>,
    /// When it was made (micros).
    pub created_at: i64,
    /// When it stops working (micros), if ever.
    pub expires_at: Option<i64>,
    /// When it was revoked (micros).
    pub revoked_at: Option<i64>,
    /// When it was last used (micros; updated at most once a minute).
    pub last_used: Option<i64>,
}

impl TokenInfo {
    /// Who the credential speaks for.
    pub fn principal(&self) -> Principal {
        match (&self.kind, &self.flow_run_id) {
            (CredentialKind::Run, Some(run_id)) => Principal::Run {
                run_id: run_id.clone(),
            },
            _ => Principal::Token {
                scope: self.scope,
                pools: self.pools.clone(),
            },
        }
    }
}

/// A new API token.
#[derive(Debug, Clone, PartialEq)]
pub struct NewToken {
    /// Its name, unique among live tokens.
    pub name: String,
    /// Its scope.
    pub scope: Scope,
    /// For `worker` tokens, the pools it serves.
    pub pools: Vec<String>,
    /// When it stops working (micros), if ever.
    pub expires_at: Option<i64>,
}

/// The outcome of checking a key.
#[derive(Debug, Clone, PartialEq)]
pub enum CredentialCheck {
    /// The key is valid.
    Valid(TokenInfo),
    /// It is not; the reason is safe to tell the client.
    Invalid(String),
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: String,
    name: String,
    kind: String,
    scope: String,
    pools: String,
    secret_hash: String,
    flow_run_id: Option<String>,
    created_at: i64,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    last_used: Option<i64>,
    run_state: Option<String>,
}

const TOKEN_SELECT: &str = "SELECT t.id, t.name, t.kind, t.scope, t.pools, t.secret_hash, \
     t.flow_run_id, t.created_at, t.expires_at, t.revoked_at, t.last_used, \
     r.state_type AS run_state \
     FROM api_tokens t LEFT JOIN flow_runs r ON r.id = t.flow_run_id";

impl TokenRow {
    fn info(&self) -> Result<TokenInfo> {
        Ok(TokenInfo {
            id: self.id.clone(),
            name: self.name.clone(),
            kind: CredentialKind::parse(&self.kind),
            scope: self.scope.parse().unwrap_or(Scope::Read),
            pools: from_json("pools", &self.pools)?,
            flow_run_id: self.flow_run_id.clone(),
            created_at: self.created_at,
            expires_at: self.expires_at,
            revoked_at: self.revoked_at,
            last_used: self.last_used,
        })
    }
}

/// An `api_tokens` row to insert.
struct CredentialRow<'a> {
    id: &'a str,
    name: &'a str,
    kind: CredentialKind,
    scope: Scope,
    pools: &'a [String],
    secret_hash: &'a str,
    flow_run_id: Option<&'a str>,
    parent_id: Option<&'a str>,
    created_at: i64,
    expires_at: Option<i64>,
}

impl CredentialRow<'_> {
    async fn insert(&self, conn: &mut sqlx::AnyConnection) -> std::result::Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO api_tokens (id, name, kind, scope, pools, secret_hash, flow_run_id, parent_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(self.id)
        .bind(self.name)
        .bind(self.kind.as_str())
        .bind(self.scope.as_str())
        .bind(to_json(&self.pools))
        .bind(self.secret_hash)
        .bind(self.flow_run_id)
        .bind(self.parent_id)
        .bind(self.created_at)
        .bind(self.expires_at)
        .execute(conn)
        .await?;
        Ok(())
    }
}

/// Writes, in the caller's transaction, the credential the flow of run
/// `run_id` uses (scope worker, ends with the run), and returns its key.
pub(crate) async fn insert_run_credential(
    conn: &mut sqlx::AnyConnection,
    run_id: &str,
    now: i64,
) -> Result<String> {
    let (key, id, secret_hash) = mint();
    let name = format!("run:{run_id}");
    CredentialRow {
        id: &id,
        name: &name,
        kind: CredentialKind::Run,
        scope: Scope::Worker,
        pools: &[],
        secret_hash: &secret_hash,
        flow_run_id: Some(run_id),
        parent_id: None,
        created_at: now,
        expires_at: None,
    }
    .insert(conn)
    .await?;
    Ok(key)
}

/// A fresh key and the (id, hash) stored for it.
fn mint() -> (String, String, String) {
    let mut bytes = [0u8; 40];
    getrandom::fill(&mut bytes).expect("the operating system's random source works");
    let id = hex::encode(&bytes[..8]);
    let secret = hex::encode(&bytes[8..]);
    let hash = hash(&secret);
    (format!("{KEY_PREFIX}{id}_{secret}"), id, hash)
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Splits `orch_<id>_<secret>`; `None` when the key has another shape.
/// The id part of a key shaped like an orch key (`orch_<16 chars>_<secret>`),
/// whether or not it is valid; `None` for anything else. The id is not
/// secret: it names the credential in refusals and the audit trail.
pub fn key_id(key: &str) -> Option<&str> {
    split_key(key).map(|(id, _)| id)
}

fn split_key(key: &str) -> Option<(&str, &str)> {
    let rest = key.trim().strip_prefix(KEY_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == 16 && !secret.is_empty()).then_some((id, secret))
}

impl Tokens<'_> {
    /// The one insert of the three kinds of credential (token, session, run);
    /// each column is an argument so the callers read as what they store.
    #[allow(clippy::too_many_arguments)]
    async fn insert_credential(
        &self,
        name: &str,
        kind: CredentialKind,
        scope: Scope,
        pools: &[String],
        flow_run_id: Option<&str>,
        parent_id: Option<&str>,
        expires_at: Option<i64>,
    ) -> Result<(TokenInfo, String)> {
        let (key, id, secret_hash) = mint();
        let row = CredentialRow {
            id: &id,
            name,
            kind,
            scope,
            pools,
            secret_hash: &secret_hash,
            flow_run_id,
            parent_id,
            created_at: self.now(),
            expires_at,
        };
        let mut conn = self.writer.pool().acquire().await?;
        let inserted = row.insert(&mut conn).await;
        drop(conn);
        match inserted {
            Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
                return Err(StoreError::AlreadyExists {
                    kind: "token",
                    name: name.to_owned(),
                    hint: ": pick another name, or revoke it first with 'orch token revoke NAME'"
                        .into(),
                });
            }
            other => {
                other?;
            }
        }
        Ok((self.credential(&id).await?, key))
    }

    pub(crate) async fn credential(&self, id: &str) -> Result<TokenInfo> {
        let row: Option<TokenRow> = sqlx::query_as(sql(format!("{TOKEN_SELECT} WHERE t.id = $1")))
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        row.ok_or_else(|| StoreError::NotFound {
            kind: "token",
            name: id.to_owned(),
            hint: String::new(),
        })?
        .info()
    }

    /// Makes an API token; returns it and its key, which is shown once.
    pub async fn create_token(&self, token: &NewToken) -> Result<(TokenInfo, String)> {
        orch_core::NameKind::Token
            .check(&token.name)
            .map_err(|error| StoreError::InvalidInput(error.to_string()))?;
        for pool in &token.pools {
            orch_core::NameKind::WorkPool
                .check(pool)
                .map_err(|error| StoreError::InvalidInput(format!("--pool: {error}")))?;
        }
        if token.scope == Scope::Worker && token.pools.is_empty() {
            return Err(StoreError::InvalidInput(
                "a worker token needs the pools it serves: add --pool NAME (repeatable)".into(),
            ));
        }
        if token.scope != Scope::Worker && !token.pools.is_empty() {
            return Err(StoreError::InvalidInput(format!(
                "--pool applies to worker tokens only; a {} token is not limited to pools",
                token.scope
            )));
        }
        self.insert_credential(
            &token.name,
            CredentialKind::Token,
            token.scope,
            &token.pools,
            None,
            None,
            token.expires_at,
        )
        .await
    }

    /// Makes the credential a flow process uses for run `run_id`; it works
    /// until the run reaches a terminal state. A claim makes it in its own
    /// transaction instead ([`Claims::claim_runs_with_credentials`]).
    pub async fn create_run_credential(&self, run_id: &str) -> Result<String> {
        let mut conn = self.writer.pool().acquire().await?;
        insert_run_credential(&mut conn, run_id, self.now()).await
    }

    /// Makes a dashboard session from `token` (the session has its scope and
    /// pools, ends with it, and at `expires_at`).
    pub async fn create_session(&self, token: &TokenInfo, expires_at: i64) -> Result<String> {
        let expires_at = token.expires_at.map_or(expires_at, |e| e.min(expires_at));
        let (_, key) = self
            .insert_credential(
                &token.name,
                CredentialKind::Session,
                token.scope,
                &token.pools,
                None,
                Some(&token.id),
                Some(expires_at),
            )
            .await?;
        Ok(key)
    }

    /// Ends a session or any credential by key (logout); unknown keys are ignored.
    pub async fn delete_credential(&self, key: &str) -> Result<()> {
        if let Some((id, _)) = split_key(key) {
            let mut tx = self.writer.begin().await?;
            sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND kind = 'session'")
                .bind(self.now())
                .bind(id)
                .execute(&mut *tx)
                .await?;
            self.announce_revocation(&mut tx, id).await?;
            tx.commit().await?;
        }
        Ok(())
    }

    /// On PostgreSQL, tells every replica listening on
    /// [`CREDENTIALS_CHANNEL`] that credential `id` was revoked, when `tx`
    /// commits (and only if it does).
    async fn announce_revocation(&self, tx: &mut crate::write::WriteTx, id: &str) -> Result<()> {
        if self.backend() == crate::Backend::Postgres {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CREDENTIALS_CHANNEL)
                .bind(id)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// API tokens, revoked ones included, by name.
    pub async fn list_tokens(&self) -> Result<Vec<TokenInfo>> {
        let rows: Vec<TokenRow> = sqlx::query_as(sql(format!(
            "{TOKEN_SELECT} WHERE t.kind = 'token' ORDER BY t.name, t.created_at"
        )))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(TokenRow::info).collect()
    }

    /// Revokes the live token `name` and the dashboard sessions made from it.
    pub async fn revoke_token(&self, name: &str) -> Result<TokenInfo> {
        let row: Option<TokenRow> = sqlx::query_as(sql(format!(
            "{TOKEN_SELECT} WHERE t.kind = 'token' AND t.name = $1 AND t.revoked_at IS NULL"
        )))
        .bind(name)
        .fetch_optional(self.writer.pool())
        .await?;
        let Some(row) = row else {
            return Err(StoreError::NotFound {
                kind: "token",
                name: name.to_owned(),
                hint: " (or it is revoked already): 'orch token ls' lists tokens".into(),
            });
        };
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE (id = $2 OR parent_id = $2) AND revoked_at IS NULL",
        )
        .bind(self.now())
        .bind(&row.id)
        .execute(&mut *tx)
        .await?;
        self.announce_revocation(&mut tx, &row.id).await?;
        tx.commit().await?;
        self.credential(&row.id).await
    }

    /// Checks a key: known, secret matching (in constant time), not revoked,
    /// not expired, and for a run credential, its run not finished.
    pub async fn check_credential(&self, key: &str) -> Result<CredentialCheck> {
        const UNKNOWN: &str = "the API key is not valid: check it, or create one with 'orch token create NAME --scope SCOPE'";
        let Some((id, secret)) = split_key(key) else {
            return Ok(CredentialCheck::Invalid(format!(
                "{UNKNOWN} (orch keys start with {KEY_PREFIX})"
            )));
        };
        let row: Option<TokenRow> = sqlx::query_as(sql(format!("{TOKEN_SELECT} WHERE t.id = $1")))
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        let Some(row) = row else {
            return Ok(CredentialCheck::Invalid(UNKNOWN.into()));
        };
        let matches: bool = hash(secret)
            .as_bytes()
            .ct_eq(row.secret_hash.as_bytes())
            .into();
        if !matches {
            return Ok(CredentialCheck::Invalid(UNKNOWN.into()));
        }
        let what = match CredentialKind::parse(&row.kind) {
            CredentialKind::Session => "dashboard session",
            CredentialKind::Run => "run credential",
            CredentialKind::Token => "token",
        };
        if row.revoked_at.is_some() {
            return Ok(CredentialCheck::Invalid(format!(
                "the {what} {:?} was revoked (or logged out)",
                row.name
            )));
        }
        if row.expires_at.is_some_and(|at| at <= self.now()) {
            return Ok(CredentialCheck::Invalid(format!(
                "the {what} {:?} has expired: create a new one",
                row.name
            )));
        }
        if CredentialKind::parse(&row.kind) == CredentialKind::Run {
            let ended = match row.run_state.as_deref().map(str::parse::<StateType>) {
                Some(Ok(state)) => state.is_terminal(),
                _ => true,
            };
            if ended {
                return Ok(CredentialCheck::Invalid(format!(
                    "the {what} {:?} stopped working: its run has ended",
                    row.name
                )));
            }
        }
        row.info().map(CredentialCheck::Valid)
    }

    /// Records that a credential was used (callers throttle this).
    pub async fn touch_credential(&self, id: &str) -> Result<()> {
        sqlx::query("UPDATE api_tokens SET last_used = $1 WHERE id = $2")
            .bind(self.now())
            .bind(id)
            .execute(self.writer.pool())
            .await?;
        Ok(())
    }

    /// Removes the credentials of finished runs and ended sessions; returns how many.
    pub async fn prune_credentials(&self) -> Result<u64> {
        let now = self.now();
        let done = sqlx::query(
            "DELETE FROM api_tokens WHERE (kind = 'session' AND (revoked_at IS NOT NULL OR expires_at <= $1)) \
             OR (kind = 'run' AND flow_run_id IN (SELECT id FROM flow_runs WHERE state_type IN ('COMPLETED', 'FAILED', 'CRASHED', 'CANCELLED')))",
        )
        .bind(now)
        .execute(self.writer.pool())
        .await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_a_recognisable_shape_and_only_their_hash_is_kept() {
        let (key, id, stored) = mint();
        let (parsed_id, secret) = split_key(&key).expect("a minted key parses");
        assert_eq!(parsed_id, id);
        assert_eq!(secret.len(), 64);
        assert_eq!(hash(secret), stored);
        assert!(!stored.contains(secret));
        assert_ne!(mint().0, key, "every key is new");
        assert_eq!(split_key("Bearer nonsense"), None);
        assert_eq!(split_key("orch_short_x"), None);
    }
}
