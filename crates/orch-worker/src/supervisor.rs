//! One claimed run, from spawning its process to reporting how it ended.
//!
//! The order matters: Running is accepted before any final state is
//! proposed (the server refuses Pending -> Completed), and the final state is
//! proposed only once every log line of the run is stored, so whoever sees a
//! finished run also sees all of its logs.

use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

use orch_proto::v1::{
    ClaimedRun, ResourceUsage, SetFlowRunStateRequest, SetFlowRunStateResponse, State, StateType,
    TransitionOutcome,
};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::Status;
use uuid::Uuid;

use orch_client::{Api, Shipper, StateReports, describe, flow_env};

use crate::environment::RunVariables;
use crate::outcome::{self, Outcome, StderrTail, StopReason};
use crate::output::{self, RunLog};
use crate::pool::{Execution, Job, OutputStream, Pool, Started};
use crate::registry::{self, RunSlot, StopSignal};

/// How long to keep reading a run's output after its process exited: a
/// background process it started may hold the pipes open indefinitely.
const OUTPUT_DRAIN: Duration = Duration::from_secs(2);

/// What every run of this worker needs.
#[derive(Clone, Debug)]
pub(crate) struct Context {
    /// The connection to the server (to one of its replicas at a time).
    pub api: Api,
    pub worker_id: String,
    pub kill_grace: Duration,
    pub logs: Shipper,
    /// Sends the runs' state reports, several per call when they come together.
    pub reports: StateReports,
    /// The CA certificate the worker trusts, passed on as `ORCH_TLS_CA`.
    pub tls_ca: Option<PathBuf>,
    /// How runs are executed: the pool type's implementation.
    pub pool: Arc<dyn Pool>,
}

/// What the server made of the proposal to move a run to Running.
enum RunningAck {
    /// The run is Running.
    Accepted,
    /// Refused because the run is being cancelled: stop it, report Cancelled.
    Cancelling,
    /// Refused for good (the run ended or moved on): stop it, report nothing.
    Refused,
}

/// How a run's process ended, and what the worker knows about why.
struct Exit {
    status: std::io::Result<ExitStatus>,
    /// Why the infrastructure ended it, if it says (out of memory).
    crash: Option<String>,
    /// What the run's processes used, when the pool measures it.
    usage: Option<orch_core::ResourceUsage>,
    /// Set when the worker stopped the process itself.
    stop_reason: Option<StopReason>,
    running: RunningAck,
}

/// Runs `claimed` to the end. `slot` keeps it counted as in flight until
/// this returns; `stop` says when the worker wants it stopped.
pub(crate) async fn supervise(
    context: Arc<Context>,
    claimed: ClaimedRun,
    slot: RunSlot,
    stop: StopSignal,
) {
    use tracing::Instrument;

    let span = crate::trace::run_span(&claimed, &context.worker_id);
    supervise_in_span(context, claimed, slot, stop)
        .instrument(span)
        .await;
}

/// [`supervise`], inside the run's span.
async fn supervise_in_span(
    context: Arc<Context>,
    claimed: ClaimedRun,
    slot: RunSlot,
    stop: StopSignal,
) {
    let flow_run_id = slot.flow_run_id();
    let Some((started, secrets)) = start(&context, flow_run_id, claimed).await else {
        return;
    };
    supervise_started(&context, flow_run_id, started, secrets, stop, false).await;
}

/// Watches a started run to the end and reports how it ended. `running`:
/// the server already has it Running (an execution adopted after a restart).
pub(crate) async fn supervise_started(
    context: &Context,
    flow_run_id: &str,
    started: Started,
    secrets: Vec<String>,
    stop: StopSignal,
    running: bool,
) {
    let Started {
        mut execution,
        stdout,
        stderr,
        ..
    } = started;
    let log = RunLog::new(
        flow_run_id.to_owned(),
        context.worker_id.clone(),
        context.logs.clone(),
    )
    .with_secrets(secrets);
    let output = Output::start(stdout, stderr, log);
    let exit = run_to_exit(context, flow_run_id, execution.as_mut(), stop, running).await;
    execution.exited();
    let tail = output.finish(flow_run_id).await;
    context.logs.flush().await;

    if matches!(exit.running, RunningAck::Refused) || exit.stop_reason == Some(StopReason::Lost) {
        // The server has decided the run's fate already: nothing to report.
        execution.release(false).await;
        return;
    }
    let mut outcome = match (exit.status, exit.crash) {
        (Ok(status), Some(message)) if exit.stop_reason.is_none() => Outcome {
            state: StateType::Crashed,
            message,
            exit_code: status.code(),
            usage: None,
        },
        (Ok(status), _) => outcome::classify(status, exit.stop_reason, &tail),
        (Err(error), _) => lost_track(&error, exit.stop_reason),
    };
    outcome.usage = exit.usage;
    crate::trace::record_outcome(&tracing::Span::current(), &outcome);
    execution
        .release(outcome.state == StateType::Completed)
        .await;
    report_final(context, flow_run_id, &outcome).await;
}

/// Starts the run through the worker's pool, or reports the run Failed if
/// it cannot start. Returns it with the secret values its log lines must not show.
async fn start(
    context: &Context,
    flow_run_id: &str,
    claimed: ClaimedRun,
) -> Option<(Started, Vec<String>)> {
    let run = claimed.run.clone().unwrap_or_default();
    if !claimed.missing_secrets.is_empty() {
        let message = missing_secrets(&run.deployment, &claimed.missing_secrets);
        tracing::warn!("run {flow_run_id} ({}): {message}", run.name);
        report_final(context, flow_run_id, &Outcome::failed_to_start(message)).await;
        return None;
    }
    let variables = RunVariables {
        env: Some(&claimed.env),
        secrets: Some(&claimed.secrets),
        orch: vec![
            // The server the worker uses now; all of them, from that one on,
            // when it was given several (the SDK fails over too).
            (flow_env::API_URL, context.api.url()),
            (flow_env::FLOW_RUN_ID, flow_run_id.to_owned()),
            (flow_env::FLOW, run.flow.clone()),
            (flow_env::DEPLOYMENT, run.deployment.clone()),
            (flow_env::WORKER_ID, context.worker_id.clone()),
            (flow_env::PROTOCOL, flow_env::PROTOCOL_VERSION.to_string()),
        ],
    };
    let mut variables = variables;
    let urls = context.api.urls_from_current();
    if urls.len() > 1 {
        variables.orch.push((flow_env::API_URLS, urls.join(",")));
    }
    variables
        .orch
        .extend(crate::trace::flow_variables(&claimed));
    let mut secret_names: Vec<&str> = claimed.secrets.keys().map(String::as_str).collect();
    if !secret_names.is_empty() {
        // The SDK hides these variables' values in the log lines it ships itself.
        secret_names.sort_unstable();
        variables
            .orch
            .push((flow_env::SECRET_NAMES, secret_names.join(",")));
    }
    if let Some(ca) = &context.tls_ca {
        variables
            .orch
            .push((flow_env::TLS_CA, ca.display().to_string()));
    }
    if !claimed.api_key.is_empty() {
        // The run's own credential, never the worker's key.
        variables
            .orch
            .push((flow_env::API_KEY, claimed.api_key.clone()));
    }
    let job = Job {
        flow_run_id,
        claimed: &claimed,
        variables,
    };
    match context.pool.start(job).await {
        Ok(process) => {
            tracing::info!(
                "run {flow_run_id} ({}) started: {:?}, {}",
                run.name,
                claimed.entrypoint,
                process.description
            );
            // The run's own key is hidden like its secrets (keys of any
            // other shape-alike are hidden by `redact` itself).
            let hidden = claimed
                .secrets
                .into_values()
                .chain(Some(claimed.api_key).filter(|key| !key.is_empty()))
                .collect();
            Some((process, hidden))
        }
        Err(message) => {
            tracing::warn!("run {flow_run_id} ({}): {message}", run.name);
            report_final(context, flow_run_id, &Outcome::failed_to_start(message)).await;
            None
        }
    }
}

/// Why a run whose deployment names unset secrets cannot start.
fn missing_secrets(deployment: &str, names: &[String]) -> String {
    format!(
        "cannot start the run: its deployment {deployment} uses secret(s) the server does not \
         have: {}. Set each with `orch secret set NAME` (value on stdin), then retry the run",
        names.join(", ")
    )
}

/// Reports the run Running and waits for its process to exit, stopping the
/// process group if the worker or the server asks.
async fn run_to_exit(
    context: &Context,
    flow_run_id: &str,
    execution: &mut dyn Execution,
    mut stop: StopSignal,
    already_running: bool,
) -> Exit {
    let running = report_running(context, flow_run_id);
    tokio::pin!(running);
    let mut running_ack = already_running.then_some(RunningAck::Accepted);
    let mut stop_reason = None;
    let ended = loop {
        tokio::select! {
            ack = &mut running, if running_ack.is_none() => {
                match running_ack.insert(ack) {
                    RunningAck::Accepted => continue,
                    RunningAck::Cancelling => stop_reason = Some(StopReason::Cancelled),
                    RunningAck::Refused => {}
                }
                break execution.stop(context.kill_grace).await;
            }
            ended = execution.wait() => break ended,
            reason = registry::stop_requested(&mut stop) => {
                tracing::info!("stopping run {flow_run_id} ({reason:?})");
                stop_reason = Some(reason);
                break execution.stop(context.kill_grace).await;
            }
        }
    };
    // A process quicker than the Running call: the server must still see
    // Running before a final state.
    let running = match running_ack {
        Some(ack) => ack,
        None => running.await,
    };
    Exit {
        status: ended.status,
        crash: ended.crash,
        usage: ended.usage,
        stop_reason,
        running,
    }
}

/// The task reading a run's output into logs.
struct Output {
    task: JoinHandle<StderrTail>,
    stop: oneshot::Sender<()>,
}

impl Output {
    fn start(stdout: OutputStream, stderr: OutputStream, log: RunLog) -> Self {
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(output::pump(stdout, stderr, log, async {
            let _ = stopped.await;
        }));
        Self { task, stop }
    }

    /// Waits for the pipes to close, but not for long once the process has
    /// exited, and returns the stderr tail.
    async fn finish(mut self, flow_run_id: &str) -> StderrTail {
        if let Ok(tail) = tokio::time::timeout(OUTPUT_DRAIN, &mut self.task).await {
            return tail.unwrap_or_default();
        }
        tracing::warn!(
            "run {flow_run_id} exited but a process it started still holds its output open; \
             no longer reading it"
        );
        let _ = self.stop.send(());
        self.task.await.unwrap_or_default()
    }
}

/// The outcome when waiting on the process failed, which should not happen.
fn lost_track(error: &std::io::Error, stop: Option<StopReason>) -> Outcome {
    let (state, message) = match stop {
        Some(StopReason::Cancelled) => (StateType::Cancelled, "cancelled by user".to_owned()),
        _ => (
            StateType::Crashed,
            format!("the worker lost track of the process: {error}"),
        ),
    };
    Outcome {
        state,
        message,
        exit_code: None,
        usage: None,
    }
}

/// Proposes Running, retrying until the server answers.
async fn report_running(context: &Context, flow_run_id: &str) -> RunningAck {
    let state = outcome::state(StateType::Running, String::new());
    match set_state(context, flow_run_id, state, Report::default()).await {
        Ok(response) if response.outcome() == TransitionOutcome::Accepted => RunningAck::Accepted,
        Ok(response) => {
            let now = response.state.as_ref().map(State::r#type);
            let cancelling = now == Some(StateType::Cancelling);
            tracing::warn!(
                "the server refused to mark run {flow_run_id} Running ({}); stopping it",
                response.reason
            );
            if cancelling {
                RunningAck::Cancelling
            } else {
                RunningAck::Refused
            }
        }
        Err(status) => {
            tracing::warn!(
                "the server refused to mark run {flow_run_id} Running: {}; stopping it",
                describe(&status)
            );
            RunningAck::Refused
        }
    }
}

/// Proposes the run's final state, retrying until the server answers.
async fn report_final(context: &Context, flow_run_id: &str, outcome: &Outcome) {
    let state_name = format!("{:?}", outcome.state);
    let usage = outcome.usage.map(|usage| ResourceUsage {
        cpu_user_micros: usage.cpu_user_micros,
        cpu_system_micros: usage.cpu_system_micros,
        max_rss_bytes: usage.max_rss_bytes,
        wall_micros: usage.wall_micros,
    });
    let report = Report {
        exit_code: outcome.exit_code,
        usage,
    };
    match set_state(context, flow_run_id, outcome.to_state(), report).await {
        Ok(response) if response.outcome() == TransitionOutcome::Accepted => {
            tracing::info!("run {flow_run_id} finished: {state_name}");
        }
        Ok(response) => tracing::warn!(
            "the server rejected {state_name} for run {flow_run_id}: {}",
            response.reason
        ),
        Err(status) => tracing::warn!(
            "the server refused {state_name} for run {flow_run_id}: {}",
            describe(&status)
        ),
    }
}

/// What a final state carries besides the state.
#[derive(Default)]
struct Report {
    exit_code: Option<i32>,
    usage: Option<ResourceUsage>,
}

/// One state report, sent with the other reports of the moment
/// ([`StateReports`]) and retried with the same transition id until the
/// server answers, so that a retry of a proposal the server already applied
/// has the same outcome.
async fn set_state(
    context: &Context,
    flow_run_id: &str,
    state: State,
    report: Report,
) -> Result<SetFlowRunStateResponse, Status> {
    let request = SetFlowRunStateRequest {
        flow_run_id: flow_run_id.to_owned(),
        state: Some(state),
        transition_id: Uuid::new_v4().to_string(),
        worker_id: context.worker_id.clone(),
        exit_code: report.exit_code,
        usage: report.usage,
    };
    context.reports.report(request).await
}
