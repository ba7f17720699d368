//! Artifacts: the same JSON shape as `GET /api/artifacts`.

use std::collections::BTreeSet;

use chrono::DateTime;
use comfy_table::Cell;
use serde_json::Value;

use crate::output::table;

pub use orch_proto::json::{Artifact as ArtifactView, ArtifactSeries as SeriesView};

/// How the CLI shows an artifact.
trait ArtifactDisplay {
    /// The body on one line, cut to `width` characters.
    fn summary(&self, width: usize) -> String;
}

impl ArtifactDisplay for ArtifactView {
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
