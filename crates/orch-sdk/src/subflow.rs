//! Subflows: `ctx.subflow("data-refresh", |ctx| data_refresh(ctx))` runs
//! another flow function in this process as a flow run of its own, linked
//! to this run (docs/flow-protocol.md, "Subflow runs"):
//!
//! - the call is a task run of this run (the "wrapper", named after the
//!   subflow), so this run's graph and Gantt show it as a node;
//! - the server creates the subflow run, Running, with its own id, name,
//!   parameters, state history and run credential; its task runs, logs and
//!   artifacts are reported to it with that credential;
//! - it ends Completed, Failed (its error raises here, as before) or
//!   Cancelled; its span is a child of the wrapper task's span.
//!
//! Standalone (no server), it runs as a local run of its own.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures::FutureExt;
use orch_core::{StateType, TraceParent};
use orch_proto::v1 as pb;
use serde::Serialize;
use serde_json::{Map, Value};
use tracing::Instrument;

use crate::context::FlowContext;
use crate::error::panic_message;
use crate::logging::CURRENT_SUBFLOW;
use crate::output::{CURRENT_TASK, TaskScope};
use crate::record::TaskRecord;
use crate::reporter::Reporter;
use crate::trace;

/// How long reports may take to reach the server around a subflow's
/// creation and end (the server must know the wrapper task run first, and
/// the subflow's own reports before its final state).
const FLUSH: Duration = Duration::from_secs(30);
/// How long creating the subflow run, or reporting its end, may keep
/// retrying while the server is unreachable.
const CALL_DEADLINE: Duration = Duration::from_secs(60);

/// Why a subflow run could not be created or its state reported.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SubflowError {
    /// The server refused it (the parent is not running, a bad name...).
    #[error("the server refused the subflow run: {0}")]
    Refused(String),
    /// The server could not be reached in time.
    #[error("cannot reach the server for the subflow run: {0}")]
    Server(String),
}

/// A subflow run the server made.
#[derive(Debug, Clone)]
pub struct SubflowRun {
    /// Its id.
    pub flow_run_id: String,
    /// Its friendly name.
    pub name: String,
    /// The reporter of its own credential (the parent's when the server
    /// runs without authentication).
    pub reporter: Reporter,
    /// Its run span's context: the parent of its task spans.
    pub traceparent: Option<TraceParent>,
}

/// Creates the subflow run `flow` of run `parent_flow_run_id`, called by the
/// parent's task run `parent_task_run_id` (flushed to the server first),
/// its span a child of `traceparent`.
///
/// # Errors
///
/// [`SubflowError`] when the server refuses it or cannot be reached.
pub async fn start(
    reporter: &Reporter,
    parent_flow_run_id: &str,
    parent_task_run_id: &str,
    flow: &str,
    parameters: &Value,
    traceparent: Option<TraceParent>,
) -> Result<SubflowRun, SubflowError> {
    if !reporter.flush(FLUSH).await {
        tracing::warn!("the subflow's task run may not have reached the server yet");
    }
    let request = pb::CreateSubflowRunRequest {
        parent_flow_run_id: parent_flow_run_id.to_owned(),
        parent_task_run_id: parent_task_run_id.to_owned(),
        flow: flow.to_owned(),
        parameters_json: parameters.to_string(),
        traceparent: traceparent.map(|t| t.to_string()).unwrap_or_default(),
    };
    let client = reporter.api().flow_runs();
    let reply = call("creating the subflow run", || {
        let (mut client, request) = (client.clone(), request.clone());
        async move { orch_client::attempt(client.create_subflow_run(request)).await }
    })
    .await?;
    let run = reply.run.unwrap_or_default();
    let reporter = match reply.api_key.as_str() {
        "" => reporter.clone(),
        key => reporter
            .for_run(key)
            .map_err(|error| SubflowError::Server(error.to_string()))?,
    };
    Ok(SubflowRun {
        traceparent: TraceParent::parse(&reply.traceparent).ok(),
        flow_run_id: run.id,
        name: run.name,
        reporter,
    })
}

/// Reports that subflow run `flow_run_id` entered state `kind` (named
/// `name`, the type's name when empty), after its queued reports are stored.
///
/// # Errors
///
/// [`SubflowError`] when the server refuses the state or cannot be reached.
pub async fn report_state(
    reporter: &Reporter,
    flow_run_id: &str,
    kind: StateType,
    name: &str,
    message: &str,
) -> Result<(), SubflowError> {
    if !reporter.flush(FLUSH).await {
        tracing::warn!("some reports of the subflow run may not have reached the server");
    }
    let request = pb::SetFlowRunStateRequest {
        flow_run_id: flow_run_id.to_owned(),
        state: Some(pb::State {
            r#type: orch_proto::state::state_type_value(kind),
            name: name.to_owned(),
            message: message.to_owned(),
            timestamp_micros: 0,
        }),
        transition_id: uuid::Uuid::new_v4().to_string(),
        ..Default::default()
    };
    let client = reporter.api().flow_runs();
    let reply = call("reporting the subflow run's state", || {
        let (mut client, request) = (client.clone(), request.clone());
        async move { orch_client::attempt(client.set_flow_run_state(request)).await }
    })
    .await?;
    if reply.outcome == pb::TransitionOutcome::Rejected as i32 {
        return Err(SubflowError::Refused(reply.reason));
    }
    Ok(())
}

/// `attempt` retried while the server is unreachable, for [`CALL_DEADLINE`].
async fn call<T, F, Fut>(what: &str, attempt: F) -> Result<T, SubflowError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, tonic::Status>>,
{
    match tokio::time::timeout(CALL_DEADLINE, orch_client::retry(what, attempt)).await {
        Ok(Ok(reply)) => Ok(reply),
        Ok(Err(status)) => Err(SubflowError::Refused(status.message().to_owned())),
        Err(_) => Err(SubflowError::Server(format!(
            "no answer within {}s",
            CALL_DEADLINE.as_secs()
        ))),
    }
}

impl FlowContext {
    /// Runs another flow function in this process as a subflow: a flow run
    /// of its own (see the [module docs](self)), linked to this run. Its
    /// error is this call's error.
    pub async fn subflow<F, Fut, R>(&self, name: &str, flow: F) -> anyhow::Result<R>
    where
        F: FnOnce(FlowContext) -> Fut,
        Fut: Future<Output = anyhow::Result<R>>,
    {
        self.subflow_with(name, &Map::new(), flow).await
    }

    /// [`FlowContext::subflow`], recording `parameters` as the subflow
    /// run's (pass them on to the flow in the closure).
    pub async fn subflow_with<P, F, Fut, R>(
        &self,
        name: &str,
        parameters: &P,
        flow: F,
    ) -> anyhow::Result<R>
    where
        P: Serialize + ?Sized,
        F: FnOnce(FlowContext) -> Fut,
        Fut: Future<Output = anyhow::Result<R>>,
    {
        let parameters = serde_json::to_value(parameters)
            .map_err(|error| anyhow::anyhow!("subflow {name}: unusable parameters: {error}"))?;
        let Some(reporter) = self.reporter() else {
            let id = format!("local-{}", uuid::Uuid::new_v4());
            tracing::info!(subflow = name, run = %id, "subflow started");
            let child = self.child(id, name.to_owned(), None, self.trace_context().clone());
            return flow(child).await;
        };
        let wrapper = Call::begin(self, reporter, name);
        let started = start(
            reporter,
            self.flow_run_id(),
            wrapper.record.id(),
            name,
            &parameters,
            wrapper.traceparent(self),
        )
        .await;
        let run = match started {
            Ok(run) => run,
            Err(error) => {
                let error = anyhow::Error::new(error).context(format!("subflow {name}"));
                wrapper.end(reporter, StateType::Failed, &format!("{error:#}"));
                return Err(error);
            }
        };
        tracing::debug!(subflow = name, run = %run.flow_run_id, "subflow run started");
        let trace = run
            .traceparent
            .map_or_else(|| self.trace_context().clone(), |t| trace::run_context(&t));
        let child = self.child(
            run.flow_run_id.clone(),
            name.to_owned(),
            Some(run.reporter.clone()),
            trace,
        );
        let body = AssertUnwindSafe(flow(child.clone())).catch_unwind();
        let body = CURRENT_TASK.scope(wrapper.scope.clone(), body);
        let outcome = match child.logs() {
            Some(logs) => {
                let span = crate::logging::subflow_span(logs);
                CURRENT_SUBFLOW
                    .scope(logs.clone(), body.instrument(span))
                    .await
            }
            None => body.await,
        };
        let (state, message) = match &outcome {
            Ok(Ok(_)) => (StateType::Completed, String::new()),
            Ok(Err(_)) if child.is_cancelled() => {
                (StateType::Cancelled, "the flow run was cancelled".into())
            }
            Ok(Err(error)) => (StateType::Failed, format!("{error:#}")),
            Err(panic) => (
                StateType::Crashed,
                format!("panicked: {}", panic_message(panic.as_ref())),
            ),
        };
        if let Err(error) = report_state(&run.reporter, &run.flow_run_id, state, "", &message).await
        {
            tracing::warn!(subflow = name, run = %run.flow_run_id, "{error}");
        }
        wrapper.end(reporter, state, &message);
        match outcome {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

/// The wrapper task run standing for one subflow call in its parent.
struct Call {
    record: TaskRecord,
    scope: std::sync::Arc<TaskScope>,
    span: Option<trace::AttemptSpan>,
}

impl Call {
    /// Reports the wrapper Pending, then Running, with its span.
    fn begin(parent: &FlowContext, reporter: &Reporter, name: &str) -> Call {
        let (mut record, created) = TaskRecord::new(parent.flow_run_id(), name, &[], 0);
        reporter.task(created);
        reporter.task(record.enter(StateType::Running, "Running", ""));
        let span = trace::attempt(parent.trace_context(), name, record.id(), 1);
        let scope = TaskScope::new(record.id().to_owned(), parent.flow_run_id().to_owned(), []);
        Call {
            record,
            scope,
            span,
        }
    }

    /// The span the subflow run's span is a child of: the wrapper's, or
    /// without traces exported here, the parent run's.
    fn traceparent(&self, parent: &FlowContext) -> Option<TraceParent> {
        match &self.span {
            Some(span) => Some(span.traceparent()),
            None => trace::traceparent_of(parent.trace_context()),
        }
    }

    /// Reports the wrapper in the subflow run's final state and ends its span.
    fn end(mut self, reporter: &Reporter, state: StateType, message: &str) {
        self.record.set_upstream(self.scope.upstream_ids());
        if matches!(state, StateType::Failed | StateType::Crashed) {
            self.record.set_error(message.to_owned());
        }
        let kind = if state == StateType::Crashed {
            StateType::Failed
        } else {
            state
        };
        reporter.task(self.record.enter(kind, kind.display_name(), message));
        if let Some(span) = self.span {
            let error = matches!(kind, StateType::Failed).then_some(message);
            span.end(kind.display_name(), error);
        }
    }
}
