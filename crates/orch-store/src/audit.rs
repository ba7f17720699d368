//! The audit trail: one row per call that changed something.
//!
//! Every audited call (each `RunDeployment` among them) records one row
//! before its answer is sent. One transaction per record would queue these
//! writes behind each other on the writer (on SQLite, its only connection),
//! so records are a [`Batch`] of the store's group commit
//! (`crate::group_commit`): records made at the same time share one
//! transaction and one multi-row INSERT per chunk, and each caller still
//! waits for its own record to be committed.

use crate::Audit;
use crate::Clock;
use crate::error::Result;
use crate::group_commit::{Batch, GroupCommit};
use crate::rows::{cacheable_chunks, sql, values_placeholders};
use crate::write::WriteTx;

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

/// A call to record; `id` and `at` are set by [`Audit::record_audit`].
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

/// Default and largest number of records [`Audit::list_audit`] returns.
pub const AUDIT_PAGE: (u32, u32) = (100, 1000);

/// Most records written by one transaction (8 binds each: far below either
/// backend's bind limit).
const MAX_BATCH: usize = 256;

/// A record waiting for the writer, with the clock of the store that made it.
#[derive(Debug)]
pub(crate) struct PendingAudit {
    record: NewAuditRecord,
    clock: Clock,
}

/// Audit records, as a [`Batch`]: one multi-row INSERT per chunk.
#[derive(Debug)]
pub(crate) struct AuditRecords;

/// Handle on the task that writes audit records; cheap to clone.
pub(crate) type AuditWriter = GroupCommit<AuditRecords>;

impl Batch for AuditRecords {
    type Item = PendingAudit;
    type Outcome = ();
    const MAX_BATCH: usize = MAX_BATCH;
    const NAME: &'static str = "audit records";

    async fn write(&self, tx: &mut WriteTx, pending: &[PendingAudit]) -> Result<Vec<()>> {
        let pending: Vec<&PendingAudit> = pending.iter().collect();
        insert_records(tx, &pending).await?;
        Ok(vec![(); pending.len()])
    }
}

impl PendingAudit {
    /// `record`, to be stamped by `clock` when it is written.
    pub(crate) fn new(record: NewAuditRecord, clock: Clock) -> PendingAudit {
        PendingAudit { record, clock }
    }
}

/// Writes `pending` in `tx`: one multi-row INSERT per chunk. Used by the
/// audit writer and by writes that carry their call's record in their own
/// transaction (run creation).
pub(crate) async fn insert_records(tx: &mut WriteTx, pending: &[&PendingAudit]) -> Result<()> {
    // Stamped here, one after the other as they are written, so a record's
    // id (time-ordered, and monotonic within a process) and its time agree:
    // the trail reads the same by time as by id.
    let stamped: Vec<(String, i64, &NewAuditRecord)> = pending
        .iter()
        .map(|p| {
            let id = uuid::Uuid::now_v7().to_string();
            (id, p.clock.now_micros(), &p.record)
        })
        .collect();
    for chunk in cacheable_chunks(&stamped, MAX_BATCH) {
        let statement = format!(
            "INSERT INTO audit_log (id, at, caller, address, action, target, outcome, transport) \
             VALUES {}",
            values_placeholders(chunk.len(), 8)
        );
        let mut insert = sqlx::query(sql(statement));
        for (id, at, record) in chunk {
            insert = insert
                .bind(id)
                .bind(*at)
                .bind(&record.caller)
                .bind(&record.address)
                .bind(&record.action)
                .bind(&record.target)
                .bind(&record.outcome)
                .bind(&record.transport);
        }
        insert.execute(&mut **tx).await?;
    }
    Ok(())
}

impl Audit<'_> {
    /// Records a call, at the store's clock's now, and returns once the
    /// record is committed (together with any others made at the same time).
    pub async fn record_audit(&self, record: &NewAuditRecord) -> Result<()> {
        self.audit_writer
            .submit(PendingAudit::new(record.clone(), self.clock.clone()))
            .await
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::store_with_deployment;

    #[tokio::test]
    async fn records_made_at_once_share_transactions() {
        let (store, _, _dir) = store_with_deployment().await;
        let mut calls = tokio::task::JoinSet::new();
        for i in 0..100 {
            let store = store.clone();
            calls.spawn(async move {
                let record = NewAuditRecord {
                    action: "deployment.run".into(),
                    target: format!("f/d-{i}"),
                    ..NewAuditRecord::default()
                };
                store.audit().record_audit(&record).await
            });
        }
        while let Some(call) = calls.join_next().await {
            call.unwrap().unwrap();
        }

        assert_eq!(store.audit().list_audit(0, 1000).await.unwrap().len(), 100);
        let transactions = store.audit_writer.transactions();
        assert!(
            transactions < 100,
            "{transactions} transactions for 100 records"
        );
    }
}
