//! Arguments of the long-lived processes: `orch server ...`, `orch worker ...`
//! and `orch up`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::cli::OutputArgs;

/// `orch server ...`
#[derive(Debug, Subcommand)]
// Parsed once per process: the size of `Start`'s flags costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum ServerCommand {
    /// Start the server (gRPC API, JSON API and dashboard on one port) until Ctrl-C or SIGTERM
    Start(ServerStartArgs),
    /// Show whether the server is up, its version, database, schema, uptime, workers online,
    /// retention and backups
    Status(OutputArgs),
    /// Stop the server started with `orch server start --background` (gracefully: it stops
    /// taking requests and lets open ones finish)
    Stop(StopArgs),
    /// Delete the finished runs and log lines past the server's retention now
    Prune(PruneArgs),
    /// Write a consistent, checked copy of the SQLite database while the server keeps serving
    Backup(BackupArgs),
    /// Replace the SQLite database with a backup (the server must be stopped); the replaced
    /// database is kept aside
    Restore(RestoreArgs),
}

/// `orch server stop` and `orch down`
#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait for a graceful stop before giving up
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub timeout_seconds: u64,
}

/// `orch server prune`
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Only count what would be deleted
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `orch server backup`
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The backup file to write (it must not exist)
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Database to copy [env: ORCH_DATABASE_URL; config file: database_url; default:
    /// sqlite://$ORCH_HOME/orch.db]
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `orch server restore`
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup file to restore
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Database to replace [env: ORCH_DATABASE_URL; config file: database_url; default:
    /// sqlite://$ORCH_HOME/orch.db]
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
}

/// `orch server start`
#[derive(Debug, Args)]
pub struct ServerStartArgs {
    /// Interface to listen on [env: ORCH_HOST; config file: host; default: 127.0.0.1]
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// Port to listen on; 0 picks a free one [env: ORCH_PORT; config file: port; default: 4200]
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// Database: sqlite://PATH or postgres://... [env: ORCH_DATABASE_URL; config file:
    /// database_url; default: sqlite://$ORCH_HOME/orch.db]
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    #[command(flatten)]
    pub database: Box<DatabaseArgs>,
    /// A scheduled run not started this many seconds after its expected start is Late [env:
    /// ORCH_LATE_AFTER_SECONDS; config file: server.late_after_seconds; default: 15]
    #[arg(long, value_name = "SECONDS")]
    pub late_after_seconds: Option<f64>,
    /// A worker silent for this many seconds is offline and its runs' leases expire [env:
    /// ORCH_WORKER_LEASE_SECONDS; config file: server.worker_lease_seconds; default: 30]
    #[arg(long, value_name = "SECONDS")]
    pub worker_lease_seconds: Option<f64>,
    /// Seconds an API key the server checked is reused without reading it again; 0 turns the
    /// cache off. A revocation empties it at once on every server [env:
    /// ORCH_TOKEN_CACHE_SECONDS; config file: server.token_cache_seconds; default: 10]
    #[arg(long, value_name = "SECONDS")]
    pub token_cache_seconds: Option<f64>,
    /// Days finished runs are kept (default: forever) [env: ORCH_RETENTION_RUNS_DAYS; config
    /// file: retention.runs_days]
    #[arg(long, value_name = "DAYS")]
    pub retention_runs_days: Option<u32>,
    /// Days finished runs' log lines are kept (default: as long as the run) [env:
    /// ORCH_RETENTION_LOGS_DAYS; config file: retention.logs_days]
    #[arg(long, value_name = "DAYS")]
    pub retention_logs_days: Option<u32>,
    /// Retention of runs that ended in STATE, e.g. failed=90 or crashed=90:30 (runs days, then
    /// logs days); repeatable [env: ORCH_RETENTION_STATES, comma-separated; config file:
    /// retention.states]
    #[arg(long = "retention-state", value_name = "STATE=DAYS[:DAYS]")]
    pub retention_states: Vec<String>,
    /// Time between pruning passes, e.g. 10m
    #[arg(
        long,
        value_name = "DURATION",
        env = orch_core::env_vars::PRUNE_EVERY,
        default_value = "10m"
    )]
    pub prune_every: String,
    /// Folder for automatic backups (SQLite), off when unset [env: ORCH_BACKUP_DIR; config
    /// file: backup.dir]
    #[arg(long, value_name = "DIR")]
    pub backup_dir: Option<PathBuf>,
    /// Time between automatic backups, e.g. 6h [env: ORCH_BACKUP_EVERY; config file:
    /// backup.every; default: 6h]
    #[arg(long, value_name = "DURATION")]
    pub backup_every: Option<String>,
    /// Automatic backups kept; older ones are deleted [env: ORCH_BACKUP_KEEP; config file:
    /// backup.keep; default: 14]
    #[arg(long, value_name = "N")]
    pub backup_keep: Option<usize>,
    /// Start in the background and return once it is ready (pid and log files in $ORCH_HOME;
    /// stop it with `orch server stop`, or `orch down` after `orch up`)
    #[arg(long)]
    pub background: bool,
    /// Streams (logs --follow, --watch, live dashboard pages) one client address may hold
    /// open at once; one more is refused with a message [env: ORCH_MAX_STREAMS_PER_CLIENT;
    /// config file: server.max_streams_per_client; default: 32]
    #[arg(long, value_name = "N")]
    pub max_streams_per_client: Option<usize>,
    #[command(flatten)]
    pub security: Box<crate::cli_security::ServerSecurityArgs>,
    /// Serve without authentication (loopback addresses only; every local user and process
    /// can then do anything). By default the server writes an admin key to
    /// $ORCH_HOME/credentials on first start, where local clients find it
    #[arg(long)]
    pub no_auth: bool,
    #[command(flatten)]
    pub traces: Box<TraceArgs>,
}

/// PostgreSQL connection settings of `orch server start` (docs/operations.md "Connections").
#[derive(Debug, Args)]
pub struct DatabaseArgs {
    /// Connections of the server's main database pool (API requests, worker calls, writes);
    /// each server opens 3 more (2 for background duties, 1 to listen). PostgreSQL only;
    /// see docs/operations.md "Connections"
    #[arg(
        long,
        value_name = "N",
        env = orch_core::env_vars::DATABASE_POOL_SIZE,
        default_value_t = orch_store::DEFAULT_POOL_SIZE
    )]
    pub database_pool_size: u32,
    /// PostgreSQL itself, when --database-url goes through PgBouncer: migrations and listening
    /// for the other servers' events use this URL (session state a pooler does not carry). See
    /// docs/operations.md "PgBouncer" for the pool modes that work
    #[arg(
        long,
        value_name = "URL",
        env = orch_core::env_vars::DATABASE_DIRECT_URL,
        hide_env_values = true
    )]
    pub database_direct_url: Option<String>,
}

/// Trace settings of `orch server start` (the exporter itself is set by the
/// standard `OTEL_*` variables, see docs/observability.md).
#[derive(Debug, Args)]
pub struct TraceArgs {
    /// Link each run's trace id on its dashboard page to your tracing UI: an http(s) URL
    /// holding {trace_id}, e.g. http://localhost:16686/trace/{trace_id} (Jaeger)
    #[arg(long, value_name = "URL", env = orch_core::env_vars::TRACE_URL_TEMPLATE)]
    pub trace_url_template: Option<String>,
}

/// `orch worker ...`
#[derive(Debug, Subcommand)]
pub enum WorkerCommand {
    /// Start a worker that claims and executes the flow runs of a work pool until Ctrl-C or
    /// SIGTERM
    Start(WorkerStartArgs),
    /// List workers
    Ls(WorkerListArgs),
}

/// `orch worker start`
#[derive(Debug, Args)]
pub struct WorkerStartArgs {
    /// Work pool to take runs from
    #[arg(long, value_name = "NAME")]
    pub pool: String,
    /// Name of this worker (default: generated from the host name)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Most runs to execute at once (default: unlimited)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: Option<u32>,
    /// Seconds between heartbeats, well under the server's --worker-lease-seconds [env:
    /// ORCH_WORKER_HEARTBEAT_SECONDS; config file: worker.heartbeat_seconds; default: 5]
    #[arg(long, value_name = "SECONDS")]
    pub heartbeat_seconds: Option<f64>,
    /// Seconds between claims without a wake-up from the server (runs are pushed; this is
    /// the fallback for a missed push) [env: ORCH_WORKER_POLL_SECONDS; config file:
    /// worker.poll_seconds; default: 2]
    #[arg(long, value_name = "SECONDS")]
    pub poll_seconds: Option<f64>,
    /// On cancel, seconds between SIGTERM and SIGKILL to the run's process group [env:
    /// ORCH_WORKER_KILL_GRACE_SECONDS; config file: worker.kill_grace_seconds; default: 10]
    #[arg(long, value_name = "SECONDS")]
    pub kill_grace_seconds: Option<f64>,
    /// On SIGTERM to the worker, seconds running flows may take to finish [env:
    /// ORCH_WORKER_SHUTDOWN_GRACE_SECONDS; config file: worker.shutdown_grace_seconds;
    /// default: 30]
    #[arg(long, value_name = "SECONDS")]
    pub shutdown_grace_seconds: Option<f64>,
    #[command(flatten)]
    pub pass_env: crate::cli_security::PassEnvArgs,
    #[command(flatten)]
    pub isolation: crate::cli_security::IsolationArgs,
    /// Docker pools: the server's URL as containers reach it when they are not on the
    /// host's network, e.g. http://172.17.0.1:4200 (the server must listen there); by
    /// default the worker's own, with containers on the host's network when it is a
    /// loopback address [env: ORCH_WORKER_CONTAINER_API_URL]
    #[arg(long, value_name = "URL", env = orch_core::env_vars::WORKER_CONTAINER_API_URL)]
    pub container_api_url: Option<String>,
}

/// `orch worker ls`
#[derive(Debug, Args)]
pub struct WorkerListArgs {
    /// Only workers of this work pool
    #[arg(long, value_name = "NAME")]
    pub pool: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `orch up`
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Deploy file declaring flows and deployments
    #[arg(value_name = "FILE", default_value = "deploy/orch.toml")]
    pub file: PathBuf,
    /// Do not build the workspace's flow binaries (e.g. sentinel) first
    #[arg(long)]
    pub no_build: bool,
    #[command(flatten)]
    pub server: ServerStartArgs,
    #[command(flatten)]
    pub pass_env: crate::cli_security::PassEnvArgs,
    #[command(flatten)]
    pub isolation: crate::cli_security::IsolationArgs,
}
