//! `Client`: one flow run's connection to the server.

use std::time::Duration;

use std::str::FromStr;

use orch_sdk::embed::{
    self, LogWriter, Reporter, StateType, SubflowError, TraceContext, TraceParent,
};
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
    /// The run's friendly name, when known (a subflow run's).
    flow_run_name: String,
    pub(crate) cancel: CancellationToken,
    /// The run's span: the parent of its task spans.
    pub(crate) trace: TraceContext,
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
    /// with the credential and CA of `ORCH_API_KEY` / `ORCH_TLS_CA`; starts
    /// exporting task spans when the worker passed a collector's address.
    #[new]
    fn new(api_url: &str, flow_run_id: String) -> PyResult<Self> {
        let runtime = runtime::get()?;
        crate::traces::start(runtime);
        let _entered = runtime.enter();
        let reporter = Reporter::start(api_url).map_err(|error| {
            PyValueError::new_err(format!("ORCH_API_URL {api_url:?} is not usable: {error}"))
        })?;
        Ok(Client {
            writer: LogWriter::new(reporter.clone(), flow_run_id.clone()),
            reporter,
            flow_run_id,
            flow_run_name: String::new(),
            cancel: CancellationToken::new(),
            trace: embed::process_trace_context(),
            pid: std::process::id(),
        })
    }

    /// Creates a subflow run of this client's run (GIL released), called
    /// by this run's task run `parent_task_run_id` (reported and flushed
    /// first), with `parameters_json`, its span a child of `traceparent`
    /// (the calling task run's span; this run's span when None); returns
    /// the subflow run's own client, which reports with the subflow run's
    /// credential. Raises ValueError when the server refuses it,
    /// ConnectionError when it cannot be reached.
    #[pyo3(signature = (parent_task_run_id, flow, parameters_json, traceparent=None))]
    fn create_subflow(
        &self,
        py: Python<'_>,
        parent_task_run_id: &str,
        flow: &str,
        parameters_json: &str,
        traceparent: Option<&str>,
    ) -> PyResult<Client> {
        let runtime = self.runtime()?;
        let parameters: serde_json::Value = serde_json::from_str(parameters_json)
            .map_err(|error| PyValueError::new_err(error.to_string()))?;
        let traceparent = traceparent
            .and_then(|text| TraceParent::parse(text).ok())
            .or_else(|| embed::traceparent_of(&self.trace));
        let started = py.detach(|| {
            runtime.block_on(embed::start_subflow_run(
                &self.reporter,
                &self.flow_run_id,
                parent_task_run_id,
                flow,
                &parameters,
                traceparent,
            ))
        });
        let run = started.map_err(subflow_error)?;
        let trace = run
            .traceparent
            .map_or_else(|| self.trace.clone(), |t| embed::trace_context_of(&t));
        Ok(Client {
            trace,
            writer: LogWriter::new(run.reporter.clone(), run.flow_run_id.clone()),
            reporter: run.reporter,
            flow_run_id: run.flow_run_id,
            flow_run_name: run.name,
            cancel: self.cancel.child_token(),
            pid: self.pid,
        })
    }

    /// Reports this (subflow) run's state after its queued reports are
    /// stored (GIL released): `kind` a state type ("RUNNING", "COMPLETED",
    /// "FAILED", "CANCELLED", "CRASHED"), `name` its display name ("" for the
    /// type's). Raises ValueError when refused, ConnectionError when the
    /// server cannot be reached.
    #[pyo3(signature = (kind, name="", message=""))]
    fn report_state(&self, py: Python<'_>, kind: &str, name: &str, message: &str) -> PyResult<()> {
        let runtime = self.runtime()?;
        let kind =
            StateType::from_str(kind).map_err(|error| PyValueError::new_err(error.to_string()))?;
        py.detach(|| {
            runtime.block_on(embed::report_subflow_state(
                &self.reporter,
                &self.flow_run_id,
                kind,
                name,
                message,
            ))
        })
        .map_err(subflow_error)
    }

    /// The run's friendly name ("" when not known: the worker's run).
    #[getter]
    fn flow_run_name(&self) -> &str {
        &self.flow_run_name
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

    /// Waits (GIL released) until everything queued so far is stored, and
    /// the task spans ended so far are exported (when traces are on);
    /// False if storing took longer than `timeout_seconds`.
    fn flush(&self, py: Python<'_>, timeout_seconds: f64) -> PyResult<bool> {
        let runtime = self.runtime()?;
        let within = Duration::from_secs_f64(timeout_seconds.max(0.0));
        Ok(py.detach(|| {
            let stored = runtime.block_on(self.reporter.flush(within));
            crate::traces::flush();
            stored
        }))
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

/// A subflow error as a Python exception: a refusal is a ValueError, the
/// server out of reach a ConnectionError.
fn subflow_error(error: SubflowError) -> PyErr {
    match error {
        SubflowError::Refused(_) => PyValueError::new_err(error.to_string()),
        SubflowError::Server(_) => PyConnectionError::new_err(error.to_string()),
    }
}
