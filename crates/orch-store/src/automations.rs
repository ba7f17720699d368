//! Automations as registered by `orch deploy`: their specs (JSON of
//! `orch_core::automation::AutomationSpec`), pause state, counters and
//! delivery history; and the custom events flows emit.

use crate::Automations;
use crate::error::{Result, StoreError};
use crate::rows::sql;
use crate::{Backend, new_id};

/// A registered automation with its counters.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Automation {
    /// Full id.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// The spec as JSON (`orch_core::automation::AutomationSpec`).
    pub spec: String,
    /// 1 when paused.
    pub paused: i64,
    /// When it last fired (not suppressed), microseconds.
    pub last_fired_at: Option<i64>,
    /// Firings delivered or being delivered.
    pub firings: i64,
    /// Firings suppressed by the cooldown.
    pub suppressed: i64,
    /// Firings suppressed by loop protection (they would have continued a
    /// chain of automations through one already in it, or past the longest
    /// chain allowed).
    pub loop_suppressed: i64,
    /// Why the last of those was suppressed, and how to fix it; empty when
    /// none was.
    pub loop_message: String,
    /// When the last of those was, microseconds.
    pub loop_suppressed_at: Option<i64>,
    /// Deliveries that reached their receiver.
    pub delivered: i64,
    /// Deliveries given up after every attempt failed.
    pub failed: i64,
    /// Deliveries skipped (a `${NAME}` with no value).
    pub skipped: i64,
    /// Deliveries waiting for their next attempt.
    pub pending: i64,
    /// When it was registered.
    pub created_at: i64,
    /// When its spec last changed.
    pub updated_at: i64,
}

/// An automation to register.
#[derive(Debug, Clone)]
pub struct AutomationInput {
    /// Unique name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// The spec as JSON.
    pub spec: String,
    /// Whether it is registered paused (only when it is new).
    pub paused: bool,
}

/// One line of an automation's history: a delivery attempt, or a firing the
/// cooldown or loop protection suppressed.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AutomationEntry {
    /// The firing.
    pub firing_id: String,
    /// `fired` or `resolved`.
    pub kind: String,
    /// The run that caused it, if any.
    pub flow_run_id: Option<String>,
    /// The action's type, e.g. `slack`; empty for a suppressed firing.
    pub action_type: String,
    /// Attempt number, from 1; 0 for a suppressed firing.
    pub attempt: i64,
    /// `delivered`, `retrying`, `failed`, `skipped`, `suppressed` (the
    /// cooldown) or `loop-suppressed`.
    pub outcome: String,
    /// The receiver's HTTP status code, when it answered.
    pub status_code: Option<i64>,
    /// Why it failed or was skipped; empty otherwise.
    pub error: String,
    /// When the attempt started (or the firing was suppressed), microseconds.
    pub happened_at: i64,
    /// How long the attempt took, microseconds.
    pub duration_micros: i64,
}

const AUTOMATION_SELECT: &str = "SELECT a.id, a.name, a.description, a.spec, a.paused, \
    a.last_fired_at, a.firings, a.suppressed, a.loop_suppressed, a.loop_message, a.loop_suppressed_at, \
    (SELECT COUNT(*) FROM automation_deliveries d WHERE d.automation_id = a.id AND d.status = 'delivered') AS delivered, \
    (SELECT COUNT(*) FROM automation_deliveries d WHERE d.automation_id = a.id AND d.status = 'failed') AS failed, \
    (SELECT COUNT(*) FROM automation_deliveries d WHERE d.automation_id = a.id AND d.status = 'skipped') AS skipped, \
    (SELECT COUNT(*) FROM automation_deliveries d WHERE d.automation_id = a.id AND d.status = 'pending') AS pending, \
    a.created_at, a.updated_at FROM automations a";

fn not_found(name: &str) -> StoreError {
    StoreError::NotFound {
        kind: "automation",
        name: name.to_owned(),
        hint: ": list automations with 'orch automation ls'".into(),
    }
}

impl Automations<'_> {
    /// Creates or updates automations by name, all in one transaction.
    /// Returns each name with `created`, `updated` or `unchanged`. An
    /// automation paused by hand stays paused.
    pub async fn apply_automations(
        &self,
        inputs: &[AutomationInput],
    ) -> Result<Vec<(String, &'static str)>> {
        let now = self.now();
        let mut tx = self.writer.begin().await?;
        let mut changes = Vec::with_capacity(inputs.len());
        for input in inputs {
            let existing: Option<(String, String, String)> =
                sqlx::query_as("SELECT id, spec, description FROM automations WHERE name = $1")
                    .bind(&input.name)
                    .fetch_optional(&mut *tx)
                    .await?;
            let change = match existing {
                None => {
                    sqlx::query(
                        "INSERT INTO automations (id, name, description, spec, paused, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $6)",
                    )
                    .bind(new_id())
                    .bind(&input.name)
                    .bind(&input.description)
                    .bind(&input.spec)
                    .bind(i64::from(input.paused))
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    "created"
                }
                Some((_, spec, description))
                    if spec == input.spec && description == input.description =>
                {
                    "unchanged"
                }
                Some((id, _, _)) => {
                    sqlx::query(
                        "UPDATE automations SET spec = $1, description = $2, updated_at = $3 WHERE id = $4",
                    )
                    .bind(&input.spec)
                    .bind(&input.description)
                    .bind(now)
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
                    "updated"
                }
            };
            changes.push((input.name.clone(), change));
        }
        tx.commit().await?;
        Ok(changes)
    }

    /// Every automation, by name.
    pub async fn automations(&self) -> Result<Vec<Automation>> {
        Ok(
            sqlx::query_as(sql(format!("{AUTOMATION_SELECT} ORDER BY a.name")))
                .fetch_all(&self.reader)
                .await?,
        )
    }

    /// The automation named `name`.
    pub async fn automation(&self, name: &str) -> Result<Automation> {
        let found: Option<Automation> =
            sqlx::query_as(sql(format!("{AUTOMATION_SELECT} WHERE a.name = $1")))
                .bind(name)
                .fetch_optional(&self.reader)
                .await?;
        found.ok_or_else(|| not_found(name))
    }

    /// Pauses (no firing) or resumes an automation.
    pub async fn set_automation_paused(&self, name: &str, paused: bool) -> Result<Automation> {
        let done =
            sqlx::query("UPDATE automations SET paused = $1, updated_at = $2 WHERE name = $3")
                .bind(i64::from(paused))
                .bind(self.now())
                .bind(name)
                .execute(self.writer.pool())
                .await?;
        if done.rows_affected() == 0 {
            return Err(not_found(name));
        }
        self.automation(name).await
    }

    /// Deletes an automation with its firings and history.
    pub async fn delete_automation(&self, name: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM automations WHERE name = $1")
            .bind(name)
            .execute(self.writer.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(not_found(name));
        }
        Ok(())
    }

    /// The latest `limit` entries of an automation's history, newest first.
    pub async fn automation_history(&self, name: &str, limit: i64) -> Result<Vec<AutomationEntry>> {
        let automation = self.automation(name).await?;
        Ok(sqlx::query_as(
            "SELECT * FROM ( \
               SELECT f.id AS firing_id, f.kind, f.flow_run_id, d.action_type, t.attempt, t.outcome, \
                      t.status_code, t.error, t.started_at AS happened_at, t.duration_micros \
               FROM automation_attempts t \
               JOIN automation_deliveries d ON d.id = t.delivery_id \
               JOIN automation_firings f ON f.id = d.firing_id \
               WHERE t.automation_id = $1 \
               UNION ALL \
               SELECT f.id AS firing_id, f.kind, f.flow_run_id, '' AS action_type, 0 AS attempt, \
                      CASE WHEN f.suppressed = 2 THEN 'loop-suppressed' ELSE 'suppressed' END AS outcome, \
                      NULL AS status_code, \
                      CASE WHEN f.suppressed = 2 THEN f.note ELSE 'within the cooldown' END AS error, \
                      f.created_at AS happened_at, 0 AS duration_micros \
               FROM automation_firings f WHERE f.automation_id = $1 AND f.suppressed <> 0 \
             ) h ORDER BY happened_at DESC LIMIT $2",
        )
        .bind(&automation.id)
        .bind(limit)
        .fetch_all(&self.reader)
        .await?)
    }

    /// Records a custom event of a run (`ctx.emit`); returns its position.
    pub async fn emit_flow_run_event(
        &self,
        run_id: &str,
        name: &str,
        payload: &str,
    ) -> Result<i64> {
        if name.is_empty() || name.len() > 200 {
            return Err(StoreError::InvalidInput(
                "an event needs a name of 1 to 200 characters, e.g. \"no-data\"".into(),
            ));
        }
        let mut tx = self.writer.begin().await?;
        let exists: Option<(String,)> = sqlx::query_as("SELECT id FROM flow_runs WHERE id = $1")
            .bind(run_id)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            tx.rollback().await?;
            return Err(crate::transitions::flow_run_not_found(run_id));
        }
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO flow_run_events (flow_run_id, name, payload, timestamp) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(run_id)
        .bind(name)
        .bind(payload)
        .bind(self.now())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    pub(crate) fn lock_suffix(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        }
    }
}
