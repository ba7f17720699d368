//! orch's server: gRPC, JSON API and dashboard on one port; owns state and schedules.

use std::time::Duration;

/// How the server is started.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Interface to bind, e.g. `127.0.0.1`.
    pub host: String,
    /// Port to bind; 0 picks a free one (the bound address is printed).
    pub port: u16,
    /// `sqlite://path/orch.db` or `postgres://...`.
    pub database_url: String,
    /// A Scheduled run not started this long after its expected start is Late.
    pub late_after: Duration,
    /// A worker silent for this long is offline and its runs' leases expire.
    pub worker_lease: Duration,
}

/// Errors that stop the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}. Is another server running? Pick another port with --port or ORCH_PORT")]
    Bind {
        /// The address.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// Runs the server until `shutdown` resolves. Prints `orch server listening on http://HOST:PORT`
/// to stdout once it accepts connections.
pub async fn serve(
    config: ServerConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let _ = (config, shutdown);
    Ok(())
}
