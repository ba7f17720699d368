//! Custom events: `ctx.emit("no-data", json!({"symbol": "AAPL"})).await?`
//! records an event of the run on the server, where automations with an
//! `event` trigger of that name fire on it (docs/automations.md).
//! Standalone (no server), the event is logged.

use std::time::Duration;

use orch_proto::v1 as pb;
use serde_json::Value;

use crate::context::FlowContext;

/// Why an event was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum EmitError {
    /// The server refused it (an empty or too long name, a payload too large).
    #[error("invalid event: {0}")]
    Invalid(String),
    /// The server could not be reached or failed.
    #[error("cannot record the event: {0}")]
    Server(String),
}

/// Calls `call` until it is answered, retrying a few times (200 ms, 400 ms,
/// ...) while the server is unreachable.
pub(crate) async fn with_retries<T, F, Fut>(mut call: F) -> Result<T, tonic::Status>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match call().await {
            Ok(reply) => return Ok(reply.into_inner()),
            Err(status)
                if attempt < 5
                    && matches!(
                        status.code(),
                        tonic::Code::Unavailable | tonic::Code::Unknown
                    ) =>
            {
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
            }
            Err(status) => return Err(status),
        }
    }
}

impl FlowContext {
    /// Records the custom event `name` of this run with a JSON `payload`;
    /// automations whose trigger is `{ type = "event", name = NAME }` fire
    /// on it. Retried a few times while the server is unreachable.
    ///
    /// # Errors
    ///
    /// [`EmitError`] when the server refuses or cannot record it.
    pub async fn emit(&self, name: &str, payload: Value) -> Result<(), EmitError> {
        if name.is_empty() {
            return Err(EmitError::Invalid(
                "an event needs a name, e.g. \"no-data\"".into(),
            ));
        }
        let Some(reporter) = self.reporter() else {
            tracing::info!(event = %name, "{payload}");
            return Ok(());
        };
        send(reporter, self.flow_run_id(), name, &payload).await
    }
}

/// Records the event `name` of run `flow_run_id` on the server.
pub(crate) async fn send(
    reporter: &crate::reporter::Reporter,
    flow_run_id: &str,
    name: &str,
    payload: &Value,
) -> Result<(), EmitError> {
    let request = pb::EmitEventRequest {
        flow_run_id: flow_run_id.to_owned(),
        name: name.to_owned(),
        payload_json: payload.to_string(),
    };
    let client = reporter.api().automations();
    let reply = with_retries(|| {
        let (mut client, request) = (client.clone(), request.clone());
        async move { client.emit_event(request).await }
    })
    .await;
    match reply {
        Ok(_) => Ok(()),
        Err(status) if status.code() == tonic::Code::InvalidArgument => {
            Err(EmitError::Invalid(status.message().to_owned()))
        }
        Err(status) => Err(EmitError::Server(status.message().to_owned())),
    }
}
