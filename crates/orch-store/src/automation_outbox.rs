//! The automation outbox: what the engine reads (state changes and custom
//! events, in id order from a durable cursor), the firings it writes (once
//! per automation and source, whatever replica or restart writes them), and
//! the deliveries it claims under a lease and finishes.

use std::time::Duration;

use crate::error::Result;
use crate::rows::sql;
use crate::{Backend, Store, new_id};

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

/// A firing to record.
#[derive(Debug, Clone)]
pub struct NewFiring {
    /// The automation.
    pub automation_id: String,
    /// What caused it, unique per automation (`state:42`, `event:7`,
    /// `deadline:RUN:opened`, ...).
    pub source_key: String,
    /// `fired` or `resolved`.
    pub kind: String,
    /// The run it is about, if any.
    pub flow_run_id: Option<String>,
    /// What the actions are told (JSON).
    pub context: String,
    /// The type of each action, in order.
    pub actions: Vec<String>,
    /// The automation's cooldown; `resolved` firings are never suppressed.
    pub cooldown_seconds: u64,
}

/// What [`Store::record_firing`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FiringOutcome {
    /// Written, with one pending delivery per action.
    Created(String),
    /// Written as suppressed by the cooldown; nothing to deliver.
    Suppressed,
    /// Already written (by this server earlier or by another replica).
    Duplicate,
}

/// A delivery claimed for one attempt.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ClaimedDelivery {
    /// The delivery: its id is the idempotency key receivers see.
    pub id: String,
    /// The firing.
    pub firing_id: String,
    /// The automation.
    pub automation_id: String,
    /// Its name.
    pub automation_name: String,
    /// Its spec (JSON).
    pub spec: String,
    /// Which action of the spec.
    pub action_index: i64,
    /// This attempt's number, from 1.
    pub attempts: i64,
    /// `fired` or `resolved`.
    pub kind: String,
    /// The run it is about, if any.
    pub flow_run_id: Option<String>,
    /// What the action is told (JSON).
    pub context: String,
    /// When the firing was written, microseconds.
    pub fired_at: i64,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptResult {
    /// `delivered`, `retrying`, `failed` or `skipped`.
    pub outcome: &'static str,
    /// When to try again (`retrying` only), microseconds.
    pub retry_at: Option<i64>,
    /// The receiver's HTTP status, when it answered.
    pub status_code: Option<i64>,
    /// Why it failed or was skipped.
    pub error: String,
    /// When the attempt started, microseconds.
    pub started_at: i64,
    /// How long it took, microseconds.
    pub duration_micros: i64,
}

impl Store {
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

    /// What [`Store::automations`] would return has changed when this has:
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

    /// Writes a firing once: a second call with the same automation and
    /// source key does nothing. Within the automation's cooldown the firing
    /// is recorded as suppressed and counted; otherwise one pending delivery
    /// per action is written with it, in the same transaction.
    pub async fn record_firing(&self, firing: &NewFiring) -> Result<FiringOutcome> {
        let now = self.now();
        let mut tx = self.writer.begin().await?;
        let lock = self.lock_suffix();
        let automation: Option<(Option<i64>,)> = sqlx::query_as(sql(format!(
            "SELECT last_fired_at FROM automations WHERE id = $1{lock}"
        )))
        .bind(&firing.automation_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((last_fired,)) = automation else {
            tx.rollback().await?;
            return Ok(FiringOutcome::Duplicate);
        };
        let seen: Option<(String,)> = sqlx::query_as(
            "SELECT id FROM automation_firings WHERE automation_id = $1 AND source_key = $2",
        )
        .bind(&firing.automation_id)
        .bind(&firing.source_key)
        .fetch_optional(&mut *tx)
        .await?;
        if seen.is_some() {
            tx.rollback().await?;
            return Ok(FiringOutcome::Duplicate);
        }
        let suppressed = firing.kind == "fired"
            && !orch_core::automation::cooldown_allows(last_fired, now, firing.cooldown_seconds);
        let id = new_id();
        sqlx::query(
            "INSERT INTO automation_firings (id, automation_id, source_key, kind, suppressed, flow_run_id, context, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&id)
        .bind(&firing.automation_id)
        .bind(&firing.source_key)
        .bind(&firing.kind)
        .bind(i64::from(suppressed))
        .bind(&firing.flow_run_id)
        .bind(&firing.context)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if suppressed {
            sqlx::query("UPDATE automations SET suppressed = suppressed + 1 WHERE id = $1")
                .bind(&firing.automation_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(FiringOutcome::Suppressed);
        }
        let fired_at = if firing.kind == "fired" {
            Some(now)
        } else {
            last_fired
        };
        sqlx::query(
            "UPDATE automations SET firings = firings + 1, last_fired_at = $1 WHERE id = $2",
        )
        .bind(fired_at)
        .bind(&firing.automation_id)
        .execute(&mut *tx)
        .await?;
        for (index, action) in firing.actions.iter().enumerate() {
            sqlx::query(
                "INSERT INTO automation_deliveries (id, firing_id, automation_id, action_index, action_type, \
                 status, next_attempt_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6, $6)",
            )
            .bind(new_id())
            .bind(&id)
            .bind(&firing.automation_id)
            .bind(index as i64)
            .bind(action)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(FiringOutcome::Created(id))
    }

    /// Claims up to `limit` deliveries that are due and not leased (or whose
    /// lease ran out: the replica delivering them died) for one attempt by
    /// `owner`, leased for `lease`. On PostgreSQL, replicas claiming at once
    /// skip each other's rows (`FOR UPDATE SKIP LOCKED`).
    pub async fn claim_deliveries(
        &self,
        owner: &str,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<ClaimedDelivery>> {
        let now = self.now();
        let until = now + lease.as_micros() as i64;
        let skip_locked = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let mut tx = self.writer.begin().await?;
        let claimed = sqlx::query(sql(format!(
            "UPDATE automation_deliveries SET lease_owner = $1, lease_until = $2, attempts = attempts + 1, updated_at = $3 \
             WHERE id IN (SELECT id FROM automation_deliveries WHERE status = 'pending' AND next_attempt_at <= $3 \
             AND (lease_until IS NULL OR lease_until < $3) ORDER BY next_attempt_at LIMIT $4{skip_locked})"
        )))
        .bind(owner)
        .bind(until)
        .bind(now)
        .bind(limit)
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(Vec::new());
        }
        let rows = sqlx::query_as(
            "SELECT d.id, d.firing_id, d.automation_id, a.name AS automation_name, a.spec, d.action_index, \
             d.attempts, f.kind, f.flow_run_id, f.context, f.created_at AS fired_at \
             FROM automation_deliveries d JOIN automation_firings f ON f.id = d.firing_id \
             JOIN automations a ON a.id = d.automation_id \
             WHERE d.lease_owner = $1 AND d.lease_until = $2 AND d.status = 'pending' ORDER BY d.next_attempt_at",
        )
        .bind(owner)
        .bind(until)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// Records how an attempt of a delivery claimed by `owner` ended; a
    /// delivery whose lease another replica has since taken is left to it
    /// (the attempt is still recorded).
    pub async fn finish_delivery(
        &self,
        delivery: &ClaimedDelivery,
        owner: &str,
        result: &AttemptResult,
    ) -> Result<()> {
        let now = self.now();
        let status = match result.outcome {
            "retrying" => "pending",
            other => other,
        };
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "UPDATE automation_deliveries SET status = $1, next_attempt_at = COALESCE($2, next_attempt_at), \
             lease_owner = NULL, lease_until = NULL, last_status_code = $3, last_error = $4, updated_at = $5, \
             delivered_at = CASE WHEN $1 = 'delivered' THEN $5 ELSE delivered_at END \
             WHERE id = $6 AND lease_owner = $7",
        )
        .bind(status)
        .bind(result.retry_at)
        .bind(result.status_code)
        .bind(&result.error)
        .bind(now)
        .bind(&delivery.id)
        .bind(owner)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO automation_attempts (delivery_id, automation_id, attempt, outcome, status_code, error, \
             started_at, duration_micros) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&delivery.id)
        .bind(&delivery.automation_id)
        .bind(delivery.attempts)
        .bind(result.outcome)
        .bind(result.status_code)
        .bind(&result.error)
        .bind(result.started_at)
        .bind(result.duration_micros)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Gives back a delivery claimed by `owner` without attempting it (its
    /// receiver is busy): not counted as an attempt, due again at `due`.
    pub async fn release_delivery(
        &self,
        delivery: &ClaimedDelivery,
        owner: &str,
        due: i64,
    ) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "UPDATE automation_deliveries SET lease_owner = NULL, lease_until = NULL, \
             attempts = attempts - 1, next_attempt_at = $1, updated_at = $2 \
             WHERE id = $3 AND lease_owner = $4 AND status = 'pending'",
        )
        .bind(due)
        .bind(self.now())
        .bind(&delivery.id)
        .bind(owner)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The earliest time a pending delivery falls due, if any.
    pub async fn next_delivery_due(&self) -> Result<Option<i64>> {
        let (due,): (Option<i64>,) = sqlx::query_as(
            "SELECT MIN(CASE WHEN lease_until IS NULL THEN next_attempt_at ELSE lease_until END) \
             FROM automation_deliveries WHERE status = 'pending'",
        )
        .fetch_one(&self.reader)
        .await?;
        Ok(due)
    }
}
