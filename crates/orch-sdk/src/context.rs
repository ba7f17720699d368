//! The handle a flow gets: starts tasks and subflows, knows its run.

use std::future::Future;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::reporter::Reporter;
use crate::task::TaskBuilder;

/// A running flow. Cheap to clone; pass it to helpers that start tasks.
#[derive(Debug, Clone)]
pub struct FlowContext {
    inner: Arc<Shared>,
    /// "subflow/" prefixes of the tasks started through this context.
    prefix: String,
}

#[derive(Debug)]
struct Shared {
    flow_run_id: String,
    flow: String,
    reporter: Option<Reporter>,
    cancel: CancellationToken,
}

impl FlowContext {
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
            }),
            prefix: String::new(),
        }
    }

    /// A task of this flow; configure it, then `.run(..)` it.
    pub fn task(&self, name: &str) -> TaskBuilder {
        TaskBuilder::new(self.clone(), format!("{}{name}", self.prefix))
    }

    /// Runs another flow function in this process as a subflow: its tasks are
    /// recorded under this flow run, named `NAME/task`.
    pub async fn subflow<F, Fut, R>(&self, name: &str, flow: F) -> anyhow::Result<R>
    where
        F: FnOnce(FlowContext) -> Fut,
        Fut: Future<Output = anyhow::Result<R>>,
    {
        let child = FlowContext {
            inner: self.inner.clone(),
            prefix: format!("{}{name}/", self.prefix),
        };
        tracing::debug!(subflow = name, "subflow started");
        flow(child).await
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
}
