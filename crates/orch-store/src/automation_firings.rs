//! Automation firings: written once per (automation, source), whatever
//! replica or restart writes them, with one pending delivery per action;
//! suppressed by the cooldown, or by loop protection when the firing would
//! continue a chain of automations through one already in it
//! ([`orch_core::automation::extend_chain`]).

use orch_core::automation::{LOOP_SUPPRESSED_EVENT, extend_chain};
use serde_json::{Value, json};

use crate::Automations;
use crate::error::Result;
use crate::new_id;
use crate::rows::sql;
use crate::write::WriteTx;

/// `automation_firings.suppressed`: by the cooldown.
const SUPPRESSED_BY_COOLDOWN: i64 = 1;
/// `automation_firings.suppressed`: by loop protection.
const SUPPRESSED_AS_LOOP: i64 = 2;

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
    /// What the actions are told (a JSON object); the chain of automations
    /// that led to the run is added as `automation_chain`.
    pub context: String,
    /// Each action, in order: one delivery each.
    pub actions: Vec<NewDelivery>,
    /// The automation's cooldown; `resolved` firings are never suppressed.
    pub cooldown_seconds: u64,
    /// Whether the automation creates runs (a `run-deployment` action):
    /// only such a firing can continue a chain, and be loop-suppressed.
    pub creates_runs: bool,
}

/// One action of a firing, delivered on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    /// The action's type, e.g. `webhook`.
    pub action_type: String,
    /// Who receives it (`orch_core::automation::Action::receiver`).
    pub receiver: String,
}

/// What [`Automations::record_firing`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FiringOutcome {
    /// Written, with one pending delivery per action.
    Created(String),
    /// Written as suppressed by the cooldown; nothing to deliver.
    Suppressed,
    /// Written as loop-suppressed, with this reason: nothing to deliver, the
    /// event [`LOOP_SUPPRESSED_EVENT`] was written on the run.
    LoopSuppressed(String),
    /// Already written (by this server earlier or by another replica).
    Duplicate,
}

impl Automations<'_> {
    /// Writes a firing once: a second call with the same automation and
    /// source key does nothing. A firing that would continue a loop is
    /// recorded loop-suppressed, counted with its reason on the automation,
    /// and announced by the event [`LOOP_SUPPRESSED_EVENT`] on the run;
    /// within the automation's cooldown it is recorded suppressed and
    /// counted; otherwise one pending delivery per action is written with
    /// it. All in one transaction.
    pub async fn record_firing(&self, firing: &NewFiring) -> Result<FiringOutcome> {
        let now = self.now();
        let mut tx = self.writer.begin().await?;
        let lock = self.lock_suffix();
        let automation: Option<(String, Option<i64>)> = sqlx::query_as(sql(format!(
            "SELECT name, last_fired_at FROM automations WHERE id = $1{lock}"
        )))
        .bind(&firing.automation_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((name, last_fired)) = automation else {
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
        let fired = firing.kind == "fired";
        let mut context = firing.context.clone();
        let mut stop = None;
        if let Some(run) = &firing.flow_run_id {
            let run_chain = run_chain(&mut tx, run).await?;
            let chain = match extend_chain(&run_chain, &name, fired && firing.creates_runs) {
                Ok(chain) => chain,
                Err(loop_stop) => {
                    stop = Some(loop_stop.reason);
                    loop_stop.chain
                }
            };
            context = with_chain(&context, &chain);
        }
        let suppressed = if stop.is_some() {
            SUPPRESSED_AS_LOOP
        } else if fired
            && !orch_core::automation::cooldown_allows(last_fired, now, firing.cooldown_seconds)
        {
            SUPPRESSED_BY_COOLDOWN
        } else {
            0
        };
        let id = new_id();
        sqlx::query(
            "INSERT INTO automation_firings (id, automation_id, source_key, kind, suppressed, flow_run_id, context, created_at, note) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&id)
        .bind(&firing.automation_id)
        .bind(&firing.source_key)
        .bind(&firing.kind)
        .bind(suppressed)
        .bind(&firing.flow_run_id)
        .bind(&context)
        .bind(now)
        .bind(stop.as_deref().unwrap_or_default())
        .execute(&mut *tx)
        .await?;
        if let Some(reason) = stop {
            let run = firing.flow_run_id.as_deref().unwrap_or_default();
            loop_suppressed(
                &mut tx,
                &firing.automation_id,
                &name,
                run,
                &context,
                &reason,
                now,
            )
            .await?;
            tx.commit().await?;
            return Ok(FiringOutcome::LoopSuppressed(reason));
        }
        if suppressed == SUPPRESSED_BY_COOLDOWN {
            sqlx::query("UPDATE automations SET suppressed = suppressed + 1 WHERE id = $1")
                .bind(&firing.automation_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(FiringOutcome::Suppressed);
        }
        let fired_at = if fired { Some(now) } else { last_fired };
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
                 receiver, status, next_attempt_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $7, $7)",
            )
            .bind(new_id())
            .bind(&id)
            .bind(&firing.automation_id)
            .bind(index as i64)
            .bind(&action.action_type)
            .bind(&action.receiver)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(FiringOutcome::Created(id))
    }
}

/// The chain of automations that led to run `run_id`, oldest first: empty
/// unless an automation's `run-deployment` action created it (its
/// idempotency key is `automation:<delivery id>`), else the chain of the
/// firing that delivery belongs to (`automation_chain` in its context; that
/// firing's automation alone for a firing written before chains were kept).
async fn run_chain(tx: &mut WriteTx, run_id: &str) -> Result<Vec<String>> {
    let link: Option<(String, String)> = sqlx::query_as(
        "SELECT a.name, f.context FROM flow_runs r \
         JOIN automation_deliveries d ON d.id = substr(r.idempotency_key, 12) \
         JOIN automation_firings f ON f.id = d.firing_id \
         JOIN automations a ON a.id = f.automation_id \
         WHERE r.id = $1 AND r.idempotency_key LIKE 'automation:%'",
    )
    .bind(run_id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some((name, context)) = link else {
        return Ok(Vec::new());
    };
    let chain: Option<Vec<String>> = serde_json::from_str::<Value>(&context)
        .ok()
        .and_then(|context| serde_json::from_value(context["automation_chain"].clone()).ok());
    Ok(chain
        .filter(|chain| !chain.is_empty())
        .unwrap_or_else(|| vec![name]))
}

/// `context` (a JSON object) with `automation_chain` set to `chain`.
fn with_chain(context: &str, chain: &[String]) -> String {
    match serde_json::from_str::<Value>(context) {
        Ok(Value::Object(mut object)) => {
            object.insert("automation_chain".into(), json!(chain));
            Value::Object(object).to_string()
        }
        _ => context.to_owned(),
    }
}

/// Counts a loop-suppressed firing on its automation, keeps its reason for
/// the automation's page, and writes the event [`LOOP_SUPPRESSED_EVENT`] on
/// the run (unless the run is gone), where an `event` trigger can see it.
async fn loop_suppressed(
    tx: &mut WriteTx,
    automation_id: &str,
    automation: &str,
    run: &str,
    context: &str,
    reason: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE automations SET loop_suppressed = loop_suppressed + 1, loop_message = $1, \
         loop_suppressed_at = $2 WHERE id = $3",
    )
    .bind(reason)
    .bind(now)
    .bind(automation_id)
    .execute(&mut **tx)
    .await?;
    let chain = serde_json::from_str::<Value>(context)
        .map(|context| context["automation_chain"].clone())
        .unwrap_or(Value::Null);
    let payload = json!({
        "automation": automation,
        "automation_chain": chain,
        "reason": reason,
    });
    sqlx::query(
        "INSERT INTO flow_run_events (flow_run_id, name, payload, timestamp) \
         SELECT id, $1, $2, $3 FROM flow_runs WHERE id = $4",
    )
    .bind(LOOP_SUPPRESSED_EVENT)
    .bind(payload.to_string())
    .bind(now)
    .bind(run)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
