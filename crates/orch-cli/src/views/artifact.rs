//! Artifacts: the same JSON shape as `GET /api/artifacts`.

use std::collections::BTreeSet;

use chrono::DateTime;
use comfy_table::Cell;
use orch_proto::v1 as proto;
use serde::Serialize;
use serde_json::Value;

use crate::output::table;

/// An artifact, as `GET /api/artifacts` returns it.
#[derive(Debug, Clone, Serialize)]
pub struct ArtifactView {
    /// Id.
    pub id: String,
    /// Series key; `null` outside any series.
    pub key: Option<String>,
    /// `markdown`, `table`, `link` or `metrics`.
    pub kind: String,
    /// What it is.
    pub description: String,
    /// The body.
    pub data: Value,
    /// Its run.
    pub flow_run_id: String,
    /// Its run's name.
    pub flow_run_name: String,
    /// Its run's flow.
    pub flow: String,
    /// The task run that published it.
    pub task_run_id: Option<String>,
    /// When it was published, RFC 3339 UTC.
    pub created_at: Option<String>,
}

fn non_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}

impl From<&proto::Artifact> for ArtifactView {
    fn from(artifact: &proto::Artifact) -> Self {
        Self {
            id: artifact.id.clone(),
            key: non_empty(&artifact.key),
            kind: artifact.kind.clone(),
            description: artifact.description.clone(),
            data: serde_json::from_str(&artifact.data_json)
                .unwrap_or_else(|_| Value::String(artifact.data_json.clone())),
            flow_run_id: artifact.flow_run_id.clone(),
            flow_run_name: artifact.flow_run_name.clone(),
            flow: artifact.flow.clone(),
            task_run_id: non_empty(&artifact.task_run_id),
            created_at: DateTime::from_timestamp_micros(artifact.created_at_micros)
                .filter(|_| artifact.created_at_micros != 0)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
        }
    }
}

impl ArtifactView {
    /// The body on one line, cut to `width` characters.
    fn summary(&self, width: usize) -> String {
        let text = match (&self.data, self.kind.as_str()) {
            (Value::String(text), _) => text.replace('\n', " "),
            (Value::Array(rows), "table") => format!("{} row(s)", rows.len()),
            (Value::Object(link), "link") => link
                .get("url")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            (Value::Object(metrics), _) => metrics
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
                .join(" "),
            (other, _) => other.to_string(),
        };
        if text.chars().count() > width {
            format!("{}...", text.chars().take(width).collect::<String>())
        } else {
            text
        }
    }
}

/// A key's series.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesView {
    /// The key.
    pub key: String,
    /// Oldest first.
    pub artifacts: Vec<ArtifactView>,
}

impl From<&proto::ArtifactSeries> for SeriesView {
    fn from(series: &proto::ArtifactSeries) -> Self {
        Self {
            key: series.key.clone(),
            artifacts: series.artifacts.iter().map(ArtifactView::from).collect(),
        }
    }
}

fn time(artifact: &ArtifactView) -> String {
    artifact
        .created_at
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// Writes artifacts as a table.
pub fn print_list(list: &[ArtifactView]) -> std::io::Result<()> {
    let mut rows = table::new(&[
        "ID",
        "KEY",
        "KIND",
        "FLOW RUN",
        "PUBLISHED (UTC)",
        "SUMMARY",
    ]);
    for artifact in list {
        rows.add_row([
            Cell::new(&artifact.id),
            Cell::new(artifact.key.as_deref().unwrap_or("-")),
            Cell::new(&artifact.kind),
            Cell::new(format!("{} ({})", artifact.flow_run_name, artifact.flow)),
            Cell::new(time(artifact)),
            Cell::new(artifact.summary(60)),
        ]);
    }
    table::print(
        rows,
        "No artifacts. Flows publish them with ctx.artifact(KEY) in the SDK, or \
         POST /api/flow-runs/ID/artifacts.",
    )
}

/// Writes one artifact: its facts, then its whole body.
pub fn print_one(artifact: &ArtifactView) -> std::io::Result<()> {
    table::print_details(&[
        ("Id", artifact.id.clone()),
        ("Key", artifact.key.clone().unwrap_or_else(|| "-".into())),
        ("Kind", artifact.kind.clone()),
        ("Description", artifact.description.clone()),
        (
            "Flow run",
            format!(
                "{} ({}) {}",
                artifact.flow_run_name, artifact.flow, artifact.flow_run_id
            ),
        ),
        (
            "Task run",
            artifact.task_run_id.clone().unwrap_or_else(|| "-".into()),
        ),
        ("Published", time(artifact)),
    ])?;
    crate::output::write_line("")?;
    match &artifact.data {
        Value::String(text) => crate::output::write_line(text),
        Value::Array(rows) => print_rows(rows),
        other => crate::output::write_line(serde_json::to_string_pretty(other).unwrap_or_default()),
    }
}

/// A table artifact's rows, columns in first-seen order.
fn print_rows(rows: &[Value]) -> std::io::Result<()> {
    let mut columns: Vec<String> = Vec::new();
    for row in rows {
        if let Value::Object(cells) = row {
            for column in cells.keys() {
                if !columns.contains(column) {
                    columns.push(column.clone());
                }
            }
        }
    }
    let headers: Vec<&str> = columns.iter().map(String::as_str).collect();
    let mut table = table::new(&headers);
    for row in rows {
        table.add_row(columns.iter().map(|column| {
            Cell::new(match row.get(column) {
                Some(Value::String(text)) => text.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            })
        }));
    }
    table::print(table, "(no rows)")
}

/// Writes a series: one row per artifact; metrics as columns.
pub fn print_series(series: &SeriesView) -> std::io::Result<()> {
    let metrics: BTreeSet<String> = series
        .artifacts
        .iter()
        .filter(|a| a.kind == "metrics")
        .filter_map(|a| a.data.as_object())
        .flat_map(|m| m.keys().cloned())
        .collect();
    let mut headers = vec!["PUBLISHED (UTC)", "FLOW RUN"];
    if metrics.is_empty() {
        headers.push("SUMMARY");
    }
    headers.extend(metrics.iter().map(String::as_str));
    let mut rows = table::new(&headers);
    for artifact in &series.artifacts {
        let mut cells = vec![
            Cell::new(time(artifact)),
            Cell::new(&artifact.flow_run_name),
        ];
        if metrics.is_empty() {
            cells.push(Cell::new(artifact.summary(60)));
        }
        for metric in &metrics {
            cells.push(table::number(
                artifact
                    .data
                    .get(metric)
                    .map_or_else(String::new, Value::to_string),
            ));
        }
        rows.add_row(cells);
    }
    table::print(rows, "No artifacts with this key.")
}
