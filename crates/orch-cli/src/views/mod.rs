//! What the CLI shows of each resource: serde views for `--output json` (states as
//! `COMPLETED`, times in RFC 3339, parameters as JSON objects, full ids) and the tables
//! and listings for people.

pub mod artifact;
pub mod calendar;
pub mod concurrency;
pub mod deploy;
pub mod deployment;
pub mod flow;
pub mod flow_run;
pub mod log;
pub mod schedule;
pub mod server;
pub mod state;
pub mod task_run;
pub mod work_pool;
pub mod worker;

use serde_json::{Map, Value};

/// A JSON object sent by the server as text; empty text is `{}`, and text that is not
/// JSON is kept as a string so that nothing is hidden.
pub fn json_object(text: &str) -> Value {
    if text.trim().is_empty() {
        return Value::Object(Map::new());
    }
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// `value` on one line, for tables and listings.
pub fn compact_json(value: &Value) -> String {
    value.to_string()
}

/// `None` for an empty string.
pub fn non_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
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
