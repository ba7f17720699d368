//! Secrets (names and times, never values) and audit records.

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
