//! `data-refresh-flow`: prices and news in parallel, sentiment, storage.

use std::sync::Arc;

use orch_sdk::FlowContext;
use serde::Deserialize;

use super::fetch_task;
use crate::app::Sentinel;
use crate::pipeline::refresh::{RefreshSummary, ensure_some_data};

/// Parameters of `data-refresh-flow`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataRefreshParams {
    /// Days of bars to ask for (default `market.refresh_lookback_days`).
    pub lookback_days: Option<u32>,
}

/// Refreshes bars and headlines; fails with "no data retrieved" when every
/// source came back empty.
pub async fn data_refresh(
    ctx: FlowContext,
    p: DataRefreshParams,
    s: Arc<Sentinel>,
) -> anyhow::Result<RefreshSummary> {
    let (prices, news) = tokio::try_join!(
        fetch_task(&ctx, &s, "fetch-prices")
            .tag("yahoo")
            .run(|| s.fetch_prices(p.lookback_days)),
        fetch_task(&ctx, &s, "fetch-news")
            .tag("news")
            .run(|| s.fetch_news()),
    )?;
    ensure_some_data(&prices, &news)?;
    let scored = ctx
        .task("score-sentiment")
        .run(|| async { Ok::<_, anyhow::Error>(s.score_headlines(news.headlines.clone())) })
        .await?;
    let summary = ctx
        .task("store")
        .run(|| s.store_refresh(&prices, &news, &scored))
        .await?
        .into_inner();
    tracing::info!(
        bars_new = summary.bars_inserted,
        headlines_new = summary.headlines_inserted,
        "refreshed: {} bars ({} new), {} headlines ({} new)",
        summary.bars_fetched,
        summary.bars_inserted,
        summary.headlines_fetched,
        summary.headlines_inserted
    );
    Ok(summary)
}
