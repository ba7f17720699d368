//! `orch._native`: the Rust half of the orch Python SDK.
//!
//! The pure-Python layer (`python/orch/`) holds the decorators, futures and
//! logging; everything that talks to the server is here, over the Rust SDK's
//! machinery (`orch_sdk::embed`) so that the flow protocol is implemented
//! once: [`Client`] (the connection, the batching shipper of task states and
//! log lines, artifacts, events) and [`TaskRun`] (a task run's record and
//! state history, its concurrency slots, its attempts' spans and CPU time).
//! Calls that wait on the network
//! release the GIL. A client is bound to the process that made it: used in
//! a child after `fork()` it raises, instead of hanging on a runtime whose
//! threads the child does not have.

mod client;
mod runtime;
mod task_run;
mod traces;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

pub use client::Client;
pub use task_run::TaskRun;

/// The run's parameters as the worker passes them (`ORCH_PARAMETERS`, or
/// the file `ORCH_PARAMETERS_FILE` names), as JSON text of an object.
#[pyfunction]
fn parameters_from_env() -> PyResult<String> {
    orch_sdk::embed::parameters_from_env()
        .map(|value| value.to_string())
        .map_err(PyValueError::new_err)
}

/// `--params JSON` and `--param KEY=VALUE` arguments merged into one JSON
/// object, with the CLI's rules (a value that parses as JSON is JSON, else a string).
#[pyfunction]
#[pyo3(signature = (params_json, params))]
fn build_overrides(params_json: Option<&str>, params: Vec<String>) -> PyResult<String> {
    orch_core::build_overrides(params_json, &params)
        .map(|map| serde_json::Value::Object(map).to_string())
        .map_err(|error| PyValueError::new_err(error.to_string()))
}

/// Raises RuntimeError when the worker (`ORCH_PROTOCOL`) speaks a newer flow
/// protocol than this SDK.
#[pyfunction]
fn check_protocol() -> PyResult<()> {
    let value = std::env::var(orch_client::flow_env::PROTOCOL).ok();
    orch_client::flow_env::check_protocol(value.as_deref(), "Python SDK (orch)")
        .map_err(PyRuntimeError::new_err)
}

/// Checks an artifact with the server's rules; raises ValueError with its message.
#[pyfunction]
fn check_artifact(key: &str, kind: &str, description: &str, data_json: &str) -> PyResult<()> {
    let data: serde_json::Value = serde_json::from_str(data_json)
        .map_err(|error| PyValueError::new_err(error.to_string()))?;
    orch_sdk::embed::check_artifact(key, kind, description, &data)
        .map(|_| ())
        .map_err(|error| PyValueError::new_err(error.to_string()))
}

/// The native module.
#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<Client>()?;
    module.add_class::<TaskRun>()?;
    module.add_function(wrap_pyfunction!(parameters_from_env, module)?)?;
    module.add_function(wrap_pyfunction!(build_overrides, module)?)?;
    module.add_function(wrap_pyfunction!(check_protocol, module)?)?;
    module.add_function(wrap_pyfunction!(check_artifact, module)?)?;
    module.add("PROTOCOL_VERSION", orch_client::flow_env::PROTOCOL_VERSION)?;
    module.add("MAX_RESULT_BYTES", orch_sdk::embed::MAX_RESULT_BYTES)?;
    module.add("VERSION", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
