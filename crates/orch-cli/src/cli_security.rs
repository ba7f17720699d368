//! Arguments of `orch secret ...` and `orch audit ...`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::cli::OutputArgs;

/// `orch secret ...`
#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Create or replace a secret; its value is read from stdin (or --from-file), sealed by
    /// the server and never shown again
    Set(SecretSetArgs),
    /// List secrets: names, times and the deployments that use them, never values
    Ls(OutputArgs),
    /// Delete a secret (runs of deployments that name it then fail until it is set again)
    Delete {
        /// The secret's name
        name: String,
    },
}

/// `orch secret set`
#[derive(Debug, Args)]
pub struct SecretSetArgs {
    /// The secret's name: the environment variable flows receive it as, e.g. NEWSAPI_KEY
    pub name: String,
    /// Read the value from this file instead of stdin (one trailing newline is dropped)
    #[arg(long, value_name = "FILE")]
    pub from_file: Option<PathBuf>,
}

/// `orch server start` / `orch up`: TLS and which clients the server answers.
#[derive(Debug, Clone, Default, Args)]
pub struct ServerSecurityArgs {
    /// A variable of the server's environment that automation placeholders (`${NAME}`) may
    /// read, besides orch secrets; repeatable. Automations naming any other variable of the
    /// server's environment are refused [env: ORCH_AUTOMATION_ENV, comma-separated; config
    /// file: server.automation_env]
    #[arg(long = "automation-env", value_name = "NAME")]
    pub automation_env: Vec<String>,
    /// Also answer for this host name (the Host header), besides localhost, loopback
    /// addresses and the bind address; repeatable. Stops DNS-rebinding attacks from web pages
    #[arg(
        long = "allowed-host",
        value_name = "NAME",
        env = orch_core::env_vars::ALLOWED_HOSTS,
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<String>,
    /// Serve TLS with this certificate chain (PEM); needs --tls-key
    #[arg(long, value_name = "FILE", env = orch_core::env_vars::TLS_CERT, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert
    #[arg(long, value_name = "FILE", env = orch_core::env_vars::TLS_KEY, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve without TLS on a non-loopback address (only behind a trusted TLS proxy or on a
    /// private network you trust)
    #[arg(long)]
    pub allow_plaintext: bool,
}

/// `orch worker start`: what flows receive of the worker's environment.
#[derive(Debug, Clone, Default, Args)]
pub struct PassEnvArgs {
    /// Pass the worker's variable NAME to every flow it runs (repeatable); flows get only
    /// orch's variables, the basics (PATH, HOME, LANG, TZ...), their deployment's env and
    /// secrets, and these
    #[arg(
        long = "pass-env",
        value_name = "NAME",
        env = orch_core::env_vars::WORKER_PASS_ENV,
        value_delimiter = ','
    )]
    pub pass_env: Vec<String>,
}

/// `orch worker start` and `orch up`: how far flows are kept from the worker.
#[derive(Debug, Clone, Args)]
pub struct IsolationArgs {
    /// How flows are isolated from the worker: `namespaces` (each flow in its own mount, PID
    /// and user namespaces: $ORCH_HOME and the worker's processes are out of its sight),
    /// `landlock` (Landlock rules: every file but $ORCH_HOME, no access to other processes),
    /// `none`, or `auto` (namespaces, with Landlock scopes where the kernel has them, else
    /// landlock, else none, said once at start). See docs/security.md [env:
    /// ORCH_WORKER_ISOLATION; config file: worker.isolation; default: auto]
    #[arg(
        long,
        value_name = "MODE",
        value_parser = |name: &str| name.parse::<orch_worker::Isolation>()
    )]
    pub isolation: Option<orch_worker::Isolation>,
    /// Run flows as this user (name or uid): its uid, groups and HOME. Only for a worker
    /// running as root; the deployments' folders must be readable by that user [env:
    /// ORCH_WORKER_RUN_AS; config file: worker.run_as]
    #[arg(long, value_name = "USER")]
    pub run_as: Option<String>,
}

impl IsolationArgs {
    /// Applies the resolved mode and user (`settings.roles.worker`) to
    /// `config`, hiding the orch home folder and the SQLite database named
    /// by `settings` from isolated flows.
    pub fn apply(
        &self,
        settings: &crate::config::Settings,
        config: &mut orch_worker::WorkerConfig,
    ) {
        let worker = &settings.roles.worker;
        config.isolation = worker.isolation.value;
        config.run_as.clone_from(&worker.run_as.value);
        tracing::info!(
            "flow isolation asked: {} (from {})",
            worker.isolation.value,
            worker.isolation.source
        );
        config.hidden_paths.push(settings.home.value.clone());
        if let Some(database) = orch_store::sqlite_path(&settings.database_url.value) {
            for suffix in ["", "-wal", "-shm"] {
                let mut file = database.clone().into_os_string();
                file.push(suffix);
                config.hidden_paths.push(file.into());
            }
        }
    }
}

/// `orch audit ...`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List recorded changes (who, what, to what, when, from where), newest first
    Ls(AuditListArgs),
}

/// `orch audit ls`
#[derive(Debug, Args)]
pub struct AuditListArgs {
    /// Only changes in this last span (e.g. 1h, 7d) or since this RFC 3339 time
    #[arg(long, value_name = "DURATION|TIME")]
    pub since: Option<String>,
    /// Most records to show
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub limit: u32,
    #[command(flatten)]
    pub output: OutputArgs,
}
