//! `/api/artifacts` and `POST /api/flow-runs/{id}/artifacts`: parses requests
//! into the artifact use cases ([`crate::ops::artifacts`]) and renders them.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use orch_proto::json::{Artifact as ArtifactView, ArtifactSeries as SeriesView};

use super::views;
use super::{ApiError, ApiQuery, ApiResult};
use crate::ops::artifacts::{self, Publish};
use crate::state::AppState;

/// Filters of `GET /api/artifacts`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct ListParams {
    key: String,
    flow_run: String,
    limit: u32,
}

/// `GET /api/artifacts?key=&flow_run=&limit=`: newest first.
pub(crate) async fn list(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<Vec<ArtifactView>>> {
    let list = artifacts::list(&state, &params.key, &params.flow_run, params.limit).await?;
    Ok(Json(list.iter().map(views::artifact).collect()))
}

/// `GET /api/artifacts/{id}` (the route names the segment `key`, as its sibling does).
pub(crate) async fn get_one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<ArtifactView>> {
    Ok(Json(views::artifact(&artifacts::get(&state, &id).await?)))
}

/// Parameters of `GET /api/artifacts/{key}/series`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct SeriesParams {
    limit: u32,
}

/// `GET /api/artifacts/{key}/series?limit=`.
pub(crate) async fn series(
    State(state): State<AppState>,
    Path(key): Path<String>,
    ApiQuery(params): ApiQuery<SeriesParams>,
) -> ApiResult<Json<SeriesView>> {
    let series = artifacts::series(&state, &key, params.limit).await?;
    Ok(Json(SeriesView {
        key: key.trim().to_owned(),
        artifacts: series.iter().map(views::artifact).collect(),
    }))
}

/// Body of `POST /api/flow-runs/{id}/artifacts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PublishBody {
    #[serde(default)]
    key: String,
    kind: String,
    #[serde(default)]
    description: String,
    data: Value,
    #[serde(default)]
    task_run_id: String,
}

/// `POST /api/flow-runs/{id}/artifacts`: any process publishes to a run.
pub(crate) async fn publish(
    State(state): State<AppState>,
    Path(flow_run_id): Path<String>,
    caller: crate::caller::Caller,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<ArtifactView>)> {
    let body: PublishBody = serde_json::from_slice(&body).map_err(|error| {
        ApiError::bad_request(format!(
            "request body is not an artifact ({error}); send e.g. \
             {{\"key\": \"model-GOOG\", \"kind\": \"metrics\", \"data\": {{\"mae\": 1.2}}}}"
        ))
    })?;
    let created = artifacts::publish(
        &state,
        &caller,
        Publish {
            flow_run_id,
            task_run_id: body.task_run_id,
            key: body.key,
            kind: body.kind,
            description: body.description,
            data: body.data,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(views::artifact(&created))))
}

/// Parameters of `GET /api/artifact-keys`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct KeysParams {
    search: String,
    limit: u32,
}

/// `GET /api/artifact-keys?search=&limit=`: keys and their series' sizes,
/// most recently published first.
pub(crate) async fn keys(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<KeysParams>,
) -> ApiResult<Json<Value>> {
    let keys = artifacts::keys(&state, &params.search, params.limit).await?;
    let keys: Vec<Value> = keys
        .iter()
        .map(|key| {
            serde_json::json!({
                "key": key.key,
                "artifacts": key.artifacts,
                "latest_at": orch_proto::json::rfc3339(key.latest_at),
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "keys": keys })))
}
