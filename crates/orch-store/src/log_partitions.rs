//! PostgreSQL: log lines partitioned by day, and retention that drops a
//! day's partition whole (migration 0410 explains the tables). SQLite keeps
//! one plain table, and these functions do nothing there.
//!
//! How a run's lines go when they expire (its logs' retention passed, or the
//! run itself was pruned):
//!
//! 1. The retention batches ([`Maintenance::prune_logs_batch`],
//!    [`Maintenance::prune_runs_batch`]) only mark the run (`logs_pruned_at`) or
//!    delete it, and queue its days in `log_cleanup`. From then on the run has
//!    no lines for readers (see `crate::logs::page_by_size`).
//! 2. [`Maintenance::prune_log_partitions`] drops the partition of a queued
//!    day once no run with lines there keeps them (`log_days` says which runs
//!    have lines on which day), in one statement whatever its size.
//! 3. A queued day that is older than every retention (no more of its runs
//!    will expire: it is "settled"), or that has no partition of its own (its
//!    lines are in `logs_default`), still holds lines of runs that keep them
//!    (they keep logs longer, forever, or are not finished): there the
//!    expired runs' rows are deleted, in batches.
//!
//! Partitions are made ahead ([`Maintenance::ensure_log_partitions`]: today and
//! [`DAYS_AHEAD`] days on) when the store connects and at every pruning
//! pass; a line whose time has no partition goes to the default one.
//! Changing partitions takes a transaction-scoped advisory lock, so two
//! replicas never do it at once, and it works behind PgBouncer.

use sqlx::AnyConnection;

use crate::Backend;
use crate::Maintenance;
use crate::error::Result;
use crate::retention::BatchSize;
use crate::rows::sql;

/// Microseconds in a day.
pub const DAY_MICROS: i64 = 86_400_000_000;
/// Days after today that have a partition made ahead.
pub const DAYS_AHEAD: i64 = 7;
/// The day (days since the epoch, UTC) of a row's `timestamp`, in SQL.
pub(crate) const DAY_OF_TIMESTAMP: &str = "FLOOR(timestamp::NUMERIC / 86400000000)::BIGINT";
/// Key of the advisory lock held while partitions change.
const PARTITIONS_LOCK: i64 = 0x6f72_6368_6c6f_6773; // "orchlogs"
/// A partition waits this long for a lock before giving up until the next
/// pass, so that it never queues the readers and writers of `logs` behind it.
const LOCK_TIMEOUT: &str = "SET LOCAL lock_timeout = '2s'";

/// What one [`Maintenance::prune_log_partitions`] pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PartitionsPruned {
    /// Day partitions dropped whole (their names).
    pub dropped: Vec<String>,
    /// Lines in the dropped partitions, as PostgreSQL's statistics estimate
    /// them (`pg_class.reltuples`; not counted, which would read them).
    pub dropped_lines_estimate: u64,
    /// Expired lines deleted row by row (settled days, the default partition).
    pub deleted_lines: u64,
}

impl PartitionsPruned {
    /// Whether the pass did nothing.
    pub fn is_empty(&self) -> bool {
        self.dropped.is_empty() && self.deleted_lines == 0
    }
}

/// `logs_YYYYMMDD`, the partition of `day` (days since the epoch).
pub fn partition_name(day: i64) -> String {
    let date = chrono::DateTime::from_timestamp(day * 86_400, 0)
        .map(|t| t.format("%Y%m%d").to_string())
        .unwrap_or_else(|| format!("d{day}"));
    format!("logs_{date}")
}

/// The day (days since the epoch) of `micros`.
pub fn day_of(micros: i64) -> i64 {
    micros.div_euclid(DAY_MICROS)
}

impl Maintenance<'_> {
    /// Makes the day partitions of `logs` from the day of `now` to
    /// [`DAYS_AHEAD`] days on that do not exist yet, moving any of their lines
    /// out of the default partition. Returns the partitions made. Nothing on
    /// SQLite.
    pub async fn ensure_log_partitions(&self, now: i64) -> Result<Vec<String>> {
        if self.backend != Backend::Postgres {
            return Ok(Vec::new());
        }
        let today = day_of(now);
        let existing = self.log_partition_days().await?;
        let missing: Vec<i64> = (today..=today + DAYS_AHEAD)
            .filter(|day| !existing.contains(day))
            .collect();
        let mut made = Vec::new();
        for day in missing {
            let mut tx = self.writer.begin().await?;
            lock_partitions(&mut tx).await?;
            if partition_exists(&mut tx, day).await? {
                tx.commit().await?;
                continue;
            }
            let name = partition_name(day);
            let (from, to) = (day * DAY_MICROS, (day + 1) * DAY_MICROS);
            // A standalone table first: lines of that day already in the
            // default partition move into it, then it is attached (making it
            // as a partition at once would fail on them).
            for statement in [
                format!("CREATE TABLE {name} (LIKE logs INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"),
                format!(
                    "WITH moved AS (DELETE FROM logs_default WHERE timestamp >= {from} \
                     AND timestamp < {to} RETURNING *) INSERT INTO {name} SELECT * FROM moved"
                ),
                format!(
                    "ALTER TABLE {name} ADD CONSTRAINT {name}_day \
                     CHECK (timestamp >= {from} AND timestamp < {to})"
                ),
                LOCK_TIMEOUT.to_string(),
                format!(
                    "ALTER TABLE logs ATTACH PARTITION {name} FOR VALUES FROM ({from}) TO ({to})"
                ),
                format!("ALTER TABLE {name} DROP CONSTRAINT {name}_day"),
            ] {
                sqlx::query(sql(statement)).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            tracing::info!(partition = %name, "made a day partition of the log lines");
            made.push(name);
        }
        Ok(made)
    }

    /// The days that have a partition of their own, oldest first (PostgreSQL).
    pub async fn log_partition_days(&self) -> Result<Vec<i64>> {
        if self.backend != Backend::Postgres {
            return Ok(Vec::new());
        }
        let names: Vec<(String,)> = sqlx::query_as(
            "SELECT c.relname::TEXT FROM pg_inherits i \
             JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent \
             WHERE p.relname = 'logs' AND p.relnamespace = c.relnamespace \
             AND p.relnamespace = to_regnamespace(current_schema())::OID",
        )
        .fetch_all(&self.reader)
        .await?;
        let mut days: Vec<i64> = names
            .iter()
            .filter_map(|(name,)| partition_day(name))
            .collect();
        days.sort_unstable();
        Ok(days)
    }

    /// Log retention by partition (PostgreSQL; nothing on SQLite), one
    /// pass: for each day queued in `log_cleanup`, drops its partition when
    /// all its lines expired; otherwise, when the day is settled (older than
    /// `settled_before`, micros: no more of its runs' lines will expire) or
    /// has no partition, deletes its expired lines in batches of
    /// `batch.log_lines`, pausing `pause` between batches so that other
    /// writers go first. Stops early when `stop` says so.
    pub async fn prune_log_partitions(
        &self,
        settled_before: i64,
        batch: BatchSize,
        pause: std::time::Duration,
        stop: impl Fn() -> bool,
    ) -> Result<PartitionsPruned> {
        let mut done = PartitionsPruned::default();
        if self.backend != Backend::Postgres {
            return Ok(done);
        }
        let partitions = self.log_partition_days().await?;
        let queued: Vec<(i64,)> =
            sqlx::query_as("SELECT DISTINCT day FROM log_cleanup ORDER BY day")
                .fetch_all(&self.reader)
                .await?;
        for (day,) in queued {
            if stop() {
                break;
            }
            let has_partition = partitions.binary_search(&day).is_ok();
            if has_partition {
                if let Some(lines) = self.drop_partition_if_expired(day).await? {
                    done.dropped.push(partition_name(day));
                    done.dropped_lines_estimate += lines;
                    continue;
                }
                if day >= day_of(settled_before) {
                    continue;
                }
            }
            loop {
                let (deleted, more) = self.delete_expired_lines(day, batch).await?;
                done.deleted_lines += deleted;
                if !more || stop() {
                    break;
                }
                tokio::time::sleep(pause).await;
            }
        }
        Ok(done)
    }

    /// Drops the partition of `day` when no run with lines there keeps
    /// them; returns its estimated line count when it did.
    async fn drop_partition_if_expired(&self, day: i64) -> Result<Option<u64>> {
        let name = partition_name(day);
        let mut tx = self.writer.begin().await?;
        lock_partitions(&mut tx).await?;
        // A run that keeps its lines and has some on that day holds the
        // partition. Lines written from now on wait for the partition lock.
        sqlx::query(sql(LOCK_TIMEOUT.to_string()))
            .execute(&mut *tx)
            .await?;
        sqlx::query(sql(format!("LOCK TABLE {name} IN SHARE MODE")))
            .execute(&mut *tx)
            .await?;
        let kept: Option<(i64,)> = sqlx::query_as(
            "SELECT 1::BIGINT FROM log_days d JOIN flow_runs r ON r.id = d.flow_run_id \
             WHERE d.day = $1 AND r.logs_pruned_at IS NULL LIMIT 1",
        )
        .bind(day)
        .fetch_optional(&mut *tx)
        .await?;
        if kept.is_some() {
            tx.commit().await?;
            return Ok(None);
        }
        let (estimate,): (f64,) = sqlx::query_as(sql(format!(
            "SELECT GREATEST(reltuples, 0)::FLOAT8 FROM pg_class WHERE oid = '{name}'::REGCLASS"
        )))
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(sql(format!("DROP TABLE {name}")))
            .execute(&mut *tx)
            .await?;
        for table in ["log_days", "log_cleanup"] {
            sqlx::query(sql(format!("DELETE FROM {table} WHERE day = $1")))
                .bind(day)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        tracing::info!(partition = %name, lines_estimate = estimate as u64, "dropped a day partition of expired log lines");
        Ok(Some(estimate as u64))
    }

    /// Deletes up to `batch.log_lines` lines of `day` of the runs queued for
    /// it, dequeuing each run whose lines of that day are all gone. Returns
    /// the lines deleted and whether runs are left in the queue.
    async fn delete_expired_lines(&self, day: i64, batch: BatchSize) -> Result<(u64, bool)> {
        let (from, to) = (day * DAY_MICROS, (day + 1) * DAY_MICROS);
        let mut tx = self.writer.begin().await?;
        let runs: Vec<(String,)> = sqlx::query_as(sql(format!(
            "SELECT flow_run_id FROM log_cleanup WHERE day = $1 ORDER BY flow_run_id LIMIT {}",
            batch.runs.max(1)
        )))
        .bind(day)
        .fetch_all(&mut *tx)
        .await?;
        if runs.is_empty() {
            tx.commit().await?;
            return Ok((0, false));
        }
        let mut deleted = 0;
        for (run,) in runs {
            let left = u64::from(batch.log_lines.max(1)).saturating_sub(deleted);
            if left == 0 {
                break;
            }
            let gone = sqlx::query(sql(format!(
                "DELETE FROM logs WHERE flow_run_id = $1 AND timestamp >= $2 AND timestamp < $3 \
                 AND id IN (SELECT id FROM logs WHERE flow_run_id = $1 AND timestamp >= $2 \
                 AND timestamp < $3 LIMIT {left})"
            )))
            .bind(&run)
            .bind(from)
            .bind(to)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            deleted += gone;
            if gone < left {
                for table in ["log_days", "log_cleanup"] {
                    sqlx::query(sql(format!(
                        "DELETE FROM {table} WHERE day = $1 AND flow_run_id = $2"
                    )))
                    .bind(day)
                    .bind(&run)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        tx.commit().await?;
        Ok((deleted, true))
    }
}

/// Queues the days of the runs `ids` for [`Maintenance::prune_log_partitions`]
/// (their lines expired or the runs are being deleted), inside the batch's
/// transaction. PostgreSQL only.
pub(crate) async fn queue_cleanup(tx: &mut AnyConnection, ids: &[String]) -> Result<()> {
    let placeholders: Vec<String> = (1..=ids.len()).map(|n| format!("${n}")).collect();
    let statement = format!(
        "INSERT INTO log_cleanup (day, flow_run_id) SELECT day, flow_run_id FROM log_days \
         WHERE flow_run_id IN ({}) ON CONFLICT DO NOTHING",
        placeholders.join(", ")
    );
    let mut insert = sqlx::query(sql(statement));
    for id in ids {
        insert = insert.bind(id);
    }
    insert.execute(&mut *tx).await?;
    Ok(())
}

async fn lock_partitions(tx: &mut AnyConnection) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(PARTITIONS_LOCK)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

async fn partition_exists(tx: &mut AnyConnection, day: i64) -> Result<bool> {
    let found: Option<(i64,)> = sqlx::query_as(
        "SELECT 1::BIGINT FROM pg_class WHERE relname = $1 \
         AND relnamespace = to_regnamespace(current_schema())::OID",
    )
    .bind(partition_name(day))
    .fetch_optional(&mut *tx)
    .await?;
    Ok(found.is_some())
}

/// The day of a partition named `logs_YYYYMMDD`.
fn partition_day(name: &str) -> Option<i64> {
    let date = name.strip_prefix("logs_")?;
    let date = chrono::NaiveDate::parse_from_str(date, "%Y%m%d").ok()?;
    let midnight = date.and_hms_opt(0, 0, 0)?.and_utc().timestamp();
    Some(midnight.div_euclid(86_400))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_is_named_by_its_day_and_back() {
        let day = day_of(1_765_065_600_000_000); // 2025-12-07T00:00:00Z
        assert_eq!(partition_name(day), "logs_20251207");
        assert_eq!(partition_day("logs_20251207"), Some(day));
        assert_eq!(day_of(1_765_065_600_000_000 - 1), day - 1);
        assert_eq!(partition_day("logs_default"), None);
        assert_eq!(day_of(-1), -1);
    }
}
