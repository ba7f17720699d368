//! orch's worker: serves one work pool by claiming its runs, running each
//! as its pool type says (a subprocess in its own process group, or a
//! Docker container), shipping its output as logs, and reporting how it ended.
//!
//! Work is pushed, not polled: the worker holds a `Subscribe` stream open and
//! claims as soon as the server says runs may be ready (with a slow periodic
//! claim as a fallback). Once started, the worker rides out server restarts:
//! every call is retried until it goes through, and no log line is dropped.
//!
//! ```no_run
//! # async fn example() -> Result<(), orch_worker::WorkerError> {
//! let config = orch_worker::WorkerConfig::new("http://127.0.0.1:4200", "default");
//! orch_worker::run(config, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await
//! # }
//! ```

mod adopt;
mod confine;
pub mod docker_engine;
pub mod environment;
mod error;
mod events;
pub mod guard;
pub mod isolation;
mod isolation_decide;
mod leftovers;
mod outcome;
mod output;
mod pool;
mod process;
mod program;
mod reaper;
mod registry;
pub mod run_as;
pub mod sandbox;
mod sandbox_plain;
mod sandbox_plan;
mod supervisor;
mod trace;
mod worker;

use std::future::Future;
use std::time::Duration;

use orch_core::defaults;

pub use error::WorkerError;
pub use isolation::Isolation;

/// How a worker connects, which pool it serves and how it paces itself.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// The orch server's gRPC address, e.g. `http://127.0.0.1:4200`, or
    /// the addresses of several replicas separated by commas: the worker
    /// uses one at a time and fails over to the next when it fails.
    pub api_url: String,
    /// The work pool to take runs from; it must exist.
    pub pool: String,
    /// The API key sent with every call (`authorization: Bearer <key>`), if any.
    pub api_key: Option<String>,
    /// The worker's name; by default `<hostname>-<short random>`.
    pub name: Option<String>,
    /// Most runs at once; `None` (or 0) for no limit.
    pub limit: Option<u32>,
    /// How often to tell the server the worker is alive.
    /// Default [`orch_core::defaults::HEARTBEAT_INTERVAL`].
    pub heartbeat_interval: Duration,
    /// How often to claim without being woken: the fallback for a missed
    /// push and for the time the event stream is down.
    /// Default [`orch_core::defaults::POLL_INTERVAL`].
    pub poll_interval: Duration,
    /// On cancel, how long a run's processes have between SIGTERM and
    /// SIGKILL. Default [`orch_core::defaults::KILL_GRACE`].
    pub kill_grace: Duration,
    /// On shutdown, how long running flows may take to finish before they
    /// are stopped. Default [`orch_core::defaults::SHUTDOWN_GRACE`].
    pub shutdown_grace: Duration,
    /// The worker's own folder on this host: it records the process groups
    /// of the flows it starts there, and at start kills what a previous
    /// worker that died left running (see the reliability guide). Large
    /// parameters files go there too. `None`: no records (parameters files
    /// go to the system's temporary folder).
    pub state_dir: Option<std::path::PathBuf>,
    /// The worker's own variables flows may receive besides the basics
    /// (`NAME`, or `PREFIX*`); see [`environment`].
    pub pass_env: Vec<String>,
    /// A CA certificate (PEM) to trust for an `https://` server, besides the
    /// system's; its flows receive it as `ORCH_TLS_CA`.
    pub tls_ca: Option<std::path::PathBuf>,
    /// How flows are kept from the worker's files and processes; see
    /// [`isolation`]. Default [`Isolation::None`] for an embedded worker
    /// (`orch worker start` and `orch up` ask for [`Isolation::Auto`]).
    pub isolation: Isolation,
    /// The binary with the hidden `__sandbox` and `__guard` subcommands
    /// (`orch`), which isolated flows are started through and which guards
    /// the flows (see [`guard`]). `None`: the running binary.
    pub sandbox_program: Option<std::path::PathBuf>,
    /// What isolated flows must not see besides `state_dir`: the orch home
    /// folder (credentials, secret key, database).
    pub hidden_paths: Vec<std::path::PathBuf>,
    /// The user (name or uid) flows run as, when the worker runs as root;
    /// `None`: the worker's own user. See [`run_as`].
    pub run_as: Option<String>,
    /// For `docker` pools: the server's URL as containers reach it when
    /// they are not on the host's network (e.g. its address on the Docker
    /// bridge). `None`: `api_url`, with containers on the host's network
    /// when that is a loopback address.
    pub container_api_url: Option<String>,
}

impl WorkerConfig {
    /// A config for serving `pool` through the server at `api_url`, with
    /// the defaults for everything else.
    pub fn new(api_url: impl Into<String>, pool: impl Into<String>) -> Self {
        Self {
            api_url: api_url.into(),
            pool: pool.into(),
            api_key: None,
            name: None,
            limit: None,
            heartbeat_interval: defaults::HEARTBEAT_INTERVAL,
            poll_interval: defaults::POLL_INTERVAL,
            kill_grace: defaults::KILL_GRACE,
            shutdown_grace: defaults::SHUTDOWN_GRACE,
            state_dir: None,
            pass_env: Vec::new(),
            tls_ca: None,
            isolation: Isolation::None,
            sandbox_program: None,
            hidden_paths: Vec::new(),
            run_as: None,
            container_api_url: None,
        }
    }
}

/// Runs the worker until `shutdown` resolves, then drains: no more claims,
/// running flows get `shutdown_grace` to finish, the rest are stopped and
/// reported Crashed, logs are flushed and the worker deregisters.
///
/// Prints `worker NAME (ID) polling pool POOL at API_URL` to stdout once
/// registered (followed by `(failing over to URL, ...)` with several), and `worker NAME shutting down: waiting up to Ns for K
/// running flow runs` when the drain begins.
///
/// # Errors
///
/// Only at start-up: the server cannot be reached, the pool does not exist,
/// or the server refuses the registration. Later outages are waited out.
pub async fn run(
    config: WorkerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WorkerError> {
    worker::Worker::start(config).await?.run(shutdown).await;
    Ok(())
}
