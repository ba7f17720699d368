//! The flow's connection to the server: task run states and log lines go
//! through orch-client's shipper, in the background, so reporting never sits
//! on a task's critical path; slots and artifacts are calls on the same
//! connection.

use std::time::Duration;

use orch_client::{Api, ClientOptions, ConnectError, Report, Shipper, ShipperOptions};
use orch_proto::v1 as pb;

/// Handle on the connection and the shipper; cheap to clone.
///
/// Public through [`crate::embed`] for SDKs in other languages built on this one.
#[derive(Debug, Clone)]
pub struct Reporter {
    api: Api,
    shipper: Shipper,
}

impl Reporter {
    /// Starts reporting to the server at `api_url` (connecting on first use).
    /// Must be called inside a tokio runtime: the shipper is a task of it.
    ///
    /// # Errors
    ///
    /// The URL, API key (`ORCH_API_KEY`) or CA file (`ORCH_TLS_CA`) is unusable.
    pub fn start(api_url: &str) -> Result<Reporter, ConnectError> {
        let api = Api::connect_lazy(&ClientOptions::new(api_url))?;
        let (shipper, _task) = Shipper::start(&api, ShipperOptions::default());
        Ok(Reporter { api, shipper })
    }

    /// A reporter for another run on the same connection, sending `api_key`
    /// (that run's own credential) with a shipper of its own: a subflow
    /// run's reports go with its credential, not its parent's.
    ///
    /// # Errors
    ///
    /// The key cannot be sent in a request header.
    pub fn for_run(&self, api_key: &str) -> Result<Reporter, ConnectError> {
        let api = self.api.with_api_key(api_key)?;
        let (shipper, _task) = Shipper::start(&api, ShipperOptions::default());
        Ok(Reporter { api, shipper })
    }

    /// The connection, for calls that are not reports.
    pub fn api(&self) -> &Api {
        &self.api
    }

    /// Queues a task run snapshot (always admitted: states are never dropped).
    pub fn task(&self, snapshot: pb::TaskRun) {
        let _ = self.shipper.try_send(Report::TaskRun(snapshot));
    }

    /// Queues a log line. When the queue is full (the server has been
    /// unreachable for a while), the line goes to stderr instead, which the
    /// worker ships as the run's output: it is delayed, never lost.
    pub fn log(&self, line: pb::LogLine) {
        if let Err(Report::Log(line)) = self.shipper.try_send(Report::Log(line)) {
            eprintln!("{} {}", line.level, line.message);
        }
    }

    /// Sends everything queued so far; false if it could not within `within`.
    pub async fn flush(&self, within: Duration) -> bool {
        tokio::time::timeout(within, self.shipper.flush())
            .await
            .is_ok()
    }
}
