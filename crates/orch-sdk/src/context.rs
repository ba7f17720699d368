//! The handle a flow gets: starts tasks and subflows, knows its run.

use std::future::Future;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::logging::{CURRENT_SUBFLOW, LogWriter};
use crate::output::CURRENT_TASK;
use crate::reporter::Reporter;
use crate::task::TaskBuilder;

/// A running flow (or subflow). Cheap to clone; pass it to helpers that start tasks.
#[derive(Debug, Clone)]
pub struct FlowContext {
    inner: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    flow_run_id: String,
    flow: String,
    reporter: Option<Reporter>,
    cancel: CancellationToken,
    /// The run's span: the parent of its task spans.
    trace: opentelemetry::Context,
    /// A subflow run's own log writer (a top-level run's lines go through
    /// the process's `tracing` layer to its run).
    logs: Option<Arc<LogWriter>>,
}

impl FlowContext {
    /// The context of the top-level run this process executes.
    pub(crate) fn new(
        flow_run_id: String,
        flow: String,
        reporter: Option<Reporter>,
        cancel: CancellationToken,
    ) -> FlowContext {
        FlowContext {
            inner: Arc::new(Shared {
                flow_run_id,
                flow,
                reporter,
                cancel,
                trace: crate::trace::process_run().clone(),
                logs: None,
            }),
        }
    }

    /// The context of a subflow run of this one.
    pub(crate) fn child(
        &self,
        flow_run_id: String,
        flow: String,
        reporter: Option<Reporter>,
        trace: opentelemetry::Context,
    ) -> FlowContext {
        let logs = reporter
            .as_ref()
            .map(|reporter| Arc::new(LogWriter::new(reporter.clone(), flow_run_id.clone())));
        FlowContext {
            inner: Arc::new(Shared {
                flow_run_id,
                flow,
                reporter,
                cancel: self.inner.cancel.child_token(),
                trace,
                logs,
            }),
        }
    }

    /// Spawns `future` on the runtime as work of this run: its log lines go
    /// to this run (a subflow's to the subflow run, not its parent's) and,
    /// spawned inside a task, are tagged with that task run.
    ///
    /// A plain `tokio::spawn` loses the task (tokio's task-locals do not
    /// follow it); `tokio::spawn(work.in_current_span())` (or
    /// `.instrument(span)`, `tracing::Instrument`) keeps the subflow run,
    /// as does a thread that enters a span created in the subflow's code.
    pub fn spawn<F>(&self, future: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let future = future.in_current_span();
        let task = CURRENT_TASK.try_with(Arc::clone).ok();
        let logs = self.logs().cloned();
        tokio::spawn(async move {
            let future = async move {
                match task {
                    Some(task) => CURRENT_TASK.scope(task, future).await,
                    None => future.await,
                }
            };
            match logs {
                Some(logs) => CURRENT_SUBFLOW.scope(logs, future).await,
                None => future.await,
            }
        })
    }

    /// A task of this flow; configure it, then `.run(..)` it.
    pub fn task(&self, name: &str) -> TaskBuilder {
        TaskBuilder::new(self.clone(), name.to_string())
    }

    /// The flow run's id (`local-...` when standalone).
    pub fn flow_run_id(&self) -> &str {
        &self.inner.flow_run_id
    }

    /// The flow's name.
    pub fn flow_name(&self) -> &str {
        &self.inner.flow
    }

    /// Whether the run has been cancelled (or timed out); long loops should stop.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancel.is_cancelled()
    }

    /// Resolves when the run is cancelled.
    pub async fn cancelled(&self) {
        self.inner.cancel.cancelled().await
    }

    pub(crate) fn cancel_token(&self) -> &CancellationToken {
        &self.inner.cancel
    }

    pub(crate) fn reporter(&self) -> Option<&Reporter> {
        self.inner.reporter.as_ref()
    }

    pub(crate) fn trace_context(&self) -> &opentelemetry::Context {
        &self.inner.trace
    }

    /// A subflow run's own log writer.
    pub(crate) fn logs(&self) -> Option<&Arc<LogWriter>> {
        self.inner.logs.as_ref()
    }
}
