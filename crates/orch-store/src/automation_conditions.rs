//! What condition triggers look at (runs running too long, runs not started
//! after their slot, deployments without a success), and their incidents:
//! one row per automation and subject while the condition holds.

use crate::Automations;
use crate::automation_outbox::OutboxRow;
use crate::error::Result;
use crate::rows::sql;

/// A run as condition triggers see it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ConditionRun {
    /// The run and what is known of it, as the outbox reads it (`position`
    /// is 0, `timestamp` is when it entered its current state).
    #[sqlx(flatten)]
    pub row: OutboxRow,
    /// When it first started running, if it has.
    pub start_time: Option<i64>,
    /// When it was due.
    pub expected_start: i64,
}

const RUN_SELECT: &str = "SELECT 0 AS position, r.id AS flow_run_id, r.name AS run_name, f.name AS flow, \
    COALESCE(f.name || '/' || d.name, '') AS deployment, r.tags, COALESCE(p.name, '') AS pool, r.parameters, \
    r.state_type AS kind, r.state_name AS name, r.state_message AS message, r.state_timestamp AS timestamp, \
    r.run_count, r.state_message, r.trace_parent, r.start_time, r.expected_start \
    FROM flow_runs r JOIN flows f ON f.id = r.flow_id \
    LEFT JOIN deployments d ON d.id = r.deployment_id LEFT JOIN work_pools p ON p.id = r.work_pool_id";

/// An open incident.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Incident {
    /// What it is about: a run id, a deployment, a worker id, a pool.
    pub subject: String,
    /// When it opened, microseconds.
    pub opened_at: i64,
    /// The context of its opening firing (JSON).
    pub context: String,
}

impl Automations<'_> {
    /// Runs Running (or Cancelling) that started at or before `started_before`.
    pub async fn runs_running_since(&self, started_before: i64) -> Result<Vec<ConditionRun>> {
        Ok(sqlx::query_as(sql(format!(
            "{RUN_SELECT} WHERE r.state_type = 'RUNNING' AND r.start_time <= $1 ORDER BY r.start_time LIMIT 1000"
        )))
        .bind(started_before)
        .fetch_all(&self.reader)
        .await?)
    }

    /// Runs still Scheduled (incl. Late) whose slot was at or before `due_before`.
    pub async fn runs_not_started(&self, due_before: i64) -> Result<Vec<ConditionRun>> {
        Ok(sqlx::query_as(sql(format!(
            "{RUN_SELECT} WHERE r.state_type = 'SCHEDULED' AND r.expected_start <= $1 ORDER BY r.expected_start LIMIT 1000"
        )))
        .bind(due_before)
        .fetch_all(&self.reader)
        .await?)
    }

    /// A run by id, as condition triggers see it.
    pub async fn condition_run(&self, run_id: &str) -> Result<Option<ConditionRun>> {
        Ok(sqlx::query_as(sql(format!("{RUN_SELECT} WHERE r.id = $1")))
            .bind(run_id)
            .fetch_optional(&self.reader)
            .await?)
    }

    /// When the deployment `flow/name` was created and when its last
    /// Completed run ended; `None` when no such deployment exists.
    pub async fn deployment_success(&self, reference: &str) -> Result<Option<(i64, Option<i64>)>> {
        Ok(sqlx::query_as(
            "SELECT d.created_at, (SELECT MAX(r.end_time) FROM flow_runs r \
               WHERE r.deployment_id = d.id AND r.state_type = 'COMPLETED') \
             FROM deployments d JOIN flows f ON f.id = d.flow_id WHERE f.name || '/' || d.name = $1",
        )
        .bind(reference)
        .fetch_optional(&self.reader)
        .await?)
    }

    /// Pools (by name) with runs due at `now` and not claimed, and how many.
    pub async fn pools_with_due_runs(&self, now: i64) -> Result<Vec<(String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT p.name, COUNT(*) FROM flow_runs r JOIN work_pools p ON p.id = r.work_pool_id \
             WHERE r.state_type = 'SCHEDULED' AND r.expected_start <= $1 AND p.paused = 0 GROUP BY p.name",
        )
        .bind(now)
        .fetch_all(&self.reader)
        .await?)
    }

    /// The open incidents of an automation.
    pub async fn incidents(&self, automation_id: &str) -> Result<Vec<Incident>> {
        Ok(sqlx::query_as(
            "SELECT subject, opened_at, context FROM automation_incidents WHERE automation_id = $1",
        )
        .bind(automation_id)
        .fetch_all(&self.reader)
        .await?)
    }

    /// Opens an incident unless one is open; returns its opening time.
    pub async fn open_incident(
        &self,
        automation_id: &str,
        subject: &str,
        context: &str,
    ) -> Result<i64> {
        sqlx::query(
            "INSERT INTO automation_incidents (automation_id, subject, opened_at, context) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (automation_id, subject) DO NOTHING",
        )
        .bind(automation_id)
        .bind(subject)
        .bind(self.now())
        .bind(context)
        .execute(self.writer.pool())
        .await?;
        let (opened_at,): (i64,) = sqlx::query_as(
            "SELECT opened_at FROM automation_incidents WHERE automation_id = $1 AND subject = $2",
        )
        .bind(automation_id)
        .bind(subject)
        .fetch_one(self.writer.pool())
        .await?;
        Ok(opened_at)
    }

    /// Closes an incident.
    pub async fn close_incident(&self, automation_id: &str, subject: &str) -> Result<()> {
        sqlx::query("DELETE FROM automation_incidents WHERE automation_id = $1 AND subject = $2")
            .bind(automation_id)
            .bind(subject)
            .execute(self.writer.pool())
            .await?;
        Ok(())
    }

    /// Whether the firing with `source_key` was suppressed by the cooldown
    /// (`None`: there is no such firing).
    pub async fn firing_suppressed(
        &self,
        automation_id: &str,
        source_key: &str,
    ) -> Result<Option<bool>> {
        let found: Option<(i64,)> = sqlx::query_as(
            "SELECT suppressed FROM automation_firings WHERE automation_id = $1 AND source_key = $2",
        )
        .bind(automation_id)
        .bind(source_key)
        .fetch_optional(&self.reader)
        .await?;
        Ok(found.map(|(suppressed,)| suppressed != 0))
    }
}
