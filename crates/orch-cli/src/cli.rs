//! The command line: every command, argument and its help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use crate::cli_processes::{
    BackupArgs, PruneArgs, RestoreArgs, ServerCommand, ServerStartArgs, StopArgs, UpArgs,
    WorkerCommand, WorkerListArgs, WorkerStartArgs,
};
pub use crate::cli_results::{ArtifactCommand, CalendarCommand};
pub use crate::cli_scheduling::{
    ConcurrencyLimitCommand, ScheduleCommand, ScheduleCreateArgs, UpcomingArgs,
};
use crate::output::Format;
use crate::reference::DeploymentRef;

/// `orch --version`: the version and the git commit it was built from
/// ("unknown" when built outside a git checkout, e.g. from a tarball).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("ORCH_GIT_COMMIT"),
    ")"
);

/// orch: a workflow orchestrator. Deploy flows, run them on workers, and watch them.
#[derive(Debug, Parser)]
#[command(name = "orch", version = VERSION, propagate_version = true)]
pub struct Cli {
    /// URL of the orch server [env: ORCH_API_URL; config file: api_url; default:
    /// http://127.0.0.1:4200]. Several replicas (servers on one PostgreSQL database): repeat the
    /// flag or separate URLs with commas; commands and workers use one and fail over to the next
    /// when it stops answering
    #[arg(long, global = true, value_name = "URL", action = clap::ArgAction::Append)]
    pub api_url: Vec<String>,

    /// CA certificate (PEM) to trust for an https:// server, besides the system's [env:
    /// ORCH_TLS_CA]
    #[arg(long, global = true, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// API key (default: the entry for the server in $ORCH_HOME/credentials, which the server
    /// writes on first start) [env: ORCH_API_KEY]
    #[arg(long, global = true, value_name = "KEY", hide_env_values = true)]
    pub api_key: Option<String>,

    /// Format of diagnostics on stderr: text, or json (one object per line, for log shippers)
    #[arg(
        long,
        global = true,
        value_enum,
        env = orch_core::env_vars::LOG_FORMAT,
        default_value_t = crate::logging::LogFormat::Text
    )]
    pub log_format: crate::logging::LogFormat,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The command groups.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the orch server, or ask a running one how it is
    #[command(subcommand)]
    Server(ServerCommand),
    /// Run a worker that executes the flow runs of a work pool, or list workers
    #[command(subcommand)]
    Worker(WorkerCommand),
    /// Create and manage work pools
    #[command(subcommand)]
    WorkPool(WorkPoolCommand),
    /// Create or update the deployments declared in a deploy file
    Deploy(DeployArgs),
    /// List, inspect, pause, resume, delete and run deployments
    #[command(subcommand)]
    Deployment(DeploymentCommand),
    /// List flows
    #[command(subcommand)]
    Flow(FlowCommand),
    /// List, inspect and cancel flow runs, and read their logs
    #[command(subcommand)]
    FlowRun(FlowRunCommand),
    /// List the task runs of a flow run
    #[command(subcommand)]
    TaskRun(TaskRunCommand),
    /// Show the effective settings
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Limit how many task runs with a tag run at once
    #[command(subcommand)]
    ConcurrencyLimit(ConcurrencyLimitCommand),
    /// Run everything locally: server, the deploy file's pools and deployments, and workers
    Up(UpArgs),
    /// List calendars (XNYS, and those a deploy file declares) and their closed and short days
    #[command(subcommand)]
    Calendar(CalendarCommand),
    /// List and inspect the artifacts flow runs publish, and a key's series across runs
    #[command(subcommand)]
    Artifact(ArtifactCommand),
    /// List, inspect, pause, resume and delete automations (alerts and chained runs), and
    /// read their delivery history
    #[command(subcommand)]
    Automation(AutomationCommand),
    /// Stop what `orch up --background` started
    Down(StopArgs),
    /// Set, list and delete the secrets deployments hand their runs as environment variables
    #[command(subcommand)]
    Secret(crate::cli_security::SecretCommand),
    /// List the audit trail: every change, who made it and from where
    #[command(subcommand)]
    Audit(crate::cli_security::AuditCommand),
    /// Create, list and revoke API tokens (admin)
    #[command(subcommand)]
    Token(crate::cli_tokens::TokenCommand),
    /// Print a fresh link that opens the dashboard logged in as your token (works once, for
    /// 10 minutes; the key itself never leaves this machine)
    Ui {
        /// Also open the link in the default browser
        #[arg(long)]
        open: bool,
    },
    /// Print the shell completion script for orch's commands and options, e.g.
    /// `source <(orch completions bash)` in ~/.bashrc, `orch completions zsh >
    /// ~/.zfunc/_orch`, `orch completions fish > ~/.config/fish/completions/orch.fish`
    Completions {
        /// The shell to complete in
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// `orch automation ...`
#[derive(Debug, Subcommand)]
pub enum AutomationCommand {
    /// List automations with their trigger, actions and counters
    Ls(OutputArgs),
    /// Show an automation: trigger, actions, cooldown, counters, unset ${NAME}s
    Inspect {
        /// Automation name
        name: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Stop an automation from firing
    Pause {
        /// Automation name
        name: String,
    },
    /// Let a paused automation fire again
    Resume {
        /// Automation name
        name: String,
    },
    /// Delete an automation and its history (`orch deploy` registers it again if the file
    /// still declares it)
    Delete {
        /// Automation name
        name: String,
    },
    /// Show an automation's delivery attempts and suppressed firings, newest first
    History {
        /// Automation name
        name: String,
        /// How many entries
        #[arg(long, default_value_t = 20)]
        limit: i64,
        #[command(flatten)]
        output: OutputArgs,
    },
}

/// `--output`, on every read command.
#[derive(Debug, Clone, Copy, Args)]
pub struct OutputArgs {
    /// Output format
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Table)]
    pub output: Format,
}

/// `orch work-pool ...`
#[derive(Debug, Subcommand)]
pub enum WorkPoolCommand {
    /// Create a work pool
    Create(WorkPoolCreateArgs),
    /// List work pools
    Ls(OutputArgs),
    /// Show a work pool
    Inspect {
        /// Work pool name
        name: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Stop handing out the pool's runs (running ones go on)
    Pause {
        /// Work pool name
        name: String,
    },
    /// Hand out the pool's runs again
    Resume {
        /// Work pool name
        name: String,
    },
    /// Delete a work pool
    Delete {
        /// Work pool name
        name: String,
    },
    /// Limit how many runs are Pending or Running in the pool at once
    SetConcurrencyLimit {
        /// Work pool name
        name: String,
        /// Most runs at once
        #[arg(value_parser = clap::value_parser!(i64).range(0..))]
        limit: i64,
    },
    /// Remove the pool's concurrency limit
    ClearConcurrencyLimit {
        /// Work pool name
        name: String,
    },
}

/// `orch work-pool create`
#[derive(Debug, Args)]
pub struct WorkPoolCreateArgs {
    /// Work pool name
    pub name: String,
    /// Kind of worker that serves the pool: process (subprocesses of the
    /// worker) or docker (one container per run)
    #[arg(long = "type", value_name = "TYPE", default_value = "process")]
    pub pool_type: String,
    /// Most runs Pending or Running in the pool at once (default: unlimited)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(0..))]
    pub concurrency_limit: Option<i64>,
    /// What the pool is for
    #[arg(long, value_name = "TEXT", default_value = "")]
    pub description: String,
    /// Docker pools: default container settings, which a deployment's own
    /// override
    #[command(flatten)]
    pub container: Box<ContainerDefaultsArgs>,
}

/// Default container settings of a docker pool (the deploy file's keys).
#[derive(Debug, Args, Default)]
pub struct ContainerDefaultsArgs {
    /// Default image of the pool's runs
    #[arg(long, value_name = "IMAGE", help_heading = "Docker pools")]
    pub image: Option<String>,
    /// Default memory limit, e.g. 256m or 2g
    #[arg(long, value_name = "SIZE", help_heading = "Docker pools")]
    pub memory: Option<String>,
    /// Default CPU limit in cores, e.g. 0.5
    #[arg(long, value_name = "CORES", help_heading = "Docker pools")]
    pub cpus: Option<f64>,
    /// A volume every run mounts, SOURCE:TARGET[:ro] (repeatable)
    #[arg(
        long = "volume",
        value_name = "SOURCE:TARGET",
        help_heading = "Docker pools"
    )]
    pub volumes: Vec<String>,
    /// Network the containers join (host, bridge or a network's name)
    #[arg(long, value_name = "NETWORK", help_heading = "Docker pools")]
    pub network: Option<String>,
    /// User the containers run as (uid[:gid] or a name)
    #[arg(long, value_name = "USER", help_heading = "Docker pools")]
    pub user: Option<String>,
    /// When to pull an image: never or if-missing
    #[arg(long, value_name = "POLICY", help_heading = "Docker pools")]
    pub pull_policy: Option<String>,
    /// Keep the container of a run that did not complete
    #[arg(long, help_heading = "Docker pools")]
    pub keep_container: bool,
}

/// `orch deploy`
#[derive(Debug, Args)]
pub struct DeployArgs {
    /// Deploy file declaring flows and deployments
    #[arg(value_name = "FILE", default_value = "deploy/orch.toml")]
    pub file: PathBuf,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `orch deployment ...`
#[derive(Debug, Subcommand)]
pub enum DeploymentCommand {
    /// List deployments
    Ls {
        /// Only deployments of this flow
        #[arg(long, value_name = "FLOW")]
        flow: Option<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Show a deployment and its schedules
    Inspect {
        /// Deployment as FLOW/NAME
        deployment: DeploymentRef,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Stop the deployment's schedules from creating runs
    Pause {
        /// Deployment as FLOW/NAME
        deployment: DeploymentRef,
    },
    /// Let the deployment's schedules create runs again
    Resume {
        /// Deployment as FLOW/NAME
        deployment: DeploymentRef,
    },
    /// Delete a deployment
    Delete {
        /// Deployment as FLOW/NAME
        deployment: DeploymentRef,
    },
    /// Create a flow run of a deployment now
    Run(DeploymentRunArgs),
    /// List, create, pause, resume and delete a deployment's schedules
    #[command(subcommand)]
    Schedule(ScheduleCommand),
    /// Show the next runs of a deployment's schedules, in their time zones and in UTC
    Upcoming(UpcomingArgs),
}

/// `orch deployment run`
#[derive(Debug, Args)]
pub struct DeploymentRunArgs {
    /// Deployment as FLOW/NAME
    pub deployment: DeploymentRef,
    /// Set a parameter as KEY=VALUE; VALUE is read as JSON when it parses (n=3, ok=true,
    /// tags='["a"]'), else as a string (day=2024-01-01). Repeatable; the last one wins, and
    /// each wins over --params
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// Parameters as a JSON object, e.g. '{"n": 3}'; merged over the deployment's defaults
    #[arg(long = "params", value_name = "JSON")]
    pub params_json: Option<String>,
    /// Follow the run's states and logs until it ends; exit 0 only if it Completed
    #[arg(long)]
    pub watch: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `orch flow ...`
#[derive(Debug, Subcommand)]
pub enum FlowCommand {
    /// List flows
    Ls(OutputArgs),
}

/// `orch flow-run ...`
#[derive(Debug, Subcommand)]
pub enum FlowRunCommand {
    /// List flow runs, newest first
    Ls(FlowRunListArgs),
    /// Show every field of a flow run and its state history
    Inspect {
        /// Flow run id, or an unambiguous prefix of one
        id: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Print a flow run's logs
    Logs {
        /// Flow run id, or an unambiguous prefix of one
        id: String,
        /// Keep printing new lines until the run ends
        #[arg(long, short = 'f')]
        follow: bool,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Cancel a flow run (a running one is stopped by its worker)
    Cancel {
        /// Flow run id, or an unambiguous prefix of one
        id: String,
    },
    /// Run a finished flow run again: a new run of its deployment with the same parameters
    Retry {
        /// Flow run id, or an unambiguous prefix of one
        id: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Delete finished flow runs with their states, task runs, artifacts and logs: by id
    /// (`orch flow-run delete ID...`), or every run that ended in a state before an age
    /// (`orch flow-run delete --state failed --before 30d`; try `--dry-run` first)
    Delete(FlowRunDeleteArgs),
}

/// `orch flow-run delete`
#[derive(Debug, Args)]
pub struct FlowRunDeleteArgs {
    /// Flow run ids (or unambiguous prefixes); all are deleted or none
    #[arg(value_name = "ID", required_unless_present = "state", conflicts_with_all = ["state", "before", "dry_run"])]
    pub ids: Vec<String>,
    /// Delete the runs that ended in this state: completed, failed, crashed or cancelled
    #[arg(long, value_name = "STATE", requires = "before")]
    pub state: Option<String>,
    /// ... and ended longer ago than this, e.g. 30d, 12h, 90m
    #[arg(long, value_name = "AGE", requires = "state")]
    pub before: Option<String>,
    /// Only count the runs and log lines that would be deleted
    #[arg(long, requires = "state")]
    pub dry_run: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `orch flow-run ls`
#[derive(Debug, Args)]
pub struct FlowRunListArgs {
    /// Only runs in this state: a type (running, failed, ...) or a name (late, ...)
    #[arg(long, value_name = "STATE")]
    pub state: Option<String>,
    /// Only runs of this flow
    #[arg(long, value_name = "FLOW")]
    pub flow: Option<String>,
    /// Only runs of this deployment, as FLOW/NAME
    #[arg(long, value_name = "FLOW/NAME")]
    pub deployment: Option<DeploymentRef>,
    /// Only runs in this work pool
    #[arg(long, value_name = "NAME")]
    pub work_pool: Option<String>,
    /// Leave subflow runs out (runs another run called; marked ↳ otherwise)
    #[arg(long)]
    pub top_level: bool,
    /// Most runs to list (default: the server's, 50); above 1000 they are fetched page by page
    #[arg(long, value_name = "N")]
    pub limit: Option<u32>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `orch config ...`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Show each setting, its value, and where it came from (flag, env, config file, default)
    View(OutputArgs),
}

impl Command {
    /// Whether the command runs a long-lived process (server or worker), which logs at
    /// `info` by default; client commands log only warnings.
    pub fn is_long_running(&self) -> bool {
        matches!(
            self,
            Self::Server(ServerCommand::Start(_)) | Self::Worker(WorkerCommand::Start(_))
        )
    }

    /// The service name of the command's spans, for the commands that
    /// export traces when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
    pub fn telemetry_service(&self) -> Option<&'static str> {
        match self {
            Self::Server(ServerCommand::Start(_)) => Some("orch-server"),
            Self::Worker(WorkerCommand::Start(_)) => Some("orch-worker"),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Every leaf command, as its path of names (`["flow-run", "ls"]`).
    fn leaves(
        command: &clap::Command,
        path: Vec<String>,
        out: &mut Vec<(Vec<String>, clap::Command)>,
    ) {
        if command.get_subcommands().next().is_none() {
            out.push((path, command.clone()));
            return;
        }
        for sub in command.get_subcommands() {
            let mut path = path.clone();
            path.push(sub.get_name().to_owned());
            leaves(sub, path, out);
        }
    }

    #[test]
    fn every_command_that_prints_a_list_takes_output_json() {
        let mut all = Vec::new();
        leaves(&Cli::command(), Vec::new(), &mut all);
        let mut lists = 0;
        for (path, command) in &all {
            let about = command
                .get_about()
                .map(|a| a.to_string())
                .unwrap_or_default();
            let lists_something = path.last().is_some_and(|name| name == "ls")
                || about.starts_with("List")
                || about.starts_with("Show");
            if !lists_something {
                continue;
            }
            lists += 1;
            assert!(
                command.get_arguments().any(|arg| arg.get_id() == "output"),
                "orch {} prints a list but takes no --output json",
                path.join(" ")
            );
        }
        assert!(lists > 15, "{lists}");
    }

    #[test]
    fn a_deployment_without_a_slash_is_rejected_by_the_parser() {
        let error = Cli::try_parse_from(["orch", "deployment", "run", "nope"]).unwrap_err();
        assert_eq!(error.exit_code(), 2);
        assert!(error.to_string().contains("expected FLOW/NAME"), "{error}");
    }
}

/// `orch task-run ...`
#[derive(Debug, Subcommand)]
pub enum TaskRunCommand {
    /// List a flow run's task runs with their attempts and upstream tasks
    Ls {
        /// Flow run id, or an unambiguous prefix of one
        #[arg(long, value_name = "ID")]
        flow_run: String,
        #[command(flatten)]
        output: OutputArgs,
    },
}
