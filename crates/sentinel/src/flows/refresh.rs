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

/// Refreshes bars and headlines; when every source came back empty, emits
/// the `no-data` event (automations alert on it) and fails with "no data
/// retrieved".
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
    if let Err(error) = ensure_some_data(&prices, &news) {
        let payload = serde_json::json!({
            "flow": "data-refresh-flow",
            "symbols": prices.per_symbol.keys().collect::<Vec<_>>(),
            "reason": error.to_string(),
        });
        if let Err(emit_error) = ctx.emit("no-data", payload).await {
            tracing::warn!(%emit_error, "could not record the no-data event");
        }
        return Err(error.into());
    }
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
