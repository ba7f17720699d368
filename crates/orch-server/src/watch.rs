//! Following one run live: its state changes and log lines, until it is over.

use std::time::Duration;

use futures::Stream;
use orch_proto::v1 as pb;
use tokio::sync::broadcast::error::RecvError;
use tonic::Status;

use crate::convert;
use crate::error::status;
use crate::state::AppState;

/// How often a watcher re-reads even without a notification (e.g. writes
/// made by another server replica).
const FALLBACK_POLL: Duration = Duration::from_millis(1000);

/// Streams the run (first, then on every change) and its log lines after
/// `after_log_id`; ends once the run is terminal and its logs are drained.
pub(crate) fn watch_flow_run(
    state: AppState,
    run_id: String,
    after_log_id: i64,
    permit: Option<crate::streams::StreamPermit>,
) -> impl Stream<Item = Result<pb::FlowRunEvent, Status>> + Send {
    async_stream::try_stream! {
        // Held for as long as the stream lives.
        let _permit = permit;
        let mut events = state.events().subscribe();
        let store = state.store().clone();
        let mut last_log = after_log_id;
        let mut last_state = None;
        loop {
            loop {
                let lines = crate::detached::read_logs(&store, &run_id, last_log, 0).await.map_err(status)?;
                if lines.is_empty() {
                    break;
                }
                for line in &lines {
                    last_log = line.id;
                    yield pb::FlowRunEvent { event: Some(pb::flow_run_event::Event::Log(convert::log_line(line))) };
                }
            }
            let run = crate::detached::flow_run(&store, &run_id).await.map_err(status)?;
            let current = (run.state.timestamp, run.state.name.clone());
            let terminal = run.state.kind.is_terminal();
            if last_state.as_ref() != Some(&current) {
                last_state = Some(current);
                yield pb::FlowRunEvent { event: Some(pb::flow_run_event::Event::Run(convert::flow_run(&run))) };
            }
            if terminal {
                // Lines written between the last read and the terminal state.
                for line in crate::detached::read_logs(&store, &run_id, last_log, 0).await.map_err(status)? {
                    yield pb::FlowRunEvent { event: Some(pb::flow_run_event::Event::Log(convert::log_line(&line))) };
                }
                break;
            }
            tokio::select! {
                _ = wait_for_run(&mut events, &run_id) => {}
                _ = tokio::time::sleep(FALLBACK_POLL) => {}
                _ = state.shutting_down() => break,
            }
        }
    }
}

async fn wait_for_run(
    events: &mut tokio::sync::broadcast::Receiver<crate::events::Event>,
    run_id: &str,
) {
    loop {
        match events.recv().await {
            Ok(event) if event.run_id() == Some(run_id) => return,
            Ok(_) => continue,
            Err(RecvError::Lagged(_)) => return,
            Err(RecvError::Closed) => std::future::pending().await,
        }
    }
}
