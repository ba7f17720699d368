//! Write orch flows and tasks in Rust.
//!
//! A flow is an async function of a [`FlowContext`] and typed parameters; its
//! tasks are steps the orchestrator tracks one by one, with retries (fixed,
//! exponential, listed delays, jitter, a retry condition), timeouts, parallelism
//! (`tokio::try_join!`) and a dependency graph recorded from the data that
//! flows between them. `tracing` logs inside flows and tasks reach the server,
//! tagged with their task run. Flows publish results with
//! [`FlowContext::artifact`]: markdown, tables, links and metrics. A flow
//! calls another with [`FlowContext::subflow`]: a flow run of its own,
//! linked to its parent.
//!
//! ```no_run
//! use orch_sdk::{App, FlowContext, secs};
//!
//! #[derive(serde::Deserialize, Default)]
//! #[serde(default, deny_unknown_fields)]
//! struct Params { force: bool }
//!
//! async fn trading(ctx: FlowContext, params: Params) -> anyhow::Result<String> {
//!     let prices = ctx.task("fetch-prices").retries(2).retry_delay(secs(30)).exponential_backoff()
//!         .timeout(secs(60)).run(|| async { Ok::<_, anyhow::Error>(vec![101.5, 102.0]) }).await?;
//!     let signal = ctx.task("predict").run(|| async { Ok::<_, anyhow::Error>(prices[1] - prices[0]) }).await?;
//!     Ok(if *signal > 0.0 || params.force { "BUY".into() } else { "HOLD".into() })
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     App::new("sentinel").flow("trading-flow", trading).run()
//! }
//! ```
//!
//! The binary is a deployment's entrypoint (`sentinel trading-flow`): it reads
//! `ORCH_FLOW_RUN_ID`, `ORCH_PARAMETERS` (or, for parameters over 64 KiB, the
//! file named by `ORCH_PARAMETERS_FILE`) and `ORCH_API_URL` from the worker.
//! Without them it runs standalone (`sentinel run trading-flow --param force=true`).

mod app;
mod artifact;
mod context;
mod cpu;
pub mod embed;
mod emit;
mod error;
mod logging;
mod output;
mod record;
mod reporter;
mod retry;
mod slots;
mod subflow;
mod task;
mod trace;

use std::time::Duration;

pub use app::{App, FlowFailure};
pub use artifact::{ArtifactBuilder, ArtifactError, Published};
pub use context::FlowContext;
pub use emit::EmitError;
pub use error::{SdkError, TaskError, TaskPanicked, TaskTimedOut};
pub use output::{Output, Upstream};
pub use retry::{Delays, RetryPolicy};
pub use subflow::SubflowError;
pub use task::TaskBuilder;

/// `secs(30)` reads better than `Duration::from_secs(30)` in task options.
pub fn secs(seconds: u64) -> Duration {
    Duration::from_secs(seconds)
}

/// Milliseconds.
pub fn millis(milliseconds: u64) -> Duration {
    Duration::from_millis(milliseconds)
}
