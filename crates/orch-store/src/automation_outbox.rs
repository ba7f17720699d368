//! The automation outbox: what the engine reads (state changes and custom
//! events, in id order from a durable cursor). The firings it writes are in
//! `automation_firings`, the deliveries it claims in `automation_deliveries`.

use crate::Outbox;
use crate::error::Result;
use crate::rows::sql;

/// A row that committed with an id above a missing one is read again until
/// the missing id appears or this long has passed (a rolled-back insert
/// leaves a gap for ever; a transaction still open fills it).
const GAP_GRACE_MICROS: i64 = 10_000_000;

/// Where the engine reads from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxSource {
    /// `flow_run_states`: every state a run entered.
    States,
    /// `flow_run_events`: custom events flows emitted.
    Events,
}

impl OutboxSource {
    fn name(self) -> &'static str {
        match self {
            OutboxSource::States => "states",
            OutboxSource::Events => "events",
        }
    }

    fn table(self) -> &'static str {
        match self {
            OutboxSource::States => "flow_run_states",
            OutboxSource::Events => "flow_run_events",
        }
    }

    fn select(self) -> String {
        let (table, kind, name, message) = match self {
            OutboxSource::States => ("flow_run_states", "s.type", "s.name", "s.message"),
            OutboxSource::Events => ("flow_run_events", "'EVENT'", "s.name", "s.payload"),
        };
        format!(
            "SELECT s.id AS position, s.flow_run_id, r.name AS run_name, f.name AS flow, \
                 COALESCE(f.name || '/' || d.name, '') AS deployment, r.tags, COALESCE(p.name, '') AS pool, \
                 r.parameters, {kind} AS kind, {name} AS name, {message} AS message, s.timestamp, \
                 r.run_count, r.state_message, r.trace_parent \
                 FROM {table} s JOIN flow_runs r ON r.id = s.flow_run_id JOIN flows f ON f.id = r.flow_id \
                 LEFT JOIN deployments d ON d.id = r.deployment_id LEFT JOIN work_pools p ON p.id = r.work_pool_id \
                 WHERE s.id > $1 ORDER BY s.id LIMIT $2"
        )
    }
}

/// A state change or event, with what is known of its run.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct OutboxRow {
    /// Its id in its source table.
    pub position: i64,
    /// The run.
    pub flow_run_id: String,
    /// The run's name.
    pub run_name: String,
    /// The run's flow.
    pub flow: String,
    /// `flow/name`, or empty for a run of no deployment.
    pub deployment: String,
    /// The run's tags (JSON array).
    pub tags: String,
    /// The run's pool, or empty.
    pub pool: String,
    /// The run's parameters (JSON object).
    pub parameters: String,
    /// The state type (`FAILED`, ...) or `EVENT`.
    pub kind: String,
    /// The state's or event's name.
    pub name: String,
    /// The state's message, or the event's payload (JSON).
    pub message: String,
    /// When it happened, microseconds.
    pub timestamp: i64,
    /// How many times the run has started.
    pub run_count: i64,
    /// The run's current state message.
    pub state_message: String,
    /// The W3C `traceparent` the run was created with, if any: with the
    /// run's id it gives the run's trace ([`orch_core::RunTrace::of`]).
    pub trace_parent: Option<String>,
}

impl Outbox<'_> {
    /// The next rows of `source` after the engine's cursor (at most
    /// `limit`), and the position the cursor may move to once they are
    /// handled: past every row whose predecessors have all committed, or
    /// that is older than the gap grace. A new cursor starts at the end, so
    /// history from before the engine first ran fires nothing.
    pub async fn outbox_batch(
        &self,
        source: OutboxSource,
        limit: i64,
    ) -> Result<(Vec<OutboxRow>, i64)> {
        let cursor = self.outbox_cursor(source).await?;
        let rows: Vec<OutboxRow> = sqlx::query_as(sql(source.select()))
            .bind(cursor)
            .bind(limit)
            .fetch_all(&self.reader)
            .await?;
        let now = self.now();
        let mut advance = cursor;
        for row in &rows {
            if row.position == advance + 1 || now - row.timestamp > GAP_GRACE_MICROS {
                advance = row.position;
            } else {
                break;
            }
        }
        Ok((rows, advance))
    }

    /// The engine's cursor of `source`; a new one starts at the source's end.
    async fn outbox_cursor(&self, source: OutboxSource) -> Result<i64> {
        let cursor: Option<(i64,)> =
            sqlx::query_as("SELECT position FROM automation_cursors WHERE source = $1")
                .bind(source.name())
                .fetch_optional(&self.reader)
                .await?;
        if let Some((cursor,)) = cursor {
            return Ok(cursor);
        }
        // `WHERE true`: SQLite needs it to read ON CONFLICT after a SELECT.
        sqlx::query(sql(format!(
            "INSERT INTO automation_cursors (source, position) \
             SELECT $1, COALESCE(MAX(id), 0) FROM {} WHERE true ON CONFLICT (source) DO NOTHING",
            source.table()
        )))
        .bind(source.name())
        .execute(self.writer.pool())
        .await?;
        let (cursor,): (i64,) =
            sqlx::query_as("SELECT position FROM automation_cursors WHERE source = $1")
                .bind(source.name())
                .fetch_one(self.writer.pool())
                .await?;
        Ok(cursor)
    }

    /// Moves the cursor of `source` past rows no automation can fire on,
    /// without reading them: the engine calls it while no automation is
    /// active, as of `active_at` (microseconds). An automation made later
    /// only fires on rows from its creation on, so every row older than
    /// `active_at` may be skipped. The last [`GAP_GRACE_MICROS`] before it
    /// are kept, as a row's timestamp is taken when its transaction starts
    /// and ids when it writes: a row written just before `active_at` may
    /// have a lower id than one stamped earlier. Returns the new position.
    pub async fn skip_outbox(&self, source: OutboxSource, active_at: i64) -> Result<i64> {
        let cursor = self.outbox_cursor(source).await?;
        let last: Option<(i64,)> = sqlx::query_as(sql(format!(
            "SELECT id FROM {} WHERE id > $1 AND timestamp < $2 ORDER BY id DESC LIMIT 1",
            source.table()
        )))
        .bind(cursor)
        .bind(active_at - GAP_GRACE_MICROS)
        .fetch_optional(&self.reader)
        .await?;
        match last {
            Some((position,)) => {
                self.advance_outbox(source, position).await?;
                Ok(position)
            }
            None => Ok(cursor),
        }
    }

    /// What [`Automations::automations`] would return has changed when this has:
    /// the number of automations and the latest `updated_at` (every create,
    /// update, pause and resume sets it; a delete lowers the count). A cheap
    /// read for the engine, which keeps the list between changes.
    pub async fn automations_version(&self) -> Result<(i64, i64)> {
        Ok(
            sqlx::query_as("SELECT COUNT(*), COALESCE(MAX(updated_at), 0) FROM automations")
                .fetch_one(&self.reader)
                .await?,
        )
    }

    /// Moves the engine's cursor of `source` forward to `position` (never back).
    pub async fn advance_outbox(&self, source: OutboxSource, position: i64) -> Result<()> {
        sqlx::query(
            "UPDATE automation_cursors SET position = $1 WHERE source = $2 AND position < $1",
        )
        .bind(position)
        .bind(source.name())
        .execute(self.writer.pool())
        .await?;
        Ok(())
    }
}
