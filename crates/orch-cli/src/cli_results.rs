//! Arguments of `orch calendar ...`.

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
