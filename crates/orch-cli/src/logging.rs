//! Diagnostics on stderr through `tracing`, filtered by `ORCH_LOG` (RUST_LOG syntax).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// The variable holding the log filter, e.g. `ORCH_LOG=debug` or `ORCH_LOG=orch_worker=debug`.
pub const ENV_LOG: &str = "ORCH_LOG";

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

/// Installs the stderr subscriber.
pub fn init(verbosity: Verbosity, format: LogFormat) {
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
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    match (format, verbosity) {
        (LogFormat::Json, _) => builder
            .json()
            .with_ansi(false)
            .flatten_event(true)
            .with_current_span(false)
            .init(),
        (LogFormat::Text, Verbosity::LongRunning) => builder.init(),
        (LogFormat::Text, Verbosity::Client) => builder.without_time().with_target(false).init(),
    }
    if let (Some(error), Some(value)) = (rejected, configured) {
        tracing::warn!("ignoring {ENV_LOG}={value:?} ({error}); logging at {default}");
    }
}
