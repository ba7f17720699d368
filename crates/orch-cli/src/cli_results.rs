//! Arguments of `orch calendar ...` and `orch artifact ...`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::cli::OutputArgs;

/// `orch calendar ...`
#[derive(Debug, Subcommand)]
pub enum CalendarCommand {
    /// List the built-in calendars and those a deploy file declares
    Ls(CalendarFileArgs),
    /// List a calendar's closed and short days in a year
    Show(CalendarShowArgs),
}

/// The deploy file whose `[[calendars]]` are listed too.
#[derive(Debug, Args)]
pub struct CalendarFileArgs {
    /// Deploy file declaring user calendars (ignored when missing)
    #[arg(long, value_name = "FILE", default_value = "deploy/orch.toml")]
    pub file: PathBuf,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `orch calendar show`
#[derive(Debug, Args)]
pub struct CalendarShowArgs {
    /// The calendar: XNYS, or a [[calendars]] name of the deploy file
    pub name: String,
    /// Year to list [default: this year]
    #[arg(long, value_parser = clap::value_parser!(i32).range(1900..=2200))]
    pub year: Option<i32>,
    #[command(flatten)]
    pub file: CalendarFileArgs,
}

/// `orch artifact ...`
#[derive(Debug, Subcommand)]
pub enum ArtifactCommand {
    /// List artifacts, newest first
    Ls(ArtifactLsArgs),
    /// Show one artifact with its whole body
    Inspect {
        /// The artifact's id (see 'orch artifact ls')
        id: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Show a key's series across runs, oldest first (metrics as columns)
    Series {
        /// The artifact key, e.g. model-GOOG
        key: String,
        /// How many of the newest points
        #[arg(short = 'n', long = "limit", default_value_t = 50,
              value_parser = clap::value_parser!(u32).range(1..=5000))]
        limit: u32,
        #[command(flatten)]
        output: OutputArgs,
    },
}

/// `orch artifact ls`
#[derive(Debug, Args)]
pub struct ArtifactLsArgs {
    /// Only artifacts with this key
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,
    /// Only artifacts of this flow run (id or name)
    #[arg(long, value_name = "RUN")]
    pub flow_run: Option<String>,
    /// How many
    #[arg(short = 'n', long = "limit", default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(1..=5000))]
    pub limit: u32,
    #[command(flatten)]
    pub output: OutputArgs,
}
