//! Database reads for long-lived streams (`WatchFlowRun`, server-sent events).
//!
//! A stream is polled only while its client has room for more: tonic and
//! axum stop polling a response body whose HTTP/2 window is full. A read
//! awaited inside the stream would then sit with its pooled connection, so
//! four clients that stop reading could hold every read connection of the
//! server. Each read here runs on a task of its own: it finishes, and gives
//! its connection back, whether or not its stream is polled again.

use std::future::Future;

/// Runs `read` to completion on its own task and returns its output.
pub(crate) async fn detached<T: Send + 'static>(
    read: impl Future<Output = T> + Send + 'static,
) -> T {
    match tokio::spawn(read).await {
        Ok(output) => output,
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Err(error) => panic!("a detached database read was cancelled: {error}"),
    }
}

/// [`orch_store::Logs::read_logs`], detached.
pub(crate) async fn read_logs(
    store: &orch_store::Store,
    run_id: &str,
    after_id: i64,
    limit: u32,
) -> orch_store::Result<Vec<orch_store::LogLine>> {
    let (store, run_id) = (store.clone(), run_id.to_owned());
    detached(async move { store.logs().read_logs(&run_id, after_id, limit).await }).await
}

/// [`orch_store::FlowRuns::flow_run`], detached.
pub(crate) async fn flow_run(
    store: &orch_store::Store,
    run_id: &str,
) -> orch_store::Result<orch_store::FlowRun> {
    let (store, run_id) = (store.clone(), run_id.to_owned());
    detached(async move { store.flow_runs().flow_run(&run_id).await }).await
}
