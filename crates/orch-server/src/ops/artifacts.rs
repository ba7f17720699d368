//! The artifact use cases, written once: the gRPC service
//! (`grpc/artifacts.rs`) and the JSON API (`api/artifacts.rs`) only parse
//! their requests into these inputs and render what they return.
//!
//! Authorization: the scope is checked by the authentication layer; a
//! run's credential publishes only to its own run (checked here, for both
//! transports) and only to its own task runs (checked by the store).

use orch_core::artifact::{ArtifactKind, validate_key};
use orch_store::{Artifact, ArtifactFilter, ArtifactKey, NewArtifact, StoreError};
use serde_json::Value;

use crate::caller::Caller;
use crate::state::AppState;

/// An artifact to publish, as a transport received it.
#[derive(Debug, Clone, Default)]
pub struct Publish {
    /// The run publishing it.
    pub flow_run_id: String,
    /// The task run publishing it; empty: none.
    pub task_run_id: String,
    /// Series key; empty: none.
    pub key: String,
    /// `markdown`, `table`, `link` or `metrics`.
    pub kind: String,
    /// What it is.
    pub description: String,
    /// The body.
    pub data: Value,
}

fn non_empty(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|text| !text.is_empty())
}

fn invalid(error: orch_core::Error) -> StoreError {
    StoreError::InvalidInput(error.to_string())
}

/// Checks and stores an artifact, and tells the run's watchers.
///
/// # Errors
///
/// [`StoreError::InvalidInput`] for an unknown kind, a bad key or body;
/// [`StoreError::NotFound`] for an unknown run; a permission denied
/// for a run (or task run) the caller's credential does not own.
pub async fn publish(
    state: &AppState,
    caller: &Caller,
    input: Publish,
) -> super::OpsResult<Artifact> {
    super::access::run(state, caller, input.flow_run_id.trim()).await?;
    let kind: ArtifactKind = input.kind.parse().map_err(invalid)?;
    if input.flow_run_id.trim().is_empty() {
        return Err(StoreError::InvalidInput(
            "an artifact needs the id of the flow run publishing it".into(),
        )
        .into());
    }
    let artifact = state
        .store()
        .artifacts()
        .create_artifact(NewArtifact {
            flow_run_id: input.flow_run_id.trim().to_owned(),
            task_run_id: non_empty(&input.task_run_id),
            key: non_empty(&input.key),
            kind,
            description: input.description,
            data: input.data,
        })
        .await?;
    state.events().run_changed(&artifact.flow_run_id);
    Ok(artifact)
}

/// Artifacts, newest first, of a key and/or a run.
///
/// # Errors
///
/// [`StoreError::NotFound`] for a run that does not exist.
pub async fn list(
    state: &AppState,
    key: &str,
    flow_run: &str,
    limit: u32,
) -> Result<Vec<Artifact>, StoreError> {
    let flow_run_id = match non_empty(flow_run) {
        Some(reference) => Some(state.store().flow_runs().flow_run(&reference).await?.id),
        None => None,
    };
    state
        .store()
        .artifacts()
        .artifacts(&ArtifactFilter {
            key: non_empty(key),
            flow_run_id,
            limit,
        })
        .await
}

/// One artifact.
///
/// # Errors
///
/// [`StoreError::NotFound`] when there is none.
pub async fn get(state: &AppState, id: &str) -> Result<Artifact, StoreError> {
    state.store().artifacts().artifact(id.trim()).await
}

/// A key's newest `limit` artifacts, oldest first.
///
/// # Errors
///
/// [`StoreError::InvalidInput`] for a malformed key; [`StoreError::NotFound`]
/// for a key no artifact has.
pub async fn series(state: &AppState, key: &str, limit: u32) -> Result<Vec<Artifact>, StoreError> {
    let key = key.trim();
    validate_key(key).map_err(invalid)?;
    let series = state
        .store()
        .artifacts()
        .artifact_series(key, limit)
        .await?;
    if series.is_empty() {
        return Err(StoreError::NotFound {
            kind: "artifact key",
            name: key.to_owned(),
            hint: ": no run has published an artifact with this key; list keys with \
                   'orch artifact ls'"
                .into(),
        });
    }
    Ok(series)
}

/// The artifact keys whose name contains `search` (all when empty), most
/// recently published first: the dashboard's artifacts index.
pub async fn keys(
    state: &AppState,
    search: &str,
    limit: u32,
) -> Result<Vec<ArtifactKey>, StoreError> {
    state.store().artifacts().artifact_keys(search, limit).await
}
