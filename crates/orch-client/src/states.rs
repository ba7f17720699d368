//! State reports sent together: [`StateReports`].
//!
//! A worker reports two states per run (Running, then how it ended). One call
//! each, a worker draining a backlog makes two calls per run, and a call costs
//! the server and the worker more than the state change it carries (HTTP/2
//! frames, the authorization and audit layers, a task per request).
//! [`StateReports::report`] queues one report and waits for its answer; one
//! task sends what is queued as one `SetFlowRunStates` call, one call at a
//! time: the reports made while a call is out go together in the next one. A
//! lone report goes at once (no added delay); under load the calls grow, up to
//! [`MAX_REPORTS`] reports or [`MAX_BYTES`].
//!
//! - A call that fails for a transient reason ([`crate::is_transient`]: the
//!   server unreachable, restarting, out of disk) is sent again whole, with the
//!   shared backoff, to whichever server the client uses by then; each report
//!   keeps its transition id, so the server applies it once.
//! - A report refused on its merits gets that refusal as its answer. One that
//!   failed alone for a transient reason is retried alone (`SetFlowRunState`
//!   through [`crate::retry`]), off the queue, so it holds up no other report.
//! - A server older than `SetFlowRunStates` (`UNIMPLEMENTED`) is sent each
//!   report as its own `SetFlowRunState` call from then on, as before.
//!
//! Ordering: reports are sent in the order they were made, but two reports
//! of one run must not be in flight at once (the worker waits for Running's
//! answer before it proposes a final state).

use orch_proto::v1::{
    SetFlowRunStateRequest, SetFlowRunStateResponse, SetFlowRunStateResult, SetFlowRunStatesRequest,
};
use prost::Message as _;
use tokio::sync::{mpsc, oneshot};
use tonic::{Code, Status};

use crate::{Api, attempt, describe, is_transient, retry};

/// Most reports in one call; the server takes up to
/// `orch_proto::MAX_STATE_REPORTS`.
pub const MAX_REPORTS: usize = 256;

/// Most encoded bytes of reports in one call (a final state's message holds
/// the tail of the run's stderr), well under `orch_proto::MAX_MESSAGE_BYTES`.
pub const MAX_BYTES: usize = 1 << 20;

/// A report's answer: the server's, or why there is none.
pub type Answer = Result<SetFlowRunStateResponse, Status>;

struct Queued {
    request: SetFlowRunStateRequest,
    answer: oneshot::Sender<Answer>,
}

/// Sends state reports together; cheap to clone. The sending task ends
/// when every handle is dropped and the queue is answered.
#[derive(Clone, Debug)]
pub struct StateReports {
    queue: mpsc::UnboundedSender<Queued>,
}

impl StateReports {
    /// Starts the task sending reports through `api` (on the current
    /// tokio runtime).
    pub fn start(api: Api) -> Self {
        let (queue, queued) = mpsc::unbounded_channel();
        tokio::spawn(send_queued(api, queued));
        Self { queue }
    }

    /// Sends `request` with the other reports queued now, and returns its
    /// answer once the server gave it. The queue is unbounded: each caller
    /// waits for its answer, so it holds at most one report per run in flight.
    ///
    /// # Errors
    ///
    /// The report was refused (the status says why, as `SetFlowRunState`'s
    /// would), or the reporter has stopped (`CANCELLED`).
    pub async fn report(&self, request: SetFlowRunStateRequest) -> Answer {
        let (answer, answered) = oneshot::channel();
        if self.queue.send(Queued { request, answer }).is_err() {
            return Err(stopped());
        }
        answered.await.unwrap_or_else(|_| Err(stopped()))
    }
}

fn stopped() -> Status {
    Status::cancelled("the worker's state reporter has stopped (the worker is shutting down)")
}

/// The task: one call at a time, carrying whatever is queued.
async fn send_queued(api: Api, mut queued: mpsc::UnboundedReceiver<Queued>) {
    let mut together = true;
    while let Some(first) = queued.recv().await {
        let mut bytes = first.request.encoded_len();
        let mut batch = vec![first];
        while batch.len() < MAX_REPORTS && bytes < MAX_BYTES {
            let Ok(next) = queued.try_recv() else { break };
            bytes += next.request.encoded_len();
            batch.push(next);
        }
        if together {
            together = send_together(&api, batch).await;
        } else {
            for report in batch {
                tokio::spawn(send_alone(api.clone(), report));
            }
        }
    }
}

/// Sends `batch` as one call and answers each report; returns false (and
/// sends each alone) when the server does not know `SetFlowRunStates`.
async fn send_together(api: &Api, batch: Vec<Queued>) -> bool {
    let (reports, answers): (Vec<_>, Vec<_>) =
        batch.into_iter().map(|q| (q.request, q.answer)).unzip();
    let request = SetFlowRunStatesRequest { reports };
    let what = format!("reporting the states of {} run(s)", answers.len());
    let sent = retry(&what, || {
        let mut flow_runs = api.flow_runs();
        let request = request.clone();
        async move { attempt(flow_runs.set_flow_run_states(request)).await }
    })
    .await;
    let batch = request.reports.into_iter().zip(answers);
    match sent {
        Ok(response) if response.results.len() == batch.len() => {
            for ((request, answer), result) in batch.zip(response.results) {
                settle(api, Queued { request, answer }, result);
            }
            true
        }
        Ok(response) => {
            let status = Status::internal(format!(
                "the server answered {} of {} state reports; report this as a bug of the \
                 server, whose version differs from the worker's",
                response.results.len(),
                batch.len()
            ));
            for (_, answer) in batch {
                let _ = answer.send(Err(status.clone()));
            }
            true
        }
        Err(status) if status.code() == Code::Unimplemented => {
            tracing::info!(
                "the server does not take state reports together (SetFlowRunStates: {}); \
                 sending each alone",
                describe(&status)
            );
            for (request, answer) in batch {
                tokio::spawn(send_alone(api.clone(), Queued { request, answer }));
            }
            false
        }
        Err(status) => {
            for (_, answer) in batch {
                let _ = answer.send(Err(status.clone()));
            }
            true
        }
    }
}

/// Answers one report from its result, or retries it alone if it failed
/// for a transient reason.
fn settle(api: &Api, report: Queued, result: SetFlowRunStateResult) {
    let answer = match result.response {
        Some(response) if result.error_code == 0 => Ok(response),
        _ => {
            let code = Code::from(result.error_code);
            let status = if code == Code::Ok {
                Status::internal(
                    "the server answered a state report with neither a state nor an error",
                )
            } else {
                Status::new(code, result.error_message)
            };
            if is_transient(&status) {
                tokio::spawn(send_alone(api.clone(), report));
                return;
            }
            Err(status)
        }
    };
    let _ = report.answer.send(answer);
}

/// One report as its own `SetFlowRunState` call, retried while transient.
async fn send_alone(api: Api, report: Queued) {
    let Queued { request, answer } = report;
    let what = format!(
        "reporting run {} {}",
        request.flow_run_id,
        request.state.as_ref().map_or("", |state| &state.name)
    );
    let result = retry(&what, || {
        let mut flow_runs = api.flow_runs();
        let request = request.clone();
        async move { attempt(flow_runs.set_flow_run_state(request)).await }
    })
    .await;
    let _ = answer.send(result);
}
