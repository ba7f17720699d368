//! The five flows, thin orchestration over the library: each step is an
//! orch task (retried, timed out, recorded), the data stays in sentinel's
//! database and model registry.
//!
//! | flow | parameters |
//! | --- | --- |
//! | `data-refresh-flow` | `lookback_days?` |
//! | `trading-flow` | `force` |
//! | `full-system-flow` | none |
//! | `data-collection-flow` | `symbol?`, `days?`, `interval?` |
//! | `model-retraining-flow` | `symbol?`, `days?` |

mod artifacts;
mod collection;
mod refresh;
mod retraining;
mod trading;

use std::sync::Arc;

use orch_sdk::{App, FlowContext, TaskBuilder, secs};

pub use collection::{CollectionParams, data_collection};
pub use refresh::{DataRefreshParams, data_refresh};
pub use retraining::{RetrainingParams, model_retraining};
pub use trading::{FullSystemParams, FullSystemResult, TradingParams, full_system, trading};

use crate::app::Sentinel;
use crate::config::Config;
use crate::error::SentinelError;

/// The flow names, as deployments name them.
pub const FLOWS: [&str; 5] = [
    "data-refresh-flow",
    "trading-flow",
    "full-system-flow",
    "data-collection-flow",
    "model-retraining-flow",
];

/// The app with the five flows, configured from the environment
/// (`SENTINEL_CONFIG`, ...), as the `sentinel` binary runs them.
pub fn app() -> App {
    build(None)
}

/// The app with the five flows, all using `config` (tests, embedding).
pub fn app_with_config(config: Config) -> App {
    build(Some(Arc::new(config)))
}

async fn open(config: Option<Arc<Config>>) -> anyhow::Result<Arc<Sentinel>> {
    Ok(match config {
        Some(c) => Arc::new(Sentinel::open(c.as_ref().clone()).await?),
        None => Sentinel::from_env().await?,
    })
}

fn build(config: Option<Arc<Config>>) -> App {
    let (c1, c2, c3, c4, c5) = (
        config.clone(),
        config.clone(),
        config.clone(),
        config.clone(),
        config,
    );
    App::new("sentinel")
        .flow("data-refresh-flow", move |ctx, p: DataRefreshParams| {
            let c = c1.clone();
            async move { data_refresh(ctx, p, open(c).await?).await }
        })
        .flow("trading-flow", move |ctx, p: TradingParams| {
            let c = c2.clone();
            async move { trading(ctx, p, open(c).await?).await }
        })
        .flow("full-system-flow", move |ctx, p: FullSystemParams| {
            let c = c3.clone();
            async move { full_system(ctx, p, open(c).await?).await }
        })
        .flow("data-collection-flow", move |ctx, p: CollectionParams| {
            let c = c4.clone();
            async move { data_collection(ctx, p, open(c).await?).await }
        })
        .flow("model-retraining-flow", move |ctx, p: RetrainingParams| {
            let c = c5.clone();
            async move { model_retraining(ctx, p, open(c).await?).await }
        })
}

/// True for errors a retry can fix (429, 5xx, network), so tasks retry only those.
pub fn is_transient(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<SentinelError>()
            .is_some_and(SentinelError::is_transient)
    })
}

/// A task that calls an external service: retried on transient errors per
/// the `[tasks]` configuration, with a timeout per attempt.
fn fetch_task(ctx: &FlowContext, s: &Sentinel, name: &str) -> TaskBuilder {
    let t = &s.config.tasks;
    ctx.task(name)
        .retries(t.fetch_retries)
        .retry_delay(secs(t.fetch_retry_delay_secs))
        .retry_if(is_transient)
        .timeout(secs(t.fetch_timeout_secs))
}

/// Runs one attempt of a fetch; when it fails with a 429 whose `Retry-After`
/// is longer than the task's retry delay, waits out the difference before
/// failing, so the task's next attempt comes no sooner than the service asked.
async fn honor_retry_after<T, F>(s: &Sentinel, attempt: F) -> crate::error::Result<T>
where
    F: std::future::Future<Output = crate::error::Result<T>>,
{
    let result = attempt.await;
    if let Err(SentinelError::RateLimited {
        retry_after_secs: Some(after),
        ..
    }) = &result
    {
        let t = &s.config.tasks;
        let wait = after
            .saturating_sub(t.fetch_retry_delay_secs)
            .min(t.fetch_timeout_secs / 2); // the wait counts toward the attempt's timeout
        if wait > 0 {
            tracing::warn!(
                "rate-limited: waiting {wait} s more (Retry-After {after} s) before the retry"
            );
            tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
        }
    }
    result
}
