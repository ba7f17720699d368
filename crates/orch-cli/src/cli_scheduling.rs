//! Command-line arguments of the scheduling commands: `orch deployment
//! schedule ...`, `orch deployment upcoming` and `orch concurrency-limit ...`.

use clap::{Args, Subcommand};

use crate::cli::OutputArgs;
use crate::reference::DeploymentRef;

/// `orch deployment schedule ...`
///
/// Schedules created, paused or deleted here last until the next `orch deploy`
/// of the deployment, which replaces its schedules with the file's.
#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// List a deployment's schedules
    Ls {
        /// Deployment as FLOW/NAME
        deployment: DeploymentRef,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Add a schedule to a deployment (until the next 'orch deploy' of it)
    Create(ScheduleCreateArgs),
    /// Stop a schedule from creating runs; its waiting runs are deleted
    Pause {
        /// Deployment as FLOW/NAME
        deployment: DeploymentRef,
        /// The schedule's slug (see 'orch deployment schedule ls')
        slug: String,
    },
    /// Let a paused schedule create runs again, from now on
    Resume {
        /// Deployment as FLOW/NAME
        deployment: DeploymentRef,
        /// The schedule's slug
        slug: String,
    },
    /// Delete a schedule and its waiting runs
    Delete {
        /// Deployment as FLOW/NAME
        deployment: DeploymentRef,
        /// The schedule's slug
        slug: String,
    },
}

/// `orch deployment schedule create`
#[derive(Debug, Args)]
#[command(group(
    clap::ArgGroup::new("kind")
        .required(true)
        .args(["cron", "interval_seconds", "rrule"])
))]
pub struct ScheduleCreateArgs {
    /// Deployment as FLOW/NAME
    pub deployment: DeploymentRef,
    /// Cron expression: 5 fields (minute hour day month weekday), or 6 with seconds first
    #[arg(long, value_name = "EXPR")]
    pub cron: Option<String>,
    /// Run every N seconds from --anchor
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub interval_seconds: Option<u64>,
    /// Start of the interval grid or of the --rrule, e.g. 2026-01-01T00:00:00 (in --timezone)
    #[arg(long, value_name = "TIME")]
    pub anchor: Option<String>,
    /// RFC 5545 recurrence rule, e.g. 'FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0'
    #[arg(long, value_name = "RULE")]
    pub rrule: Option<String>,
    /// IANA time zone the schedule is read in
    #[arg(long, value_name = "TZ", default_value = "UTC")]
    pub timezone: String,
    /// Name of the schedule within the deployment (default: the next free number)
    #[arg(long, value_name = "SLUG")]
    pub slug: Option<String>,
    /// Parameter of its runs as KEY=VALUE, merged over the deployment's; repeatable
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// Create it paused
    #[arg(long)]
    pub inactive: bool,
    /// Built-in calendar it follows (e.g. XNYS): no slot on its closed days
    #[arg(long, value_name = "NAME")]
    pub calendar: Option<String>,
    /// With --calendar: keep the slots after the close on its short days
    #[arg(long, requires = "calendar")]
    pub keep_after_close: bool,
}

/// `orch deployment upcoming`
#[derive(Debug, Args)]
pub struct UpcomingArgs {
    /// Deployment as FLOW/NAME
    pub deployment: DeploymentRef,
    /// How many fire times to show
    #[arg(short = 'n', long = "count", value_name = "N", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub count: u32,
    /// Also list the slots the schedules' calendars skip, and why
    #[arg(long)]
    pub show_skipped: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `orch concurrency-limit ...`
#[derive(Debug, Subcommand)]
pub enum ConcurrencyLimitCommand {
    /// Allow at most N task runs with TAG to run at once (changes the limit if TAG has one)
    Create {
        /// The task tag to limit
        tag: String,
        /// Most task runs with the tag at once
        #[arg(value_parser = clap::value_parser!(i64).range(0..))]
        limit: i64,
    },
    /// List tag limits and how many slots are taken
    Ls(OutputArgs),
    /// Show a tag limit and who holds its slots
    Inspect {
        /// The tag
        tag: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Remove a tag limit
    Delete {
        /// The tag
        tag: String,
    },
}
