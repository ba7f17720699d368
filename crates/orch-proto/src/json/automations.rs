//! Automations and their delivery history.

use serde::Serialize;
use serde_json::Value;

use super::{json_object, non_empty, rfc3339};
use crate::v1 as pb;

/// An automation with its counters.
#[derive(Debug, Clone, Serialize)]
pub struct Automation {
    /// The full id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Whether it is paused (fires nothing).
    pub paused: bool,
    /// Its trigger (the deploy file's keys).
    pub trigger: Value,
    /// Its actions (the deploy file's keys; `${NAME}`s unresolved).
    pub actions: Value,
    /// Firings within this many seconds of the last are suppressed.
    pub cooldown_seconds: u64,
    /// Firings delivered or being delivered.
    pub firings: i64,
    /// Firings the cooldown suppressed.
    pub suppressed: i64,
    /// Firings loop protection suppressed (each would have continued a
    /// chain of automations through one already in it, or past the longest
    /// chain allowed).
    pub loop_suppressed: i64,
    /// Why the last of those was suppressed and how to fix it.
    pub loop_message: Option<String>,
    /// When the last of those was.
    pub loop_suppressed_at: Option<String>,
    /// Deliveries that reached their receiver.
    pub delivered: i64,
    /// Deliveries given up after every attempt failed.
    pub failed: i64,
    /// Deliveries skipped because a `${NAME}` had no value.
    pub skipped: i64,
    /// Deliveries waiting for an attempt.
    pub pending: i64,
    /// `${NAME}`s with no value on the server: their actions are skipped.
    pub unset_variables: Vec<String>,
    /// When it last fired.
    pub last_fired_at: Option<String>,
    /// When it was registered.
    pub created_at: Option<String>,
    /// When its spec last changed.
    pub updated_at: Option<String>,
}

impl Automation {
    /// The record of `automation`.
    pub fn from_proto(automation: &pb::Automation) -> Automation {
        let spec = json_object(&automation.spec_json);
        Automation {
            id: automation.id.clone(),
            name: automation.name.clone(),
            description: automation.description.clone(),
            paused: automation.paused,
            trigger: spec.get("trigger").cloned().unwrap_or(Value::Null),
            actions: spec.get("actions").cloned().unwrap_or(Value::Null),
            cooldown_seconds: spec
                .get("cooldown_seconds")
                .and_then(Value::as_u64)
                .unwrap_or(0),
            firings: automation.firings,
            suppressed: automation.suppressed,
            loop_suppressed: automation.loop_suppressed,
            loop_message: non_empty(&automation.loop_message),
            loop_suppressed_at: rfc3339(automation.loop_suppressed_at_micros),
            delivered: automation.delivered,
            failed: automation.failed,
            skipped: automation.skipped,
            pending: automation.pending,
            unset_variables: automation.unset_variables.clone(),
            last_fired_at: rfc3339(automation.last_fired_at_micros),
            created_at: rfc3339(automation.created_at_micros),
            updated_at: rfc3339(automation.updated_at_micros),
        }
    }

    /// The trigger's type, e.g. `run-state`.
    pub fn trigger_type(&self) -> &str {
        self.trigger
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// The actions' types, e.g. `slack, webhook`.
    pub fn action_types(&self) -> String {
        self.actions
            .as_array()
            .map(|actions| {
                actions
                    .iter()
                    .filter_map(|a| a.get("type").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    }
}

/// One line of an automation's history.
#[derive(Debug, Clone, Serialize)]
pub struct AutomationHistoryEntry {
    /// The firing: receivers see it as the idempotency key.
    pub firing_id: String,
    /// `fired` or `resolved`.
    pub kind: String,
    /// The run that caused it.
    pub flow_run_id: Option<String>,
    /// The action, e.g. `slack`; `null` for a suppressed firing.
    pub action: Option<String>,
    /// Attempt number from 1; 0 for a suppressed firing.
    pub attempt: i64,
    /// `delivered`, `retrying`, `failed`, `skipped`, `suppressed` (the
    /// cooldown) or `loop-suppressed`.
    pub outcome: String,
    /// The receiver's HTTP status.
    pub status_code: Option<i64>,
    /// Why it failed or was skipped.
    pub error: Option<String>,
    /// When it happened.
    pub at: Option<String>,
    /// How long the attempt took.
    pub duration_ms: f64,
}

impl AutomationHistoryEntry {
    /// The record of `entry`.
    pub fn from_proto(entry: &pb::AutomationHistoryEntry) -> AutomationHistoryEntry {
        AutomationHistoryEntry {
            firing_id: entry.firing_id.clone(),
            kind: entry.kind.clone(),
            flow_run_id: non_empty(&entry.flow_run_id),
            action: non_empty(&entry.action_type),
            attempt: entry.attempt,
            outcome: entry.outcome.clone(),
            status_code: entry.status_code,
            error: non_empty(&entry.error),
            at: rfc3339(entry.at_micros),
            duration_ms: entry.duration_micros as f64 / 1000.0,
        }
    }
}
