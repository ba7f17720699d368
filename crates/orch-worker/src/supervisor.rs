//! One claimed run, from spawning its process to reporting how it ended.
//!
//! The order matters: Running is accepted before any final state is
//! proposed (the server refuses Pending -> Completed), and the final state is
//! proposed only once every log line of the run is stored, so whoever sees a
//! finished run also sees all of its logs.

use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

use nix::unistd::Pid;

use orch_proto::v1::{
    ClaimedRun, ResourceUsage, SetFlowRunStateRequest, SetFlowRunStateResponse, State, StateType,
    TransitionOutcome,
};
use tokio::process::{ChildStderr, ChildStdout};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::Status;
use uuid::Uuid;

use orch_client::{Api, Shipper, attempt, describe, flow_env, retry};

use crate::environment::{self, RunVariables};
use crate::leftovers;
use crate::outcome::{self, Outcome, StderrTail, StopReason};
use crate::output::{self, RunLog};
use crate::process::{self, Launch, RunningProcess};
use crate::reaper::Reaper;
use crate::registry::{self, RunSlot, StopSignal};

/// How long to keep reading a run's output after its process exited: a
/// background process it started may hold the pipes open indefinitely.
const OUTPUT_DRAIN: Duration = Duration::from_secs(2);

/// What every run of this worker needs.
#[derive(Debug)]
pub(crate) struct Context {
    pub api: Api,
    pub api_url: String,
    pub worker_id: String,
    pub kill_grace: Duration,
    pub logs: Shipper,
    /// Where started process groups are recorded (see `leftovers`).
    pub state_dir: Option<PathBuf>,
    /// The worker's variables flows receive besides the basics.
    pub pass_env: Vec<String>,
    /// The CA certificate the worker trusts, passed on as `ORCH_TLS_CA`.
    pub tls_ca: Option<PathBuf>,
    /// The sandbox flows start in (see `isolation`), if any.
    pub sandbox: Option<crate::isolation::Sandbox>,
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
    /// What the process tree used, once reaped.
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
    supervise_in_span(context, claimed, slot, stop, span.clone())
        .instrument(span)
        .await;
}

/// [`supervise`], inside the run's span.
async fn supervise_in_span(
    context: Arc<Context>,
    claimed: ClaimedRun,
    slot: RunSlot,
    stop: StopSignal,
    span: tracing::Span,
) {
    let flow_run_id = slot.flow_run_id();
    let Some((process, secrets)) = start(&context, flow_run_id, claimed).await else {
        return;
    };
    let RunningProcess {
        child,
        group,
        stdout,
        stderr,
        parameters_file,
    } = process;
    let record = context
        .state_dir
        .as_deref()
        .and_then(|dir| leftovers::record(dir, group, flow_run_id));
    let log = RunLog::new(
        flow_run_id.to_owned(),
        context.worker_id.clone(),
        context.logs.clone(),
    )
    .with_secrets(secrets);
    let output = Output::start(stdout, stderr, log);
    let exit = run_to_exit(&context, flow_run_id, child, group, stop).await;
    if let Some(record) = record {
        record.forget();
    }
    if let Some(file) = parameters_file {
        let _ = std::fs::remove_file(file);
    }
    let tail = output.finish(flow_run_id).await;
    context.logs.flush().await;

    if matches!(exit.running, RunningAck::Refused) {
        return;
    }
    let mut outcome = match exit.status {
        Ok(status) => outcome::classify(status, exit.stop_reason, &tail),
        Err(error) => lost_track(&error, exit.stop_reason),
    };
    outcome.usage = exit.usage;
    crate::trace::record_outcome(&span, &outcome);
    report_final(&context, flow_run_id, &outcome).await;
}

/// Spawns the run's process, or reports the run Failed if it cannot start.
/// Returns it with the secret values its log lines must not show.
async fn start(
    context: &Context,
    flow_run_id: &str,
    claimed: ClaimedRun,
) -> Option<(RunningProcess, Vec<String>)> {
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
            (flow_env::API_URL, context.api_url.clone()),
            (flow_env::FLOW_RUN_ID, flow_run_id.to_owned()),
            (flow_env::FLOW, run.flow.clone()),
            (flow_env::DEPLOYMENT, run.deployment.clone()),
            (flow_env::WORKER_ID, context.worker_id.clone()),
        ],
    };
    let mut variables = variables;
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
    let launch = Launch {
        entrypoint: &claimed.entrypoint,
        base_dir: Path::new(&claimed.base_dir),
        env: environment::flow_environment(std::env::vars_os(), &context.pass_env, &variables),
        parameters: &claimed.parameters_json,
        parameters_dir: context.state_dir.as_deref(),
        flow_run_id,
        sandbox: context.sandbox.as_ref(),
        keep: context.tls_ca.iter().cloned().collect(),
    };
    match process::spawn(&launch) {
        Ok(process) => {
            tracing::info!(
                "run {flow_run_id} ({}) started: {:?}, pid {}",
                run.name,
                claimed.entrypoint,
                process.group
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
    mut child: Reaper,
    group: Pid,
    mut stop: StopSignal,
) -> Exit {
    let running = report_running(context, flow_run_id);
    tokio::pin!(running);
    let mut running_ack = None;
    let mut stop_reason = None;
    let status = loop {
        tokio::select! {
            ack = &mut running, if running_ack.is_none() => {
                match running_ack.insert(ack) {
                    RunningAck::Accepted => continue,
                    RunningAck::Cancelling => stop_reason = Some(StopReason::Cancelled),
                    RunningAck::Refused => {}
                }
                break process::terminate_group(&mut child, group, context.kill_grace).await;
            }
            status = child.wait() => break status,
            reason = registry::stop_requested(&mut stop) => {
                tracing::info!("stopping run {flow_run_id} ({reason:?})");
                stop_reason = Some(reason);
                break process::terminate_group(&mut child, group, context.kill_grace).await;
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
        status,
        usage: child.usage(),
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
    fn start(stdout: ChildStdout, stderr: ChildStderr, log: RunLog) -> Self {
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

/// One `SetFlowRunState`, retried with the same transition id so that a
/// retry of a proposal the server already applied has the same outcome.
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
    let what = format!(
        "reporting run {flow_run_id} {}",
        request.state.as_ref().map_or("", |state| &state.name)
    );
    retry(&what, || {
        let mut flow_runs = context.api.flow_runs();
        let request = request.clone();
        async move { attempt(flow_runs.set_flow_run_state(request)).await }
    })
    .await
}
