//! `GET /api/tokens`: the API tokens (admin), never their keys.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::ApiResult;
use crate::state::AppState;

/// `GET /api/tokens`: every token, revoked ones included, by name.
pub(crate) async fn list(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let tokens: Vec<orch_proto::json::Token> = crate::ops::tokens::list(&state)
        .await?
        .iter()
        .map(|info| orch_proto::json::Token::from(&crate::convert::token(info)))
        .collect();
    Ok(Json(json!({ "tokens": tokens })))
}
