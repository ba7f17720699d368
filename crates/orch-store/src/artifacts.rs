//! Artifacts: what flow runs publish. Every artifact is checked by
//! [`orch_core::artifact::validate`] here, whoever sends it.

use orch_core::artifact::{self, ArtifactKind};
use serde_json::Value;

use crate::Artifacts;
use crate::error::{Result, StoreError};
use crate::new_id;
use crate::rows::{from_json, sql, to_json};

/// Default and largest number of artifacts one list or series returns.
pub const DEFAULT_ARTIFACT_LIMIT: u32 = 200;
/// Largest page of [`Artifacts::artifacts`] and [`Artifacts::artifact_series`].
pub const MAX_ARTIFACT_LIMIT: u32 = 5_000;

/// An artifact to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct NewArtifact {
    /// The run it belongs to.
    pub flow_run_id: String,
    /// The task run that published it, if any (a task run of that run).
    pub task_run_id: Option<String>,
    /// Series key; artifacts with the same key form a series across runs.
    pub key: Option<String>,
    /// What it holds.
    pub kind: ArtifactKind,
    /// A line saying what it is; may be empty.
    pub description: String,
    /// The body, as [`orch_core::artifact`] describes per kind.
    pub data: Value,
}

/// A stored artifact.
#[derive(Debug, Clone, PartialEq)]
pub struct Artifact {
    /// Id.
    pub id: String,
    /// Publishing order across all artifacts.
    pub seq: i64,
    /// Its run.
    pub flow_run_id: String,
    /// Its run's name.
    pub flow_run_name: String,
    /// Its run's flow.
    pub flow: String,
    /// The task run that published it.
    pub task_run_id: Option<String>,
    /// Series key.
    pub key: Option<String>,
    /// What it holds.
    pub kind: ArtifactKind,
    /// What it is.
    pub description: String,
    /// The body.
    pub data: Value,
    /// When it was published (micros).
    pub created_at: i64,
}

/// A key and its series' size, for the artifacts index.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ArtifactKey {
    /// The key.
    pub key: String,
    /// How many artifacts were published under it.
    pub artifacts: i64,
    /// When the newest was published (micros).
    pub latest_at: i64,
}

/// Which artifacts [`Artifacts::artifacts`] lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArtifactFilter {
    /// Only this key.
    pub key: Option<String>,
    /// Only this run's.
    pub flow_run_id: Option<String>,
    /// At most this many, newest first (0: [`DEFAULT_ARTIFACT_LIMIT`]).
    pub limit: u32,
}

#[derive(sqlx::FromRow)]
struct ArtifactRow {
    seq: i64,
    id: String,
    flow_run_id: String,
    flow_run_name: String,
    flow: String,
    task_run_id: Option<String>,
    key: Option<String>,
    kind: String,
    description: String,
    data: String,
    created_at: i64,
}

const ARTIFACT_SELECT: &str = "SELECT a.seq, a.id, a.flow_run_id, r.name AS flow_run_name, \
     f.name AS flow, a.task_run_id, a.key, a.kind, a.description, a.data, a.created_at \
     FROM artifacts a JOIN flow_runs r ON r.id = a.flow_run_id JOIN flows f ON f.id = r.flow_id";

impl ArtifactRow {
    fn into_artifact(self) -> Result<Artifact> {
        Ok(Artifact {
            kind: self.kind.parse().map_err(|_| {
                StoreError::Conflict(format!(
                    "corrupt artifact kind {:?} in the database",
                    self.kind
                ))
            })?,
            data: from_json("artifacts.data", &self.data)?,
            id: self.id,
            seq: self.seq,
            flow_run_id: self.flow_run_id,
            flow_run_name: self.flow_run_name,
            flow: self.flow,
            task_run_id: self.task_run_id,
            key: self.key,
            description: self.description,
            created_at: self.created_at,
        })
    }
}

fn limit(limit: u32) -> i64 {
    i64::from(match limit {
        0 => DEFAULT_ARTIFACT_LIMIT,
        n => n.min(MAX_ARTIFACT_LIMIT),
    })
}

fn invalid(error: orch_core::Error) -> StoreError {
    StoreError::InvalidInput(error.to_string())
}

impl Artifacts<'_> {
    /// Checks and stores an artifact of a run.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidInput`] for a bad key or body (see
    /// [`orch_core::artifact::validate`]) or a task run of another run;
    /// [`StoreError::NotFound`] when the run does not exist.
    pub async fn create_artifact(&self, new: NewArtifact) -> Result<Artifact> {
        let label = match &new.key {
            Some(key) => {
                artifact::validate_key(key).map_err(invalid)?;
                format!("artifact \"{key}\"")
            }
            None => format!("{} artifact", new.kind.as_str()),
        };
        artifact::validate(&label, new.kind, &new.description, &new.data).map_err(invalid)?;
        let mut tx = self.writer.begin().await?;
        let run: Option<(String,)> = sqlx::query_as("SELECT id FROM flow_runs WHERE id = $1")
            .bind(&new.flow_run_id)
            .fetch_optional(&mut *tx)
            .await?;
        if run.is_none() {
            return Err(StoreError::NotFound {
                kind: "flow run",
                name: new.flow_run_id,
                hint: ": artifacts are published by a run that exists; list runs with \
                       'orch flow-run ls'"
                    .into(),
            });
        }
        if let Some(task_run_id) = &new.task_run_id {
            let owner: Option<(String,)> =
                sqlx::query_as("SELECT flow_run_id FROM task_runs WHERE id = $1")
                    .bind(task_run_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            match owner {
                Some((owner,)) if owner != new.flow_run_id => {
                    return Err(StoreError::Forbidden(format!(
                        "task run \"{task_run_id}\" belongs to another flow run than \"{}\": a \
                         run attaches artifacts only to its own task runs",
                        new.flow_run_id
                    )));
                }
                Some(_) => {}
                None => {
                    return Err(StoreError::InvalidInput(format!(
                        "flow run \"{}\" has no task run \"{task_run_id}\": attach the \
                         artifact to a task run the run has reported, or leave task_run_id \
                         empty to attach it to the run alone",
                        new.flow_run_id
                    )));
                }
            }
        }
        let id = new_id();
        sqlx::query(
            "INSERT INTO artifacts (id, flow_run_id, task_run_id, key, kind, description, data, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&id)
        .bind(&new.flow_run_id)
        .bind(&new.task_run_id)
        .bind(&new.key)
        .bind(new.kind.as_str())
        .bind(&new.description)
        .bind(to_json(&new.data))
        .bind(self.now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.artifact(&id).await
    }

    /// One artifact by id.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when there is none.
    pub async fn artifact(&self, id: &str) -> Result<Artifact> {
        let row: Option<ArtifactRow> =
            sqlx::query_as(sql(format!("{ARTIFACT_SELECT} WHERE a.id = $1")))
                .bind(id)
                .fetch_optional(&self.reader)
                .await?;
        match row {
            Some(row) => row.into_artifact(),
            None => Err(StoreError::NotFound {
                kind: "artifact",
                name: id.to_owned(),
                hint: ": list artifacts with 'orch artifact ls'".into(),
            }),
        }
    }

    /// Artifacts, newest first.
    pub async fn artifacts(&self, filter: &ArtifactFilter) -> Result<Vec<Artifact>> {
        // Only the conditions given, so that each query can use its index.
        let mut conditions = Vec::new();
        let mut binds = Vec::new();
        for (column, value) in [
            ("a.key", &filter.key),
            ("a.flow_run_id", &filter.flow_run_id),
        ] {
            if let Some(value) = value {
                binds.push(value.as_str());
                conditions.push(format!("{column} = ${}", binds.len()));
            }
        }
        let condition = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let statement = format!(
            "{ARTIFACT_SELECT} {condition} ORDER BY a.seq DESC LIMIT ${}",
            binds.len() + 1
        );
        let mut query = sqlx::query_as::<_, ArtifactRow>(sql(statement));
        for value in binds {
            query = query.bind(value);
        }
        let rows = query
            .bind(limit(filter.limit))
            .fetch_all(&self.reader)
            .await?;
        rows.into_iter().map(ArtifactRow::into_artifact).collect()
    }

    /// Keys of artifacts whose name contains `search` (any case; all keys
    /// when empty), most recently published first.
    pub async fn artifact_keys(&self, search: &str, max: u32) -> Result<Vec<ArtifactKey>> {
        let pattern: String = search
            .trim()
            .to_lowercase()
            .chars()
            .flat_map(|c| match c {
                '%' | '_' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        let keys = sqlx::query_as::<_, ArtifactKey>(
            "SELECT a.key AS key, COUNT(*) AS artifacts, MAX(a.created_at) AS latest_at \
             FROM artifacts a WHERE a.key IS NOT NULL AND LOWER(a.key) LIKE $1 ESCAPE '\\' \
             GROUP BY a.key ORDER BY MAX(a.seq) DESC LIMIT $2",
        )
        .bind(format!("%{pattern}%"))
        .bind(limit(max))
        .fetch_all(&self.reader)
        .await?;
        Ok(keys)
    }

    /// The newest `limit` artifacts of a key, oldest first: its series.
    pub async fn artifact_series(&self, key: &str, limit: u32) -> Result<Vec<Artifact>> {
        let mut series = self
            .artifacts(&ArtifactFilter {
                key: Some(key.to_owned()),
                flow_run_id: None,
                limit,
            })
            .await?;
        series.reverse();
        Ok(series)
    }
}
