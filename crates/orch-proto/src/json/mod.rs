//! The JSON shape of each record, built from the API messages: the REST API
//! serves exactly these and the CLI's `--output json` prints exactly these, so a
//! script reads the same field names and values from either.
//!
//! Conventions: times are RFC 3339 strings in UTC with microseconds (`null` when
//! unset), state types are upper case (`COMPLETED`), parameters are JSON objects,
//! ids are full, and an absent value is `null` rather than an empty string.
//! Fields marked `#[serde(skip)]` carry the raw values for people-facing output.

mod artifacts;
mod automations;
mod deployments;
mod pools;
mod runs;
mod security;

use chrono::{DateTime, SecondsFormat};
use orch_core::StateType;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::v1 as pb;

pub use artifacts::{Artifact, ArtifactSeries};
pub use automations::{Automation, AutomationHistoryEntry};
pub use deployments::{Deployment, Schedule};
pub use pools::{WorkPool, Worker};
pub use runs::{FlowRun, FlowRunDetail, LogLine, TaskRun, TaskRunState, Usage};
pub use security::{AuditRecord, Secret, Token};

/// RFC 3339 in UTC with microseconds; `None` when unset (0) or out of range.
pub fn rfc3339(micros: i64) -> Option<String> {
    if micros == 0 {
        return None;
    }
    DateTime::from_timestamp_micros(micros).map(|t| t.to_rfc3339_opts(SecondsFormat::Micros, true))
}

/// A JSON object sent as text; empty text is `{}`, and text that is not JSON is
/// kept as a string so that nothing is hidden.
pub fn json_object(text: &str) -> Value {
    if text.trim().is_empty() {
        return Value::Object(Map::new());
    }
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// `None` for an empty string.
pub fn non_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}

/// Now by this machine's clock, in microseconds: what a client measures a running
/// run's duration against (the server uses its own, injectable clock).
pub fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Seconds from `start` to `end`, never negative; `None` when it has not started.
fn seconds_between(start: i64, end: i64) -> Option<f64> {
    (start != 0 && end != 0).then(|| (end - start).max(0) as f64 / 1e6)
}

/// A state of a run or task run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct State {
    /// The type, e.g. `COMPLETED`; `UNKNOWN` if the server sent none.
    #[serde(rename = "type")]
    pub kind: String,
    /// The display name, e.g. `Late` or `Completed`.
    pub name: String,
    /// Why it was entered; empty when no reason was given.
    pub message: String,
    /// When it was entered.
    pub timestamp: Option<String>,
    /// The type, for colours and decisions; `None` when unknown.
    #[serde(skip)]
    pub state_type: Option<StateType>,
    /// When it was entered, in microseconds since the epoch.
    #[serde(skip)]
    pub timestamp_micros: i64,
}

impl State {
    /// The record of `state`; a missing state shows as `Unknown`.
    pub fn from_proto(state: Option<&pb::State>) -> State {
        let Some(state) = state else {
            return State {
                kind: "UNKNOWN".to_owned(),
                name: "Unknown".to_owned(),
                message: String::new(),
                timestamp: None,
                state_type: None,
                timestamp_micros: 0,
            };
        };
        let state_type = crate::state::state_type(state.r#type);
        let name = match (&state.name, state_type) {
            (name, _) if !name.is_empty() => name.clone(),
            (_, Some(state_type)) => state_type.display_name().to_owned(),
            (_, None) => "Unknown".to_owned(),
        };
        State {
            kind: state_type.map_or("UNKNOWN", StateType::as_str).to_owned(),
            name,
            message: state.message.clone(),
            timestamp: rfc3339(state.timestamp_micros),
            state_type,
            timestamp_micros: state.timestamp_micros,
        }
    }

    /// Whether it can no longer change (Completed, Failed, Crashed, Cancelled).
    pub fn is_terminal(&self) -> bool {
        self.state_type.is_some_and(StateType::is_terminal)
    }

    /// Whether it ended well.
    pub fn is_completed(&self) -> bool {
        self.state_type == Some(StateType::Completed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_with_micros_and_zero_is_null() {
        assert_eq!(rfc3339(0), None);
        assert_eq!(
            rfc3339(1_700_000_000_123_456).as_deref(),
            Some("2023-11-14T22:13:20.123456Z")
        );
    }

    #[test]
    fn durations_never_go_negative_and_need_a_start() {
        assert_eq!(seconds_between(2_000_000, 1_000_000), Some(0.0));
        assert_eq!(seconds_between(1_000_000, 3_500_000), Some(2.5));
        assert_eq!(seconds_between(0, 1), None);
    }

    #[test]
    fn parameters_text_becomes_an_object() {
        assert_eq!(json_object(""), Value::Object(Map::new()));
        assert_eq!(json_object(r#"{"n": 3}"#)["n"], 3);
        assert_eq!(json_object("not json"), Value::String("not json".into()));
    }

    #[test]
    fn named_states_keep_their_name_and_type() {
        let late = pb::State {
            r#type: pb::StateType::Scheduled as i32,
            name: "Late".to_owned(),
            message: String::new(),
            timestamp_micros: 0,
        };
        let state = State::from_proto(Some(&late));
        assert_eq!(
            (state.kind.as_str(), state.name.as_str()),
            ("SCHEDULED", "Late")
        );
        assert!(!state.is_terminal());
        let value = serde_json::to_value(&state).unwrap();
        assert_eq!(value["type"], "SCHEDULED");
        assert!(value.get("state_type").is_none());
    }

    #[test]
    fn a_missing_name_falls_back_to_the_type() {
        let completed = pb::State {
            r#type: pb::StateType::Completed as i32,
            ..Default::default()
        };
        let state = State::from_proto(Some(&completed));
        assert_eq!(state.name, "Completed");
        assert!(state.is_completed() && state.is_terminal());
        assert_eq!(State::from_proto(None).kind, "UNKNOWN");
    }
}
