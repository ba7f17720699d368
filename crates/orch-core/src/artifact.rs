//! Artifacts: the results a flow run publishes (markdown, a table, a link,
//! metrics), and the rules every artifact obeys whoever sends it (the SDK,
//! or any process through the REST API).
//!
//! An artifact's body is JSON, by kind:
//! - `markdown`: a string of Markdown (shown rendered, never as raw HTML);
//! - `table`: an array of rows, each an object of scalar cells;
//! - `link`: `{"url": "https://...", "title": "..."}` (http and https only);
//! - `metrics`: an object of metric name -> finite number.
//!
//! Artifacts with the same `key` form a series across runs (e.g. the
//! validation metrics of `model-GOOG` night after night).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::identifier::name_problem;

/// Largest artifact body, as JSON.
pub const MAX_DATA_BYTES: usize = 512 * 1024;
/// Most rows of a table.
pub const MAX_TABLE_ROWS: usize = 10_000;
/// Most metrics in one artifact.
pub const MAX_METRICS: usize = 200;
/// Longest key, metric name or description.
pub const MAX_KEY_CHARS: usize = 200;
/// Longest description.
pub const MAX_DESCRIPTION_CHARS: usize = 2_000;

/// What an artifact holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArtifactKind {
    /// Markdown text.
    Markdown,
    /// Rows of scalar cells.
    Table,
    /// A URL with an optional title.
    Link,
    /// Named finite numbers.
    Metrics,
}

impl ArtifactKind {
    /// Every kind, in the order they are documented.
    pub const ALL: [ArtifactKind; 4] = [
        ArtifactKind::Markdown,
        ArtifactKind::Table,
        ArtifactKind::Link,
        ArtifactKind::Metrics,
    ];

    /// `"markdown"`, `"table"`, `"link"` or `"metrics"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactKind::Markdown => "markdown",
            ArtifactKind::Table => "table",
            ArtifactKind::Link => "link",
            ArtifactKind::Metrics => "metrics",
        }
    }
}

impl std::str::FromStr for ArtifactKind {
    type Err = Error;

    fn from_str(text: &str) -> Result<ArtifactKind> {
        ArtifactKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text.trim())
            .ok_or_else(|| invalid(format!(
                "unknown artifact kind {text:?}; use \"markdown\", \"table\", \"link\" or \"metrics\""
            )))
    }
}

fn invalid(message: String) -> Error {
    Error::InvalidArtifact { message }
}

/// Checks an artifact key: a name (letters, digits, `-`, `_`, `.`) of at
/// most [`MAX_KEY_CHARS`] characters.
///
/// # Errors
///
/// [`Error::InvalidArtifact`] saying what is wrong.
pub fn validate_key(key: &str) -> Result<()> {
    if let Some(problem) = name_problem(key) {
        return Err(invalid(format!(
            "artifact key {key:?} {problem}, e.g. \"model-GOOG\""
        )));
    }
    if key.chars().count() > MAX_KEY_CHARS {
        return Err(invalid(format!(
            "artifact key is {} characters long; the limit is {MAX_KEY_CHARS}",
            key.chars().count()
        )));
    }
    Ok(())
}

/// Checks an artifact's description and body; `label` names it in messages
/// (e.g. `artifact "model-GOOG"`).
///
/// # Errors
///
/// [`Error::InvalidArtifact`] for a body over [`MAX_DATA_BYTES`], a body of
/// the wrong shape for its kind, a metric that is not a finite number, or a
/// link that is not http(s).
pub fn validate(label: &str, kind: ArtifactKind, description: &str, data: &Value) -> Result<()> {
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(invalid(format!(
            "{label}: the description is {} characters long; the limit is \
             {MAX_DESCRIPTION_CHARS}",
            description.chars().count()
        )));
    }
    let size = data.to_string().len();
    if size > MAX_DATA_BYTES {
        return Err(invalid(format!(
            "{label} is {} KiB; the limit is {} KiB: publish a summary, and a link to the \
             full data",
            size.div_ceil(1024),
            MAX_DATA_BYTES / 1024
        )));
    }
    match kind {
        ArtifactKind::Markdown => match data {
            Value::String(_) => Ok(()),
            other => Err(shape(label, kind, other, "a string of Markdown")),
        },
        ArtifactKind::Table => table(label, data),
        ArtifactKind::Link => link(label, data),
        ArtifactKind::Metrics => metrics(label, data),
    }
}

fn shape(label: &str, kind: ArtifactKind, got: &Value, expected: &str) -> Error {
    let got = match got {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    invalid(format!(
        "{label}: a {} artifact holds {expected}, not {got}",
        kind.as_str()
    ))
}

fn table(label: &str, data: &Value) -> Result<()> {
    let Value::Array(rows) = data else {
        return Err(shape(
            label,
            ArtifactKind::Table,
            data,
            "an array of rows (objects of column -> value)",
        ));
    };
    if rows.len() > MAX_TABLE_ROWS {
        return Err(invalid(format!(
            "{label}: the table has {} rows; the limit is {MAX_TABLE_ROWS}",
            rows.len()
        )));
    }
    for (index, row) in rows.iter().enumerate() {
        let Value::Object(cells) = row else {
            return Err(invalid(format!(
                "{label}: row {index} is not an object of column -> value"
            )));
        };
        if let Some((column, _)) = cells
            .iter()
            .find(|(_, cell)| matches!(cell, Value::Array(_) | Value::Object(_)))
        {
            return Err(invalid(format!(
                "{label}: row {index}, column {column:?} is not a string, number, boolean or null"
            )));
        }
    }
    Ok(())
}

fn link(label: &str, data: &Value) -> Result<()> {
    let url = data.get("url").and_then(Value::as_str).ok_or_else(|| {
        shape(
            label,
            ArtifactKind::Link,
            data,
            "an object {\"url\": \"https://...\", \"title\": \"...\"}",
        )
    })?;
    let lower = url.trim().to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) {
        return Err(invalid(format!(
            "{label}: link {url:?} is not an http:// or https:// URL"
        )));
    }
    if data.get("title").is_some_and(|title| !title.is_string()) {
        return Err(invalid(format!(
            "{label}: the link's title must be a string"
        )));
    }
    Ok(())
}

fn metrics(label: &str, data: &Value) -> Result<()> {
    let Value::Object(metrics) = data else {
        return Err(shape(
            label,
            ArtifactKind::Metrics,
            data,
            "an object of metric name -> number",
        ));
    };
    if metrics.is_empty() || metrics.len() > MAX_METRICS {
        return Err(invalid(format!(
            "{label}: a metrics artifact holds 1 to {MAX_METRICS} metrics, not {}",
            metrics.len()
        )));
    }
    for (name, value) in metrics {
        validate_metric(
            label,
            name,
            value.as_f64().filter(|_| value.is_number()),
            value,
        )?;
    }
    Ok(())
}

/// Checks one metric: a name of at most [`MAX_KEY_CHARS`] characters, and a
/// finite number.
fn validate_metric(label: &str, name: &str, number: Option<f64>, value: &Value) -> Result<()> {
    if name.trim().is_empty() || name.chars().count() > MAX_KEY_CHARS {
        return Err(invalid(format!(
            "{label}: metric names are 1 to {MAX_KEY_CHARS} characters"
        )));
    }
    match number {
        Some(number) if number.is_finite() => Ok(()),
        _ => Err(invalid(format!(
            "{label}: metric {name:?} is {value}, not a finite number; publish numbers only \
             (NaN and infinities are refused)"
        ))),
    }
}

/// Checks a metric value before it is sent (JSON cannot carry NaN or
/// infinities, so the SDK checks them here).
///
/// # Errors
///
/// [`Error::InvalidArtifact`] for a NaN or infinite value.
pub fn validate_metric_value(label: &str, name: &str, value: f64) -> Result<()> {
    validate_metric(label, name, Some(value), &Value::from(value.to_string()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(kind: ArtifactKind, data: Value) -> std::result::Result<(), String> {
        validate("artifact \"k\"", kind, "", &data).map_err(|e| e.to_string())
    }

    #[test]
    fn each_kind_accepts_its_shape() {
        assert_eq!(
            check(ArtifactKind::Markdown, json!("# Hi <script>")),
            Ok(())
        );
        assert_eq!(
            check(ArtifactKind::Table, json!([{"a": 1, "b": "x", "c": null}])),
            Ok(())
        );
        assert_eq!(
            check(ArtifactKind::Link, json!({"url": "https://example.com"})),
            Ok(())
        );
        assert_eq!(
            check(ArtifactKind::Metrics, json!({"mae": 0.5, "n": 3})),
            Ok(())
        );
    }

    #[test]
    fn wrong_shapes_are_refused_saying_what_is_expected() {
        assert_eq!(
            check(ArtifactKind::Markdown, json!(3)).unwrap_err(),
            "artifact \"k\": a markdown artifact holds a string of Markdown, not a number"
        );
        assert!(
            check(ArtifactKind::Table, json!([[1, 2]]))
                .unwrap_err()
                .contains("row 0 is not an object")
        );
        assert!(
            check(ArtifactKind::Table, json!([{"a": [1]}]))
                .unwrap_err()
                .contains("column \"a\"")
        );
    }

    #[test]
    fn links_must_be_http() {
        let error = check(ArtifactKind::Link, json!({"url": "javascript:alert(1)"})).unwrap_err();
        assert_eq!(
            error,
            "artifact \"k\": link \"javascript:alert(1)\" is not an http:// or https:// URL"
        );
    }

    #[test]
    fn metrics_must_be_finite_numbers() {
        let error = check(ArtifactKind::Metrics, json!({"loss": "NaN"})).unwrap_err();
        assert_eq!(
            error,
            "artifact \"k\": metric \"loss\" is \"NaN\", not a finite number; publish numbers \
             only (NaN and infinities are refused)"
        );
        let error = validate_metric_value("artifact \"k\"", "loss", f64::INFINITY).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("metric \"loss\" is \"inf\", not a finite number")
        );
        assert!(validate_metric_value("a", "loss", 0.25).is_ok());
    }

    #[test]
    fn bodies_over_the_limit_are_refused_with_the_sizes() {
        let big = "x".repeat(MAX_DATA_BYTES + 10);
        let error = check(ArtifactKind::Markdown, json!(big)).unwrap_err();
        assert_eq!(
            error,
            "artifact \"k\" is 513 KiB; the limit is 512 KiB: publish a summary, and a link \
             to the full data"
        );
    }

    #[test]
    fn keys_follow_the_naming_rule() {
        assert!(validate_key("model-GOOG").is_ok());
        let error = validate_key("model GOOG").unwrap_err().to_string();
        assert!(
            error.starts_with("artifact key \"model GOOG\" contains ' '"),
            "{error}"
        );
    }
}
