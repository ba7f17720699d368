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

use serde_json::{Map, Value};

pub use artifacts::{Artifact, ArtifactSeries};
pub use automations::{Automation, AutomationHistoryEntry};
pub use deployments::{Deployment, Schedule};
pub use orch_core::records::{State, TaskRunState, rfc3339};
pub use pools::{WorkPool, Worker};
pub use runs::{FlowRun, FlowRunDetail, LogLine, TaskRun};
pub use security::{AuditRecord, Secret, Token};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_text_becomes_an_object() {
        assert_eq!(json_object(""), Value::Object(Map::new()));
        assert_eq!(json_object(r#"{"n": 3}"#)["n"], 3);
        assert_eq!(json_object("not json"), Value::String("not json".into()));
    }
}
