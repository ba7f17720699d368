//! Log lines of flow runs.

use std::collections::BTreeSet;

use crate::Store;
use crate::error::{Result, StoreError};
use crate::model::LogLine;
use crate::rows::{LogRow, cacheable_chunks, sql, values_placeholders};

/// Default page size of [`Store::read_logs`].
pub const DEFAULT_LOG_PAGE: u32 = 1000;
/// A page of a run's log lines with ids `op` `$2` (`>` or `<`), `$3` at
/// most, in `order` (`ASC` or `DESC`), cut by size: a line is kept while the
/// bytes of the lines before it are under `$4`. So a page holds at most `$4`
/// bytes plus one line, always fits in one message, and never comes back
/// empty while lines are left.
pub(crate) fn page_by_size(op: &str, order: &str) -> String {
    format!(
        "SELECT {LOG_COLUMNS} FROM (SELECT p.*, \
         SUM(OCTET_LENGTH(p.message)) OVER (ORDER BY p.id {order}) - OCTET_LENGTH(p.message) AS bytes_before \
         FROM (SELECT {LOG_COLUMNS} FROM logs WHERE flow_run_id = $1 AND id {op} $2 \
         ORDER BY id {order} LIMIT $3) p) q WHERE q.bytes_before < $4 ORDER BY q.id {order}"
    )
}

const LOG_COLUMNS: &str =
    "id, flow_run_id, emitter, seq, timestamp, stream, level, message, task_run_id";
/// [`orch_core::limits::MAX_LOG_PAGE_BYTES`] as a column value.
pub(crate) const MAX_PAGE_BYTES: i64 = orch_core::limits::MAX_LOG_PAGE_BYTES as i64;

/// Most rows per INSERT statement (8 binds each; SQLite allows 32,766).
const ROWS_PER_INSERT: usize = 256;

impl Store {
    /// Stores log lines; a line already stored (same run, emitter and seq) is
    /// skipped, so resending a batch is safe. Returns how many were new.
    pub async fn write_logs(&self, lines: &[LogLine]) -> Result<u64> {
        if lines.is_empty() {
            return Ok(0);
        }
        if let Some(line) = lines
            .iter()
            .find(|line| line.message.len() > orch_core::limits::MAX_LOG_LINE_BYTES)
        {
            return Err(StoreError::InvalidInput(format!(
                "a log line of flow run \"{}\" is {}, over the limit of {}: split long output \
                 into several lines",
                line.flow_run_id,
                orch_core::limits::human_bytes(line.message.len()),
                orch_core::limits::human_bytes(orch_core::limits::MAX_LOG_LINE_BYTES)
            )));
        }
        self.writer.observe(self.try_write_logs(lines).await)
    }

    async fn try_write_logs(&self, lines: &[LogLine]) -> Result<u64> {
        let run_ids: BTreeSet<&str> = lines.iter().map(|l| l.flow_run_id.as_str()).collect();
        let mut tx = self.writer.begin().await?;
        for run_id in &run_ids {
            let exists: Option<(String,)> =
                sqlx::query_as("SELECT id FROM flow_runs WHERE id = $1")
                    .bind(*run_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if exists.is_none() {
                tx.rollback().await?;
                return Err(StoreError::InvalidInput(format!(
                    "log lines name flow run \"{run_id}\", which does not exist"
                )));
            }
        }
        let mut stored = 0;
        for chunk in cacheable_chunks(lines, ROWS_PER_INSERT) {
            let statement = format!(
                "INSERT INTO logs (flow_run_id, emitter, seq, timestamp, stream, level, message, task_run_id) \
                 VALUES {} ON CONFLICT (flow_run_id, emitter, seq) DO NOTHING",
                values_placeholders(chunk.len(), 8)
            );
            let mut insert = sqlx::query(sql(statement));
            for line in chunk {
                insert = insert
                    .bind(&line.flow_run_id)
                    .bind(&line.emitter)
                    .bind(line.seq)
                    .bind(line.timestamp)
                    .bind(&line.stream)
                    .bind(&line.level)
                    .bind(&line.message)
                    .bind(&line.task_run_id);
            }
            stored += insert.execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(stored)
    }

    /// Up to `limit` lines of a run with id greater than `after_id`, in order.
    pub async fn read_logs(&self, run_id: &str, after_id: i64, limit: u32) -> Result<Vec<LogLine>> {
        let limit = if limit == 0 { DEFAULT_LOG_PAGE } else { limit };
        let rows: Vec<LogRow> = sqlx::query_as(sql(page_by_size(">", "ASC")))
            .bind(run_id)
            .bind(after_id)
            .bind(i64::from(limit))
            .bind(MAX_PAGE_BYTES)
            .fetch_all(&self.reader)
            .await?;
        Ok(rows.into_iter().map(LogLine::from).collect())
    }
}
