//! Automation deliveries: claimed under a lease (one replica at a time),
//! queued per receiver (none of a receiver already at its limit of
//! attempts in flight is claimed), attempted and recorded attempt by attempt.

use std::time::Duration;

use crate::Backend;
use crate::Deliveries;
use crate::error::Result;
use crate::rows::sql;

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
    /// Who receives it (`orch_core::automation::Action::receiver`); empty
    /// for a delivery written before receivers were recorded.
    pub receiver: String,
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

impl Deliveries<'_> {
    /// Claims up to `limit` deliveries that are due and not leased (or whose
    /// lease ran out: the replica delivering them died) for one attempt by
    /// `owner`, leased for `lease`, oldest due first; none whose receiver is
    /// in `busy` (receivers at their limit of attempts in flight: their
    /// deliveries wait in the table, so a hung receiver's backlog is neither
    /// claimed nor given back again and again). On PostgreSQL, replicas
    /// claiming at once skip each other's rows (`FOR UPDATE SKIP LOCKED`).
    pub async fn claim_deliveries(
        &self,
        owner: &str,
        lease: Duration,
        limit: i64,
        busy: &[String],
    ) -> Result<Vec<ClaimedDelivery>> {
        let now = self.now();
        let until = now + lease.as_micros() as i64;
        let skip_locked = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let not_busy = not_in("receiver", 5, busy.len());
        let mut tx = self.writer.begin().await?;
        let claimed = sqlx::query(sql(format!(
            "UPDATE automation_deliveries SET lease_owner = $1, lease_until = $2, attempts = attempts + 1, updated_at = $3 \
             WHERE id IN (SELECT id FROM automation_deliveries WHERE status = 'pending' AND next_attempt_at <= $3 \
             AND (lease_until IS NULL OR lease_until < $3){not_busy} ORDER BY next_attempt_at LIMIT $4{skip_locked})"
        )));
        let mut claim = claimed.bind(owner).bind(until).bind(now).bind(limit);
        for receiver in busy {
            claim = claim.bind(receiver);
        }
        let claimed = claim.execute(&mut *tx).await?;
        if claimed.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(Vec::new());
        }
        let rows = sqlx::query_as(
            "SELECT d.id, d.firing_id, d.automation_id, a.name AS automation_name, a.spec, d.action_index, \
             d.receiver, d.attempts, f.kind, f.flow_run_id, f.context, f.created_at AS fired_at \
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

    /// The earliest time a pending delivery whose receiver is not in `busy`
    /// falls due, if any.
    pub async fn next_delivery_due(&self, busy: &[String]) -> Result<Option<i64>> {
        let not_busy = not_in("receiver", 1, busy.len());
        let mut query = sqlx::query_as(sql(format!(
            "SELECT MIN(CASE WHEN lease_until IS NULL THEN next_attempt_at ELSE lease_until END) \
             FROM automation_deliveries WHERE status = 'pending'{not_busy}"
        )));
        for receiver in busy {
            query = query.bind(receiver);
        }
        let (due,): (Option<i64>,) = query.fetch_one(&self.reader).await?;
        Ok(due)
    }
}

/// ` AND column NOT IN ($first, ...)` for `count` values, or nothing.
fn not_in(column: &str, first: usize, count: usize) -> String {
    if count == 0 {
        return String::new();
    }
    let placeholders: Vec<String> = (first..first + count).map(|n| format!("${n}")).collect();
    format!(" AND {column} NOT IN ({})", placeholders.join(", "))
}
