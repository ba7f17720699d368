//! One tokio runtime per process for every client, and the guard against
//! using it in a child after `fork()`.

use std::sync::OnceLock;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

/// The runtime and the process that made it.
struct Shared {
    runtime: tokio::runtime::Runtime,
    pid: u32,
}

static RUNTIME: OnceLock<Shared> = OnceLock::new();

/// The process's runtime (two worker threads: the shipper and network calls
/// need little), made on first use.
///
/// # Errors
///
/// RuntimeError in a child process forked after the runtime was made: its
/// threads did not survive the fork, and waiting on them would hang.
pub(crate) fn get() -> PyResult<&'static tokio::runtime::Runtime> {
    let shared = RUNTIME.get_or_init(|| Shared {
        runtime: tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("orch-sdk")
            .enable_all()
            .build()
            .expect("a tokio runtime"),
        pid: std::process::id(),
    });
    check_pid(shared.pid)?;
    Ok(&shared.runtime)
}

/// RuntimeError unless this is process `pid`.
pub(crate) fn check_pid(pid: u32) -> PyResult<()> {
    if std::process::id() == pid {
        return Ok(());
    }
    Err(PyRuntimeError::new_err(format!(
        "this orch client was created in process {pid} and cannot be used in process {} \
         after fork(): its background threads do not exist here. Run orch flows and tasks \
         in the parent, or start child processes with multiprocessing's \"spawn\" method",
        std::process::id()
    )))
}
