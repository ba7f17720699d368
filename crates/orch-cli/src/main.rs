//! `orch`: the command line of the orch workflow orchestrator. It runs the server and
//! workers, and talks to a running server over gRPC for everything else.

mod cli;
mod cli_processes;
mod cli_results;
mod cli_scheduling;
mod cli_security;
mod cli_tokens;
mod client;
mod commands;
mod config;
mod config_isolation;
mod config_ops;
mod config_roles;
mod config_telemetry;
mod error;
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

fn main() -> ExitCode {
    // Before any thread exists: the sandbox enters a user namespace, which
    // only a single-threaded process may.
    let mut args = std::env::args_os().skip(1);
    match args.next() {
        Some(first) if first == orch_worker::sandbox::SUBCOMMAND => {
            orch_worker::sandbox::main(args)
        }
        // A worker's flow guard: single-threaded, no runtime.
        Some(first) if first == orch_worker::guard::SUBCOMMAND => orch_worker::guard::main(args),
        _ => {}
    }
    let cli = Cli::parse();
    if cli.command.telemetry_service().is_some() {
        // The config file's [telemetry] fills the OTEL_* variables left
        // unset, while no other thread can read the environment.
        match config::telemetry_variables() {
            Ok(variables) => {
                for (name, value) in variables {
                    // SAFETY: single-threaded here: the runtime is not built yet.
                    unsafe { std::env::set_var(name, value) };
                }
            }
            Err(error) => {
                eprintln!("error: {}", error::one_line(&error));
                return ExitCode::from(2);
            }
        }
    }
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(run(cli)),
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Parses the command line and runs the command.
async fn run(cli: Cli) -> ExitCode {
    // Traces of servers and workers, when OTEL_EXPORTER_OTLP_ENDPOINT is
    // set; flushed when the command returns.
    let telemetry = match cli.command.telemetry_service() {
        Some(service) => match orch_telemetry::Telemetry::from_env(service) {
            Ok(telemetry) => telemetry,
            Err(message) => {
                eprintln!("error: {message}");
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    logging::init(
        if cli.command.is_long_running() {
            Verbosity::LongRunning
        } else {
            Verbosity::Client
        },
        cli.log_format,
        telemetry.as_ref(),
    );
    if telemetry.is_some() {
        tracing::info!(
            "exporting traces to {} (OTEL_EXPORTER_OTLP_ENDPOINT)",
            orch_telemetry::Telemetry::endpoint()
        );
    }
    let result = commands::run(cli).await;
    drop(telemetry);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error::is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", error::one_line(&error));
            ExitCode::from(u8::try_from(error::exit_code(&error)).unwrap_or(1))
        }
    }
}
