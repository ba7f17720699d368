//! Artifacts: what flow runs publish, and a key's series across runs.

use serde::Serialize;
use serde_json::Value;

use super::{non_empty, rfc3339};
use crate::v1 as pb;

/// An artifact a run published.
#[derive(Debug, Clone, Serialize)]
pub struct Artifact {
    /// The id.
    pub id: String,
    /// Its series key; `null` outside any series.
    pub key: Option<String>,
    /// `markdown`, `table`, `link` or `metrics`.
    pub kind: String,
    /// What it is.
    pub description: String,
    /// The body: a Markdown string, an array of rows, `{url, title}` or `{name: number}`.
    pub data: Value,
    /// Its run.
    pub flow_run_id: String,
    /// Its run's name.
    pub flow_run_name: String,
    /// Its run's flow.
    pub flow: String,
    /// The task run that published it.
    pub task_run_id: Option<String>,
    /// When it was published.
    pub created_at: Option<String>,
    /// `created_at` in microseconds.
    #[serde(skip)]
    pub created_micros: i64,
}

impl Artifact {
    /// The record of `artifact`; a body that is not JSON is kept as a string.
    pub fn from_proto(artifact: &pb::Artifact) -> Artifact {
        Artifact {
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
            created_at: rfc3339(artifact.created_at_micros),
            created_micros: artifact.created_at_micros,
        }
    }
}

impl From<&pb::Artifact> for Artifact {
    fn from(artifact: &pb::Artifact) -> Artifact {
        Artifact::from_proto(artifact)
    }
}

/// A key's artifacts across runs, oldest first.
#[derive(Debug, Clone, Serialize)]
pub struct ArtifactSeries {
    /// The key.
    pub key: String,
    /// Oldest first.
    pub artifacts: Vec<Artifact>,
}

impl From<&pb::ArtifactSeries> for ArtifactSeries {
    fn from(series: &pb::ArtifactSeries) -> ArtifactSeries {
        ArtifactSeries {
            key: series.key.clone(),
            artifacts: series.artifacts.iter().map(Artifact::from_proto).collect(),
        }
    }
}
