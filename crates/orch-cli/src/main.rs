//! `orch`: the command line of the orch workflow orchestrator. It runs the server and
//! workers, and talks to a running server over gRPC for everything else.

mod cli;
mod cli_results;
mod cli_scheduling;
mod cli_security;
mod cli_tokens;
mod client;
mod commands;
mod config;
mod config_ops;
mod config_roles;
mod error;
mod input_file;
mod logging;
mod output;
mod reference;
mod signal;
mod views;
mod watch;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;
use crate::logging::Verbosity;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(
        if cli.command.is_long_running() {
            Verbosity::LongRunning
        } else {
            Verbosity::Client
        },
        cli.log_format,
    );
    match commands::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error::is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", error::one_line(&error));
            ExitCode::from(u8::try_from(error::exit_code(&error)).unwrap_or(1))
        }
    }
}
