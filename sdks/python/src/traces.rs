//! Task spans of Python flows: the Rust SDK's exporter, started once per
//! process when the worker passed a collector's address
//! (`OTEL_EXPORTER_OTLP_ENDPOINT`...); without it nothing is built and no
//! exporter thread runs. Spans are parented on the run's span
//! (`TRACEPARENT`), as the Rust SDK's.

use std::sync::OnceLock;

use orch_sdk::embed::{self, Telemetry};

static TELEMETRY: OnceLock<Option<Telemetry>> = OnceLock::new();

/// Starts the exporter if the environment names a collector (once; inside
/// `runtime`, which the gRPC exporter needs).
pub(crate) fn start(runtime: &tokio::runtime::Runtime) {
    TELEMETRY.get_or_init(|| {
        let _entered = runtime.enter();
        embed::start_traces().unwrap_or_else(|message| {
            eprintln!("orch: no task spans: {message}");
            None
        })
    });
}

/// Exports the spans ended so far (the process may end with `os._exit`).
pub(crate) fn flush() {
    if let Some(Some(telemetry)) = TELEMETRY.get() {
        telemetry.flush();
    }
}
