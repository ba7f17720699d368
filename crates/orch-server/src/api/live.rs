//! `GET /api/flow-runs/{id}/events`: a run followed live
//! ([`crate::ops::follow`]) over server-sent events. `logs` events carry new
//! log lines, `run` events the run's detail (state, history, task runs,
//! subflow runs) whenever it changed, and `end` closes the stream once the
//! run is finished and its logs are drained.

use std::convert::Infallible;

use axum::extract::{Path, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::{Stream, StreamExt};
use serde::Deserialize;
use tokio::sync::broadcast::Receiver;

use super::flow_runs::load_detail;
use super::views;
use super::{ApiQuery, ApiResult};
use crate::events::Event;
use crate::ops::follow::{Followed, PAGE_SPACING, follow};
use crate::state::AppState;

/// Where to start.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct LiveParams {
    /// Send log lines with ids above this (the last id the client has).
    after: i64,
}

fn json_event(name: &str, data: &impl serde::Serialize) -> SseEvent {
    SseEvent::default()
        .event(name)
        .data(serde_json::to_string(data).expect("API views serialise"))
}

fn error_event(message: &str) -> SseEvent {
    json_event("error", &serde_json::json!({ "error": message }))
}

/// The handler. The run is resolved first, so an unknown run is a JSON 404.
pub(crate) async fn events(
    State(state): State<AppState>,
    Path(reference): Path<String>,
    extensions: axum::http::Extensions,
    ApiQuery(params): ApiQuery<LiveParams>,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let permit = state
        .open_stream(crate::streams::client_of(&extensions))
        .map_err(super::ApiError::too_many_requests)?;
    // Subscribe before the first read: nothing written after it can be missed.
    let receiver = state.events().subscribe();
    let caller = crate::caller::Caller::of(&extensions);
    let run = crate::ops::run_reads::run(&state, &caller, &reference).await?;
    let stream = encode(state, caller, run.id, params.after, receiver, permit);
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// The followed run as server-sent events. A `run` event is sent when the
/// run's detail differs from the last one sent (a task run can change
/// without the run's state changing).
fn encode(
    state: AppState,
    caller: crate::caller::Caller,
    run_id: String,
    after: i64,
    receiver: Receiver<Event>,
    permit: Option<crate::streams::StreamPermit>,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    async_stream::stream! {
        // Held for as long as the stream lives.
        let _permit = permit;
        let mut last_detail = String::new();
        let followed = follow(state.clone(), run_id, after, receiver, PAGE_SPACING);
        futures::pin_mut!(followed);
        while let Some(item) = followed.next().await {
            match item {
                Ok(Followed::Logs(lines)) => yield Ok(json_event("logs", &views::lines(&lines))),
                Ok(Followed::Changed { run, .. }) => {
                    let detail = crate::detached::detached({
                        let (state, caller) = (state.clone(), caller.clone());
                        async move { load_detail(&state, &caller, &run.id).await }
                    })
                    .await;
                    let detail = match detail {
                        Ok(detail) => detail,
                        Err(error) => {
                            yield Ok(error_event(&error.message));
                            return;
                        }
                    };
                    let text = serde_json::to_string(&detail).expect("API views serialise");
                    if text != last_detail {
                        yield Ok(SseEvent::default().event("run").data(text.clone()));
                        last_detail = text;
                    }
                }
                Ok(Followed::End) => {
                    yield Ok(SseEvent::default().event("end").data("{}"));
                    return;
                }
                Err(error) => {
                    yield Ok(error_event(&error.to_string()));
                    return;
                }
            }
        }
    }
}
