//! `GET /api/audit?since=RFC3339&limit=N`: the recorded changes, newest first.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use orch_proto::json;

use super::{ApiQuery, ApiResult, parse_time};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    since: Option<String>,
    limit: Option<u32>,
}

/// `GET /api/audit`.
pub(crate) async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Value>> {
    let since = query
        .since
        .as_deref()
        .map(|text| parse_time("since", text))
        .transpose()?
        .unwrap_or(0);
    let records: Vec<json::AuditRecord> =
        crate::ops::audit::list(&state, since, query.limit.unwrap_or(0))
            .await?
            .iter()
            .map(|r| json::AuditRecord::from(&crate::convert::record(r)))
            .collect();
    Ok(Json(json!({ "records": records })))
}
