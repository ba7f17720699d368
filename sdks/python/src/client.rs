//! `Client`: one flow run's connection to the server.

use std::time::Duration;

use orch_sdk::embed::{self, LogWriter, Reporter};
use orch_sdk::{ArtifactError, EmitError};
use pyo3::exceptions::{PyConnectionError, PyValueError};
use pyo3::prelude::*;
use tokio_util::sync::CancellationToken;

use crate::runtime;

/// The connection of one flow run: task states and log lines are queued to
/// a background shipper (batched, bounded, retried while the server is
/// unreachable); artifacts and events are calls made with the GIL released.
#[pyclass(module = "orch._native", frozen)]
pub struct Client {
    pub(crate) reporter: Reporter,
    writer: LogWriter,
    pub(crate) flow_run_id: String,
    pub(crate) cancel: CancellationToken,
    pid: u32,
}

impl Client {
    /// The runtime, after checking this is the process that made the client.
    pub(crate) fn runtime(&self) -> PyResult<&'static tokio::runtime::Runtime> {
        runtime::check_pid(self.pid)?;
        runtime::get()
    }
}

#[pymethods]
impl Client {
    /// Connects (lazily) to the server at `api_url` for run `flow_run_id`,
    /// with the credential and CA of `ORCH_API_KEY` / `ORCH_TLS_CA`.
    #[new]
    fn new(api_url: &str, flow_run_id: String) -> PyResult<Self> {
        let runtime = runtime::get()?;
        let _entered = runtime.enter();
        let reporter = Reporter::start(api_url).map_err(|error| {
            PyValueError::new_err(format!("ORCH_API_URL {api_url:?} is not usable: {error}"))
        })?;
        Ok(Client {
            writer: LogWriter::new(reporter.clone(), flow_run_id.clone()),
            reporter,
            flow_run_id,
            cancel: CancellationToken::new(),
            pid: std::process::id(),
        })
    }

    /// The flow run this client reports for.
    #[getter]
    fn flow_run_id(&self) -> &str {
        &self.flow_run_id
    }

    /// Queues a log line at `level` ("DEBUG", "INFO", "WARN", "ERROR"), of
    /// the task run `task_run_id` when given. Never blocks.
    #[pyo3(signature = (level, message, task_run_id=None))]
    fn log(&self, level: &str, message: &str, task_run_id: Option<String>) -> PyResult<()> {
        runtime::check_pid(self.pid)?;
        self.writer
            .write(level, message, task_run_id.unwrap_or_default());
        Ok(())
    }

    /// Waits (GIL released) until everything queued so far is stored;
    /// False if that took longer than `timeout_seconds`.
    fn flush(&self, py: Python<'_>, timeout_seconds: f64) -> PyResult<bool> {
        let runtime = self.runtime()?;
        let within = Duration::from_secs_f64(timeout_seconds.max(0.0));
        Ok(py.detach(|| runtime.block_on(self.reporter.flush(within))))
    }

    /// Marks the run cancelled: waits for concurrency slots end.
    fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Whether `cancel()` was called.
    #[getter]
    fn cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Publishes an artifact (checked with the server's rules first); returns its id.
    /// Raises ValueError when refused, ConnectionError when the server cannot be reached.
    #[pyo3(signature = (key, kind, description, data_json, task_run_id=None))]
    fn create_artifact(
        &self,
        py: Python<'_>,
        key: &str,
        kind: &str,
        description: &str,
        data_json: &str,
        task_run_id: Option<String>,
    ) -> PyResult<String> {
        let runtime = self.runtime()?;
        let data: serde_json::Value = serde_json::from_str(data_json)
            .map_err(|error| PyValueError::new_err(error.to_string()))?;
        let published = py.detach(|| {
            runtime.block_on(embed::publish_artifact(
                &self.reporter,
                &self.flow_run_id,
                task_run_id,
                key,
                kind,
                description,
                &data,
            ))
        });
        match published {
            Ok(published) => Ok(published.id),
            Err(ArtifactError::Invalid(message)) => Err(PyValueError::new_err(message)),
            Err(error) => Err(PyConnectionError::new_err(error.to_string())),
        }
    }

    /// Records the custom event `name` of the run (automations with an
    /// `event` trigger of that name fire on it).
    fn emit_event(&self, py: Python<'_>, name: &str, payload_json: &str) -> PyResult<()> {
        let runtime = self.runtime()?;
        let payload: serde_json::Value = serde_json::from_str(payload_json)
            .map_err(|error| PyValueError::new_err(error.to_string()))?;
        let sent = py.detach(|| {
            runtime.block_on(embed::emit_event(
                &self.reporter,
                &self.flow_run_id,
                name,
                &payload,
            ))
        });
        match sent {
            Ok(()) => Ok(()),
            Err(EmitError::Invalid(message)) => Err(PyValueError::new_err(message)),
            Err(error) => Err(PyConnectionError::new_err(error.to_string())),
        }
    }
}
