//! `TaskRun`: a task run's record, its reported states and its slots.

use std::str::FromStr;

use orch_sdk::embed::{
    self, Acquired, AttemptSpan, Reporter, SlotLease, StateType, TaskRecord, TraceContext,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use tokio_util::sync::CancellationToken;

use crate::client::Client;

/// One task run: each state it enters is queued to the server (when there
/// is a client) with its history, attempt, error, result, upstream ids and
/// CPU time, as the Rust SDK reports its own task runs. While traces are
/// exported, each attempt (Running / Retrying until the next state) is a
/// span `task NAME`, a child of the run's span.
#[pyclass(module = "orch._native")]
pub struct TaskRun {
    record: TaskRecord,
    id: String,
    name: String,
    tags: Vec<String>,
    attempt: u32,
    server: Option<Server>,
    lease: Option<SlotLease>,
    /// The run's span, parent of the attempts' spans (with a client).
    trace: Option<TraceContext>,
    /// The span of the attempt running now.
    span: Option<AttemptSpan>,
}

/// What a task run of an orchestrated flow reports through.
struct Server {
    reporter: Reporter,
    flow_run_id: String,
    cancel: CancellationToken,
    runtime: &'static tokio::runtime::Runtime,
}

#[pymethods]
impl TaskRun {
    /// A new task run, Pending (reported at once through `client`; without
    /// one, the record is kept locally).
    #[new]
    #[pyo3(signature = (flow_run_id, name, tags, max_retries, client=None))]
    fn new(
        flow_run_id: &str,
        name: &str,
        tags: Vec<String>,
        max_retries: u32,
        client: Option<PyRef<'_, Client>>,
    ) -> PyResult<Self> {
        let (record, created) = TaskRecord::new(flow_run_id, name, &tags, max_retries);
        let trace = client.as_ref().map(|client| client.trace.clone());
        let server = match client {
            Some(client) => Some(Server {
                runtime: client.runtime()?,
                reporter: client.reporter.clone(),
                flow_run_id: client.flow_run_id.clone(),
                cancel: client.cancel.clone(),
            }),
            None => None,
        };
        if let Some(server) = &server {
            server.reporter.task(created);
        }
        Ok(TaskRun {
            id: record.id().to_owned(),
            name: name.to_owned(),
            record,
            tags,
            attempt: 1,
            server,
            lease: None,
            trace,
            span: None,
        })
    }

    /// The task run's id (a UUID).
    #[getter]
    fn id(&self) -> &str {
        &self.id
    }

    /// Enters a state: `kind` is a state type ("RUNNING", "COMPLETED",
    /// "FAILED", "SCHEDULED", "CANCELLED"...), `name` its display name
    /// ("Retrying", "AwaitingRetry"...). RUNNING starts the attempt's span;
    /// the next state ends it (an error for FAILED and AwaitingRetry).
    #[pyo3(signature = (kind, name, message=""))]
    fn enter(&mut self, kind: &str, name: &str, message: &str) -> PyResult<()> {
        let kind =
            StateType::from_str(kind).map_err(|error| PyValueError::new_err(error.to_string()))?;
        if let Some(span) = self.span.take() {
            match kind {
                StateType::Completed => span.end("Completed", None),
                StateType::Cancelled => span.end("Cancelled", None),
                _ => span.end("Failed", Some(message)),
            }
        }
        if kind == StateType::Running
            && let Some(trace) = &self.trace
        {
            self.span = embed::attempt_span(trace, &self.name, &self.id, self.attempt);
        }
        let snapshot = self.record.enter(kind, name, message);
        if let Some(server) = &self.server {
            server.reporter.task(snapshot);
        }
        Ok(())
    }

    /// The attempt the next states belong to (1-based).
    fn set_attempt(&mut self, attempt: u32) {
        self.attempt = attempt;
        self.record.set_attempt(attempt);
    }

    /// Adds the CPU time an attempt spent (seconds, e.g. from
    /// `time.thread_time()`) to the task run's sum, reported with the next
    /// state, and to the attempt's span (`orch.task_run.cpu_seconds`).
    fn add_cpu_seconds(&mut self, seconds: f64) {
        if !seconds.is_finite() {
            return;
        }
        let micros = (seconds.max(0.0) * 1e6).round() as i64;
        self.record.add_cpu_micros(micros);
        if let Some(span) = &mut self.span {
            span.set_cpu_micros(Some(micros));
        }
    }

    /// The `traceparent` of the attempt's span while it runs (None while
    /// traces are not exported): a subflow run called by it is its child.
    #[getter]
    fn traceparent(&self) -> Option<String> {
        self.span
            .as_ref()
            .map(|span| span.traceparent().to_string())
    }

    /// The error (message and traceback) shown for the failed task run.
    fn set_error(&mut self, error: String) {
        self.record.set_error(error);
    }

    /// The task's result as JSON text (keep it under MAX_RESULT_BYTES).
    fn set_result_json(&mut self, result_json: String) {
        self.record.set_result(result_json);
    }

    /// The task runs whose outputs this one consumed: the graph's edges.
    fn set_upstream(&mut self, upstream_ids: Vec<String>) {
        self.record.set_upstream(upstream_ids);
    }

    /// Takes a slot of each of the task's limited tags, waiting (GIL
    /// released, state AwaitingConcurrencySlot) as long as it takes. True
    /// when held (or nothing to take), False when the run was cancelled meanwhile.
    fn take_slots(&mut self, py: Python<'_>) -> bool {
        let Some(server) = &self.server else {
            return true;
        };
        if self.tags.is_empty() {
            return true;
        }
        let record = &mut self.record;
        let (tags, id) = (&self.tags, &self.id);
        let acquired = py.detach(|| {
            server.runtime.block_on(embed::acquire_slots(
                server.reporter.api(),
                tags,
                id,
                &server.flow_run_id,
                &server.cancel,
                |full| {
                    let note = format!(
                        "waiting for a concurrency slot of tag(s) {}",
                        full.join(", ")
                    );
                    server.reporter.task(record.enter(
                        StateType::Scheduled,
                        orch_core::names::AWAITING_CONCURRENCY_SLOT,
                        &note,
                    ));
                },
            ))
        });
        match acquired {
            Acquired::Held(lease) => {
                self.lease = Some(*lease);
                true
            }
            Acquired::Cancelled => false,
        }
    }

    /// Gives back the slots taken by `take_slots`, if any.
    fn release_slots(&mut self, py: Python<'_>) {
        if let (Some(lease), Some(server)) = (self.lease.take(), &self.server) {
            py.detach(|| server.runtime.block_on(lease.release()));
        }
    }
}
