//! Diagnostics on stderr through `tracing`, filtered by `ORCH_LOG` (RUST_LOG syntax).

use std::io::IsTerminal;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// The variable holding the log filter, e.g. `ORCH_LOG=debug` or `ORCH_LOG=orch_worker=debug`.
pub const ENV_LOG: &str = orch_core::env_vars::LOG;

/// How much a command logs when `ORCH_LOG` is unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    /// `info`: servers and workers say what they do.
    LongRunning,
    /// `warn`: client commands keep stderr for problems.
    Client,
}

/// How diagnostics are written (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (timestamp, level, target, fields), for log shippers.
    Json,
}

/// Installs the stderr subscriber; with `telemetry`, also the layer
/// exporting the worker's run spans (see `orch_worker`'s `trace`). JSON lines
/// written inside a run's span carry it as `span` (with `trace_id` and
/// `span_id`).
pub fn init(
    verbosity: Verbosity,
    format: LogFormat,
    telemetry: Option<&orch_telemetry::Telemetry>,
) {
    let default = match verbosity {
        Verbosity::LongRunning => "info",
        Verbosity::Client => "warn",
    };
    let configured = std::env::var(ENV_LOG)
        .ok()
        .filter(|value| !value.trim().is_empty());
    let (filter, rejected) = match configured.as_deref().map(EnvFilter::try_new) {
        None => (EnvFilter::new(default), None),
        Some(Ok(filter)) => (filter, None),
        Some(Err(error)) => (EnvFilter::new(default), Some(error)),
    };
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let fmt: Box<dyn Layer<Registry> + Send + Sync> = match (format, verbosity) {
        (LogFormat::Json, _) => fmt
            .json()
            .with_ansi(false)
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
        (LogFormat::Text, Verbosity::LongRunning) => fmt.boxed(),
        (LogFormat::Text, Verbosity::Client) => fmt.without_time().with_target(false).boxed(),
    };
    // Only the run spans are exported, whatever ORCH_LOG says.
    let spans = telemetry.map(|telemetry| {
        tracing_opentelemetry::layer()
            .with_tracer(telemetry.tracer("orch-worker"))
            .with_filter(
                Targets::new()
                    .with_target("orch_worker::run", LevelFilter::INFO)
                    .with_default(LevelFilter::OFF),
            )
    });
    tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        .with(spans)
        .init();
    if let (Some(error), Some(value)) = (rejected, configured) {
        tracing::warn!("ignoring {ENV_LOG}={value:?} ({error}); logging at {default}");
    }
}
