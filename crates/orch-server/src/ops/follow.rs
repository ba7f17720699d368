//! Following one run live (`orch flow-run watch`, `logs --follow`, the run
//! page): its log lines and its changes, until it is over. One
//! implementation for both transports: gRPC's `WatchFlowRun` sends each
//! [`Followed`] as protobuf events, the REST API's
//! `GET /api/flow-runs/{id}/events` as server-sent events.

use std::time::{Duration, Instant};

use futures::Stream;
use orch_store::{FlowRun, LogLine};
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;

use super::OpsResult;
use crate::events::Event;
use crate::state::AppState;

/// Re-read this often even without a notification (writes made by another
/// server replica whose notification was lost, a lagging subscriber).
pub const FALLBACK_POLL: Duration = Duration::from_secs(1);
/// The spacing a page uses ([`follow`]'s `spacing`): at most one
/// [`Followed::Changed`] without a new state per this interval, since a flow
/// of many tasks reports often and a page needs the latest picture, not
/// every step. A new state is sent at once whatever the spacing.
pub const PAGE_SPACING: Duration = Duration::from_millis(250);
/// Log lines per [`Followed::Logs`].
pub const LOG_BATCH: u32 = 500;

/// What a follower is told, in order.
#[derive(Debug, Clone)]
pub enum Followed {
    /// Log lines after the last ones sent, oldest first (at most [`LOG_BATCH`]).
    Logs(Vec<LogLine>),
    /// The run may have changed (its state, its task runs, its subflow
    /// runs): here it is as stored now. `state_changed` says whether its
    /// state is another than the one last sent (always true the first time).
    Changed {
        /// The run now.
        run: Box<FlowRun>,
        /// Its state differs from the last one sent.
        state_changed: bool,
    },
    /// The run is over and every line written before its end was sent.
    End,
}

/// What woke the follower.
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
            // No more notifications: poll.
            Err(RecvError::Closed) => std::future::pending().await,
        }
    }
}

/// Reads every line after `*last` and moves `*last` past them, a batch at a time.
async fn drain(state: &AppState, run_id: &str, last: &mut i64) -> OpsResult<Option<Vec<LogLine>>> {
    let lines = crate::detached::read_logs(state.store(), run_id, *last, LOG_BATCH).await?;
    Ok(match lines.last() {
        None => None,
        Some(line) => {
            *last = line.id;
            Some(lines)
        }
    })
}

/// Follows the run `run_id` from the log line after `after`: first its
/// lines so far and the run, then whatever changes, until [`Followed::End`]
/// or the server shuts down. `events` must be subscribed before the caller
/// read the run, so that nothing written after that read is missed.
/// Changes that bring no new state are sent at most once per `spacing`
/// (zero: each as it comes; a follower of states alone gains nothing from
/// waiting). An error ends the stream.
pub fn follow(
    state: AppState,
    run_id: String,
    after: i64,
    mut events: Receiver<Event>,
    spacing: Duration,
) -> impl Stream<Item = OpsResult<Followed>> + Send {
    async_stream::try_stream! {
        let mut last_log = after;
        let mut last_state = None;
        let mut last_change: Option<Instant> = None;
        let mut wake = Wake::Run;
        loop {
            while let Some(lines) = drain(&state, &run_id, &mut last_log).await? {
                yield Followed::Logs(lines);
            }
            if wake != Wake::Logs {
                let mut run = crate::detached::flow_run(state.store(), &run_id).await?;
                let mut current = (run.state.timestamp, run.state.name.clone());
                // A new state goes out at once; other changes (task runs,
                // subflow runs) at most once per `spacing`.
                if last_state.as_ref() == Some(&current)
                    && let Some(at) = last_change
                    && at.elapsed() < spacing
                {
                    tokio::time::sleep(spacing - at.elapsed()).await;
                    run = crate::detached::flow_run(state.store(), &run_id).await?;
                    current = (run.state.timestamp, run.state.name.clone());
                }
                let state_changed = last_state.as_ref() != Some(&current);
                let finished = run.state.kind.is_terminal();
                last_state = Some(current);
                last_change = Some(Instant::now());
                yield Followed::Changed { run: Box::new(run), state_changed };
                if finished {
                    // Lines written between the last read and the final state.
                    while let Some(lines) = drain(&state, &run_id, &mut last_log).await? {
                        yield Followed::Logs(lines);
                    }
                    yield Followed::End;
                    break;
                }
            }
            wake = tokio::select! {
                wake = next_wake(&mut events, &run_id) => wake,
                _ = tokio::time::sleep(FALLBACK_POLL) => Wake::Poll,
                _ = state.shutting_down() => Wake::Stop,
            };
            if wake == Wake::Stop {
                break;
            }
        }
    }
}
