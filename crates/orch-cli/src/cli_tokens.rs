//! `orch token ...`: API tokens.

use clap::{Args, Subcommand};

use crate::cli::OutputArgs;

/// `orch token ...`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print its key, once (only a hash is stored)
    Create(TokenCreateArgs),
    /// List tokens (never their keys)
    Ls(OutputArgs),
    /// Revoke a token at once, with the dashboard sessions made from it
    Revoke {
        /// Token name
        name: String,
    },
}

/// `orch token create`
#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    /// Token name, e.g. ci-deployer
    pub name: String,
    /// What it may do: read (every GET, watch, logs), operate (+ run, cancel, retry,
    /// pause/resume), deploy (+ register or change deployments and schedules), admin
    /// (everything), worker (register, claim and report for its --pool only)
    #[arg(long, value_name = "SCOPE")]
    pub scope: String,
    /// A pool a worker token serves; repeatable (worker tokens only)
    #[arg(long = "pool", value_name = "POOL")]
    pub pools: Vec<String>,
    /// Lifetime, e.g. 30d, 12h, 90m (default: until revoked)
    #[arg(long, value_name = "DURATION")]
    pub expires: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}
