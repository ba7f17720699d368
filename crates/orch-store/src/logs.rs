//! Log lines of flow runs.

use std::collections::BTreeSet;

use crate::Store;
use crate::error::{Result, StoreError};
use crate::model::LogLine;
use crate::rows::{LogRow, cacheable_chunks, sql, values_placeholders};

/// Default page size of [`Store::read_logs`].
pub const DEFAULT_LOG_PAGE: u32 = 1000;
/// Most rows per INSERT statement (8 binds each; SQLite allows 32,766).
const ROWS_PER_INSERT: usize = 256;

impl Store {
    /// Stores log lines; a line already stored (same run, emitter and seq) is
    /// skipped, so resending a batch is safe. Returns how many were new.
    pub async fn write_logs(&self, lines: &[LogLine]) -> Result<u64> {
        if lines.is_empty() {
            return Ok(0);
        }
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
        let rows: Vec<LogRow> = sqlx::query_as(
            "SELECT id, flow_run_id, emitter, seq, timestamp, stream, level, message, task_run_id \
             FROM logs WHERE flow_run_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(run_id)
        .bind(after_id)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.into_iter().map(LogLine::from).collect())
    }
}
