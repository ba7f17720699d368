//! The names of orch's environment variables, each written once: the flow
//! contract a worker gives a flow process (read by the SDKs,
//! `orch_client::flow_env`), and the settings of the server, the worker and
//! the CLI (`orch config view` lists them with their sources).

// The flow contract (docs/flow-protocol.md).
/// The version of the flow contract the worker speaks.
pub const PROTOCOL: &str = "ORCH_PROTOCOL";
/// The server's URL (also the CLI's and the worker's `--api-url`).
pub const API_URL: &str = "ORCH_API_URL";
/// Every server URL of one installation, comma-separated.
pub const API_URLS: &str = "ORCH_API_URLS";
/// The id of the flow run a process executes.
pub const FLOW_RUN_ID: &str = "ORCH_FLOW_RUN_ID";
/// The flow's name.
pub const FLOW: &str = "ORCH_FLOW";
/// The deployment's name.
pub const DEPLOYMENT: &str = "ORCH_DEPLOYMENT";
/// The id of the worker that started the process.
pub const WORKER_ID: &str = "ORCH_WORKER_ID";
/// A run's parameters, a JSON object.
pub const PARAMETERS: &str = "ORCH_PARAMETERS";
/// The file holding a run's parameters when they are too long for a variable.
pub const PARAMETERS_FILE: &str = "ORCH_PARAMETERS_FILE";
/// An API key: a run's own credential for a flow, a token for the CLI.
pub const API_KEY: &str = "ORCH_API_KEY";
/// The names of the variables holding a run's secrets.
pub const SECRET_NAMES: &str = "ORCH_SECRET_NAMES";
/// A CA certificate (PEM) to trust for an `https://` server URL.
pub const TLS_CA: &str = "ORCH_TLS_CA";
/// A log filter (`tracing` `EnvFilter` syntax).
pub const LOG: &str = "ORCH_LOG";

// Everyone.
/// orch's home folder (credentials, config file, local database).
pub const HOME: &str = "ORCH_HOME";
/// The log format of orch's processes.
pub const LOG_FORMAT: &str = "ORCH_LOG_FORMAT";
/// How long a client waits for an answer.
pub const REQUEST_TIMEOUT_SECONDS: &str = "ORCH_REQUEST_TIMEOUT_SECONDS";

// The server.
/// The interface the server binds.
pub const HOST: &str = "ORCH_HOST";
/// The port the server binds.
pub const PORT: &str = "ORCH_PORT";
/// The server's database.
pub const DATABASE_URL: &str = "ORCH_DATABASE_URL";
/// Host names the server answers for besides its own.
pub const ALLOWED_HOSTS: &str = "ORCH_ALLOWED_HOSTS";
/// The server's TLS certificate.
pub const TLS_CERT: &str = "ORCH_TLS_CERT";
/// The server's TLS key.
pub const TLS_KEY: &str = "ORCH_TLS_KEY";
/// The key that encrypts secrets at rest.
pub const SECRET_KEY: &str = "ORCH_SECRET_KEY";
/// Where people reach the dashboard, for links in messages.
pub const PUBLIC_URL: &str = "ORCH_PUBLIC_URL";
/// A link to a run's trace in a trace viewer.
pub const TRACE_URL_TEMPLATE: &str = "ORCH_TRACE_URL_TEMPLATE";
/// When a Scheduled run not started becomes Late.
pub const LATE_AFTER_SECONDS: &str = "ORCH_LATE_AFTER_SECONDS";
/// How long a worker's lease lasts without a heartbeat.
pub const WORKER_LEASE_SECONDS: &str = "ORCH_WORKER_LEASE_SECONDS";
/// How long the server trusts a checked API key or session (`--token-cache-seconds`; 0: off).
pub const TOKEN_CACHE_SECONDS: &str = "ORCH_TOKEN_CACHE_SECONDS";
/// Connections of the server's main database pool.
pub const DATABASE_POOL_SIZE: &str = "ORCH_DATABASE_POOL_SIZE";
/// PostgreSQL's own address (migrations, LISTEN) when the database URL is a pooler.
pub const DATABASE_DIRECT_URL: &str = "ORCH_DATABASE_DIRECT_URL";
/// Most watch streams one client may hold open.
pub const MAX_STREAMS_PER_CLIENT: &str = "ORCH_MAX_STREAMS_PER_CLIENT";
/// Variables automations may read.
pub const AUTOMATION_ENV: &str = "ORCH_AUTOMATION_ENV";
/// The SMTP server automations send e-mail through.
pub const SMTP_URL: &str = "ORCH_SMTP_URL";
/// The sender of automations' e-mail.
pub const SMTP_FROM: &str = "ORCH_SMTP_FROM";
/// How many days finished runs are kept.
pub const RETENTION_RUNS_DAYS: &str = "ORCH_RETENTION_RUNS_DAYS";
/// How many days log lines are kept.
pub const RETENTION_LOGS_DAYS: &str = "ORCH_RETENTION_LOGS_DAYS";
/// Which final states retention prunes.
pub const RETENTION_STATES: &str = "ORCH_RETENTION_STATES";
/// How often pruning runs.
pub const PRUNE_EVERY: &str = "ORCH_PRUNE_EVERY";
/// Where automatic backups go.
pub const BACKUP_DIR: &str = "ORCH_BACKUP_DIR";
/// How often an automatic backup is made.
pub const BACKUP_EVERY: &str = "ORCH_BACKUP_EVERY";
/// How many automatic backups are kept.
pub const BACKUP_KEEP: &str = "ORCH_BACKUP_KEEP";

// The worker.
/// Seconds between a worker's heartbeats.
pub const WORKER_HEARTBEAT_SECONDS: &str = "ORCH_WORKER_HEARTBEAT_SECONDS";
/// Seconds between a worker's fallback claims.
pub const WORKER_POLL_SECONDS: &str = "ORCH_WORKER_POLL_SECONDS";
/// How long a worker waits for its runs when it stops.
pub const WORKER_SHUTDOWN_GRACE_SECONDS: &str = "ORCH_WORKER_SHUTDOWN_GRACE_SECONDS";
/// How long a worker waits after SIGTERM before SIGKILL.
pub const WORKER_KILL_GRACE_SECONDS: &str = "ORCH_WORKER_KILL_GRACE_SECONDS";
/// The worker's variables passed on to flows.
pub const WORKER_PASS_ENV: &str = "ORCH_WORKER_PASS_ENV";
/// How flows are isolated.
pub const WORKER_ISOLATION: &str = "ORCH_WORKER_ISOLATION";
/// The user flows run as (root workers).
pub const WORKER_RUN_AS: &str = "ORCH_WORKER_RUN_AS";
/// The server URL a container flow reports to.
pub const WORKER_CONTAINER_API_URL: &str = "ORCH_WORKER_CONTAINER_API_URL";
