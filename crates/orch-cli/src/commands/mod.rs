//! One module per command group; [`run`] dispatches a parsed command line.

mod artifact;
mod audit;
mod automation;
mod background;
mod backup;
mod calendar;
mod concurrency_limit;
mod config;
mod deploy;
mod deployment;
mod flow;
mod flow_run;
mod schedule;
mod secret;
mod server;
mod task_run;
mod token;
mod ui;
mod up;
mod work_pool;
mod worker;
mod worker_key;

use crate::cli::{Cli, Command, ServerCommand, WorkerCommand};
use crate::client::Api;
use crate::config::{Flags, Settings};

/// What every command may need: the effective settings and a way to reach the server.
#[derive(Debug)]
pub struct Context {
    /// The effective settings.
    pub settings: Settings,
}

impl Context {
    /// Connects to the server at the effective API URL. Commands call it only after
    /// checking their own input, so that bad input is reported without a server.
    pub async fn connect(&self) -> anyhow::Result<Api> {
        Api::connect(
            &self.settings.api_url.value,
            self.settings.roles.client.request_timeout.value,
        )
        .await
    }
}

/// Runs `cli`'s command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Completions { shell } = cli.command {
        // Before the settings: completions need neither a configuration nor a server.
        return completions(shell);
    }
    crate::client::set_tls_ca(cli.tls_ca.clone());
    if let Some(key) = &cli.api_key {
        orch_proto::credentials::use_api_key(key);
    }
    let context = Context {
        settings: Settings::load(&flags(&cli))?,
    };
    match cli.command {
        Command::Server(command) => server::run(&context, command).await,
        Command::Worker(command) => worker::run(&context, command).await,
        Command::WorkPool(command) => work_pool::run(&context, command).await,
        Command::Deploy(args) => deploy::run(&context, args).await,
        Command::Deployment(command) => deployment::run(&context, command).await,
        Command::Flow(command) => flow::run(&context, command).await,
        Command::FlowRun(command) => flow_run::run(&context, command).await,
        Command::TaskRun(command) => task_run::run(&context, command).await,
        Command::Config(command) => config::run(&context, command),
        Command::ConcurrencyLimit(command) => concurrency_limit::run(&context, command).await,
        Command::Up(args) => up::run(&context, args).await,
        Command::Calendar(command) => calendar::run(command),
        Command::Artifact(command) => artifact::run(&context, command).await,
        Command::Automation(command) => automation::run(&context, command).await,
        Command::Down(args) => background::stop(&context, background::UP, &args).await,
        Command::Secret(command) => secret::run(&context, command).await,
        Command::Audit(command) => audit::run(&context, command).await,
        Command::Token(command) => token::run(&context, command).await,
        Command::Ui { open } => ui::run(&context, open).await,
        Command::Completions { shell } => completions(shell),
    }
}

/// Prints the completion script of `shell` (clap's generator, from the one command definition).
fn completions(shell: clap_complete::Shell) -> anyhow::Result<()> {
    let mut command = <Cli as clap::CommandFactory>::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "orch", &mut script);
    crate::output::write_raw(&script)?;
    Ok(())
}

/// The settings given as flags.
fn flags(cli: &Cli) -> Flags {
    let mut flags = Flags {
        api_url: (!cli.api_url.is_empty()).then(|| orch_client::join_urls(&cli.api_url)),
        ..Flags::default()
    };
    let server_args = match &cli.command {
        Command::Server(ServerCommand::Start(args)) => Some(args),
        Command::Up(args) => Some(&args.server),
        _ => None,
    };
    if let Some(args) = server_args {
        flags.host.clone_from(&args.host);
        flags.port = args.port;
        flags.database_url.clone_from(&args.database_url);
        flags.ops = crate::config_ops::OpsFlags {
            runs_days: args.retention_runs_days,
            logs_days: args.retention_logs_days,
            states: args.retention_states.clone(),
            backup_dir: args.backup_dir.clone(),
            backup_every: args.backup_every.clone(),
            backup_keep: args.backup_keep,
        };
        flags.roles.late_after_seconds = args.late_after_seconds;
        flags.roles.worker_lease_seconds = args.worker_lease_seconds;
        flags.roles.token_cache_seconds = args.token_cache_seconds;
        flags.roles.max_streams_per_client = args.max_streams_per_client;
        let allowed = &args.security.automation_env;
        flags.roles.automation_env = (!allowed.is_empty()).then(|| allowed.clone());
    }
    if let Command::Worker(WorkerCommand::Start(args)) = &cli.command {
        flags.roles.heartbeat_seconds = args.heartbeat_seconds;
        flags.roles.poll_seconds = args.poll_seconds;
        flags.roles.kill_grace_seconds = args.kill_grace_seconds;
        flags.roles.shutdown_grace_seconds = args.shutdown_grace_seconds;
    }
    let isolation_args = match &cli.command {
        Command::Worker(WorkerCommand::Start(args)) => Some(&args.isolation),
        Command::Up(args) => Some(&args.isolation),
        _ => None,
    };
    if let Some(args) = isolation_args {
        flags.roles.isolation = args.isolation;
        flags.roles.run_as.clone_from(&args.run_as);
    }
    if let Command::Server(ServerCommand::Backup(args)) = &cli.command {
        flags.database_url.clone_from(&args.database_url);
    }
    if let Command::Server(ServerCommand::Restore(args)) = &cli.command {
        flags.database_url.clone_from(&args.database_url);
    }
    flags
}
