//! The `sentinel` binary: the five flows (deployment entrypoints, or
//! `sentinel run FLOW` standalone) and sentinel's own commands.

mod cli;
mod cli_portfolio;

use std::process::ExitCode;

fn main() -> ExitCode {
    let app = sentinel::flows::app();
    if let Some(code) = app.try_run(std::env::args().collect()) {
        return code;
    }
    match cli::main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
