//! `GET /api/flow-runs/{id}/events`: a run followed live over server-sent
//! events. `logs` events carry new log lines, `run` events the run's detail
//! (state, history, task runs) whenever it changed, and `end` closes the
//! stream once the run is finished and its logs are drained.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::Stream;
use serde::Deserialize;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;

use super::flow_runs::load_detail;
use super::views;
use super::{ApiQuery, ApiResult};
use crate::events::Event;
use crate::state::AppState;

/// Re-read this often even without a notification (writes by another replica).
const FALLBACK_POLL: Duration = Duration::from_secs(2);
/// At most one `run` event per this interval (a flow of many tasks reports often).
const RUN_EVENT_SPACING: Duration = Duration::from_millis(250);
/// Log lines per `logs` event.
const LOG_BATCH: u32 = 500;

/// Where to start.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct LiveParams {
    /// Send log lines with ids above this (the last id the client has).
    after: i64,
}

/// What woke the stream.
#[derive(Debug, PartialEq)]
enum Wake {
    Logs,
    Run,
    Poll,
    Stop,
}

async fn next_wake(events: &mut Receiver<Event>, run_id: &str) -> Wake {
    loop {
        match events.recv().await {
            Ok(Event::LogsWritten { run_id: id }) if id == run_id => return Wake::Logs,
            Ok(event) if event.run_id() == Some(run_id) => return Wake::Run,
            Ok(_) => continue,
            Err(RecvError::Lagged(_)) => return Wake::Poll,
            Err(RecvError::Closed) => return Wake::Stop,
        }
    }
}

fn json_event(name: &str, data: &impl serde::Serialize) -> SseEvent {
    SseEvent::default()
        .event(name)
        .data(serde_json::to_string(data).expect("API views serialise"))
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
    let stream = follow(state, caller, run.id, params.after, receiver, permit);
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

fn follow(
    state: AppState,
    caller: crate::caller::Caller,
    run_id: String,
    after: i64,
    mut receiver: Receiver<Event>,
    permit: Option<crate::streams::StreamPermit>,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    async_stream::stream! {
        // Held for as long as the stream lives.
        let _permit = permit;
        let store = state.store().clone();
        let mut last_log = after;
        let mut last_detail = String::new();
        let mut last_run_event: Option<Instant> = None;
        let mut wake = Wake::Run;
        loop {
            loop {
                match crate::detached::read_logs(&store, &run_id, last_log, LOG_BATCH).await {
                    Ok(lines) if lines.is_empty() => break,
                    Ok(lines) => {
                        last_log = lines.last().map_or(last_log, |l| l.id);
                        yield Ok(json_event("logs", &views::lines(&lines)));
                    }
                    Err(error) => {
                        yield Ok(json_event("error", &serde_json::json!({ "error": error.to_string() })));
                        return;
                    }
                }
            }
            if wake != Wake::Logs {
                if let Some(at) = last_run_event {
                    let since = at.elapsed();
                    if since < RUN_EVENT_SPACING {
                        tokio::time::sleep(RUN_EVENT_SPACING - since).await;
                    }
                }
                let detail = match crate::detached::detached({
                    let (state, caller, run_id) = (state.clone(), caller.clone(), run_id.clone());
                    async move { load_detail(&state, &caller, &run_id).await }
                })
                .await
                {
                    Ok(detail) => detail,
                    Err(error) => {
                        yield Ok(json_event("error", &serde_json::json!({ "error": error.message })));
                        return;
                    }
                };
                let text = serde_json::to_string(&detail).expect("API views serialise");
                let finished = detail
                    .run
                    .state
                    .kind
                    .parse::<orch_core::StateType>()
                    .is_ok_and(orch_core::StateType::is_terminal);
                if text != last_detail {
                    last_run_event = Some(Instant::now());
                    yield Ok(SseEvent::default().event("run").data(text.clone()));
                    last_detail = text;
                }
                if finished {
                    // Lines written between the last read and the final state.
                    if let Ok(lines) = crate::detached::read_logs(&store, &run_id, last_log, 0).await
                        && !lines.is_empty()
                    {
                        yield Ok(json_event("logs", &views::lines(&lines)));
                    }
                    yield Ok(SseEvent::default().event("end").data("{}"));
                    return;
                }
            }
            wake = tokio::select! {
                wake = next_wake(&mut receiver, &run_id) => wake,
                _ = tokio::time::sleep(FALLBACK_POLL) => Wake::Poll,
                _ = state.shutting_down() => Wake::Stop,
            };
            if wake == Wake::Stop {
                return;
            }
        }
    }
}
