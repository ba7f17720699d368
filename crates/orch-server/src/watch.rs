//! `WatchFlowRun`: a run followed live ([`crate::ops::follow`]), encoded as
//! protobuf events: one per log line, and the run whenever its state changed.

use futures::{Stream, StreamExt};
use orch_proto::v1 as pb;
use tokio::sync::broadcast::Receiver;
use tonic::Status;

use crate::convert;
use crate::error::status;
use crate::events::Event;
use crate::ops::follow::{Followed, follow};
use crate::state::AppState;

/// Streams the run (first, then on every state change) and its log lines
/// after `after_log_id`; ends once the run is terminal and its logs are
/// drained. `events` was subscribed before the run was read.
pub(crate) fn watch_flow_run(
    state: AppState,
    run_id: String,
    after_log_id: i64,
    events: Receiver<Event>,
    permit: Option<crate::streams::StreamPermit>,
) -> impl Stream<Item = Result<pb::FlowRunEvent, Status>> + Send {
    async_stream::try_stream! {
        // Held for as long as the stream lives.
        let _permit = permit;
        let followed = follow(state, run_id, after_log_id, events, std::time::Duration::ZERO);
        futures::pin_mut!(followed);
        while let Some(item) = followed.next().await {
            match item.map_err(status)? {
                Followed::Logs(lines) => {
                    for line in &lines {
                        yield pb::FlowRunEvent { event: Some(pb::flow_run_event::Event::Log(convert::log_line(line))) };
                    }
                }
                Followed::Changed { run, state_changed: true } => {
                    yield pb::FlowRunEvent { event: Some(pb::flow_run_event::Event::Run(convert::flow_run(&run))) };
                }
                Followed::Changed { .. } | Followed::End => {}
            }
        }
    }
}
