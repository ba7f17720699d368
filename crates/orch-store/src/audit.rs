//! The audit trail: one row per call that changed something.

use crate::Store;
use crate::error::Result;

/// A recorded call.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditRecord {
    /// Its id (time-ordered).
    pub id: String,
    /// When (micros).
    pub at: i64,
    /// The credential's name, `anonymous` without authentication.
    pub caller: String,
    /// The client's address, empty when unknown.
    pub address: String,
    /// What was done, e.g. `flow-run.cancel`.
    pub action: String,
    /// What it was done to.
    pub target: String,
    /// `ok`, or why it was refused.
    pub outcome: String,
    /// `grpc` or `rest`.
    pub transport: String,
}

/// A call to record; `id` and `at` are set by [`Store::record_audit`].
#[derive(Debug, Clone, Default)]
pub struct NewAuditRecord {
    /// See [`AuditRecord::caller`].
    pub caller: String,
    /// See [`AuditRecord::address`].
    pub address: String,
    /// See [`AuditRecord::action`].
    pub action: String,
    /// See [`AuditRecord::target`].
    pub target: String,
    /// See [`AuditRecord::outcome`].
    pub outcome: String,
    /// See [`AuditRecord::transport`].
    pub transport: String,
}

/// Default and largest number of records [`Store::list_audit`] returns.
pub const AUDIT_PAGE: (u32, u32) = (100, 1000);

impl Store {
    /// Records a call, at the store's clock's now.
    pub async fn record_audit(&self, record: &NewAuditRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit_log (id, at, caller, address, action, target, outcome, transport) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        // Time-ordered (and monotonic within a process), so records made in
        // the same microsecond keep their order.
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(self.now())
        .bind(&record.caller)
        .bind(&record.address)
        .bind(&record.action)
        .bind(&record.target)
        .bind(&record.outcome)
        .bind(&record.transport)
        .execute(self.writer.pool())
        .await?;
        Ok(())
    }

    /// Records at or after `since` (micros), newest first, at most `limit`
    /// (0: [`AUDIT_PAGE`]'s default; capped at its largest).
    pub async fn list_audit(&self, since: i64, limit: u32) -> Result<Vec<AuditRecord>> {
        let limit = match limit {
            0 => AUDIT_PAGE.0,
            n => n.min(AUDIT_PAGE.1),
        };
        Ok(sqlx::query_as(
            "SELECT id, at, caller, address, action, target, outcome, transport FROM audit_log \
             WHERE at >= $1 ORDER BY at DESC, id DESC LIMIT $2",
        )
        .bind(since)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?)
    }
}
