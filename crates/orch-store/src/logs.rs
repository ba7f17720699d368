//! Log lines of flow runs.
//!
//! # Resuming after an id
//!
//! A follower (`logs --follow`, the run page) reads a run's lines in pages
//! "after id N" and resumes after the last id it saw. That is only correct
//! if no line of the run with an id at most N commits later. On SQLite one
//! connection writes, so lines commit in id order. On PostgreSQL ids come
//! from a sequence when a line is inserted, and two transactions writing
//! lines of the same run could commit out of id order (the one with the
//! smaller ids last), so a follower reading between the two commits would
//! skip the smaller ids for ever. So a transaction writing a run's lines
//! first locks the run's row (`FOR NO KEY UPDATE`: it does not wait for
//! foreign-key checks of other tables, only for other writers and state
//! changes of that run) and holds it until it commits: the next writer of
//! the run takes its ids after this one committed, so a run's lines commit
//! in id order on both backends.

use std::collections::BTreeSet;

use crate::Backend;
use crate::Logs;
use crate::error::{Result, StoreError};
use crate::log_partitions::DAY_OF_TIMESTAMP;
use crate::model::LogLine;
use crate::rows::{LogRow, cacheable_chunks, sql, values_placeholders};

/// Default page size of [`Logs::read_logs`].
pub const DEFAULT_LOG_PAGE: u32 = 1000;
/// A page of a run's log lines with ids `op` `$2` (`>` or `<`), `$3` at
/// most, in `order` (`ASC` or `DESC`), cut by size: a line is kept while the
/// bytes of the lines before it are under `$4`. So a page holds at most `$4`
/// bytes plus one line, always fits in one message, and never comes back
/// empty while lines are left. A run whose lines were pruned has none, even
/// while (on PostgreSQL) they wait in their day's partition to be dropped.
pub(crate) fn page_by_size(op: &str, order: &str) -> String {
    format!(
        "SELECT {LOG_COLUMNS} FROM (SELECT p.*, \
         SUM(OCTET_LENGTH(p.message)) OVER (ORDER BY p.id {order}) - OCTET_LENGTH(p.message) AS bytes_before \
         FROM (SELECT {LOG_COLUMNS} FROM logs WHERE flow_run_id = $1 AND id {op} $2 \
         AND NOT EXISTS (SELECT 1 FROM flow_runs r WHERE r.id = $1 AND r.logs_pruned_at IS NOT NULL) \
         ORDER BY id {order} LIMIT $3) p) q WHERE q.bytes_before < $4 ORDER BY q.id {order}"
    )
}

const LOG_COLUMNS: &str =
    "id, flow_run_id, emitter, seq, timestamp, stream, level, message, task_run_id";
/// [`orch_core::limits::MAX_LOG_PAGE_BYTES`] as a column value.
pub(crate) const MAX_PAGE_BYTES: i64 = orch_core::limits::MAX_LOG_PAGE_BYTES as i64;

/// Most rows per INSERT statement (8 binds each; SQLite allows 32,766).
const ROWS_PER_INSERT: usize = 256;

impl Logs<'_> {
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
        // See "Resuming after an id" in the module's documentation. The runs
        // are locked in one order (sorted), so two writers cannot deadlock.
        let check = match self.backend {
            Backend::Sqlite => "SELECT id FROM flow_runs WHERE id = $1",
            Backend::Postgres => "SELECT id FROM flow_runs WHERE id = $1 FOR NO KEY UPDATE",
        };
        for run_id in &run_ids {
            let exists: Option<(String,)> = sqlx::query_as(check)
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
            let insert = format!(
                "INSERT INTO logs (flow_run_id, emitter, seq, timestamp, stream, level, message, task_run_id) \
                 VALUES {} ON CONFLICT DO NOTHING",
                values_placeholders(chunk.len(), 8)
            );
            let statement = match self.backend {
                Backend::Sqlite => insert,
                // The days of the new lines go into `log_days` in the same
                // statement (see crate::log_partitions).
                Backend::Postgres => format!(
                    "WITH new_lines AS ({insert} RETURNING flow_run_id, timestamp), \
                     days AS (INSERT INTO log_days (day, flow_run_id) \
                     SELECT DISTINCT {DAY_OF_TIMESTAMP}, flow_run_id FROM new_lines \
                     ON CONFLICT DO NOTHING) \
                     SELECT COUNT(*) FROM new_lines"
                ),
            };
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
            stored += match self.backend {
                Backend::Sqlite => insert.execute(&mut *tx).await?.rows_affected(),
                Backend::Postgres => {
                    let row = insert.fetch_one(&mut *tx).await?;
                    sqlx::Row::try_get::<i64, _>(&row, 0)?.max(0) as u64
                }
            };
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
