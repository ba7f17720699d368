//! Secrets (names and times, never values), API tokens (never keys) and
//! audit records.

use serde::Serialize;

use super::{non_empty, rfc3339};
use crate::v1 as pb;

/// A secret as listed: never its value.
#[derive(Debug, Clone, Serialize)]
pub struct Secret {
    /// The variable name its runs receive it as.
    pub name: String,
    /// When it was first set.
    pub created_at: Option<String>,
    /// When its value last changed.
    pub updated_at: Option<String>,
    /// `flow/name` of the deployments that use it.
    pub deployments: Vec<String>,
}

impl From<&pb::Secret> for Secret {
    fn from(secret: &pb::Secret) -> Secret {
        Secret {
            name: secret.name.clone(),
            created_at: rfc3339(secret.created_at_micros),
            updated_at: rfc3339(secret.updated_at_micros),
            deployments: secret.deployments.clone(),
        }
    }
}

/// One recorded mutating call.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord {
    /// The record's id.
    pub id: String,
    /// When the call was made.
    pub at: Option<String>,
    /// Who made it: the credential's name, `anonymous` without authentication.
    pub caller: String,
    /// The client's address, `null` when unknown.
    pub address: Option<String>,
    /// What was done, e.g. `flow-run.cancel`.
    pub action: String,
    /// What it was done to.
    pub target: String,
    /// `ok`, or why it was refused (`not_found`, `invalid_argument`, ...).
    pub outcome: String,
    /// `grpc` or `rest`.
    pub transport: String,
    /// `at` in microseconds.
    #[serde(skip)]
    pub at_micros: i64,
}

impl From<&pb::AuditRecord> for AuditRecord {
    fn from(record: &pb::AuditRecord) -> AuditRecord {
        AuditRecord {
            id: record.id.clone(),
            at: rfc3339(record.at_micros),
            caller: record.caller.clone(),
            address: non_empty(&record.address),
            action: record.action.clone(),
            target: record.target.clone(),
            outcome: record.outcome.clone(),
            transport: record.transport.clone(),
            at_micros: record.at_micros,
        }
    }
}

/// An API token as listed (`orch token ls -o json`, `GET /api/tokens`): never its key.
#[derive(Debug, Clone, Serialize)]
pub struct Token {
    /// Its name.
    pub name: String,
    /// Its scope: read, operate, deploy, admin or worker.
    pub scope: String,
    /// The pools of a worker token.
    pub pools: Vec<String>,
    /// When it was made.
    pub created_at: Option<String>,
    /// When it stops working, if ever.
    pub expires_at: Option<String>,
    /// When it was revoked.
    pub revoked_at: Option<String>,
    /// When it was last used.
    pub last_used: Option<String>,
}

/// RFC 3339 to the second (a token's times need no more).
fn seconds(micros: Option<i64>) -> Option<String> {
    micros
        .and_then(chrono::DateTime::from_timestamp_micros)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

impl From<&pb::Token> for Token {
    fn from(token: &pb::Token) -> Token {
        Token {
            name: token.name.clone(),
            scope: token.scope.clone(),
            pools: token.pools.clone(),
            created_at: seconds(Some(token.created_micros)),
            expires_at: seconds(token.expires_micros),
            revoked_at: seconds(token.revoked_micros),
            last_used: seconds(token.last_used_micros),
        }
    }
}
