//! Data refresh: bars of every symbol, headlines of every feed (and NewsAPI),
//! sentiment, storage without duplicates.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::app::Sentinel;
use crate::error::{Result, SentinelError};
use crate::market::{Bar, Window};
use crate::news::{Headline, NewsFetch};
use crate::store::ScoredHeadline;

/// What one price fetch brought back.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PriceFetch {
    /// The bars, all symbols.
    pub bars: Vec<Bar>,
    /// Bars per symbol.
    pub per_symbol: BTreeMap<String, usize>,
    /// Symbols that failed permanently (reported, not retried).
    pub problems: Vec<String>,
}

/// The result of a refresh, returned by `data-refresh-flow`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RefreshSummary {
    /// Bars received.
    pub bars_fetched: usize,
    /// Bars that were new.
    pub bars_inserted: u64,
    /// Stored bars whose values changed (the in-progress bar).
    pub bars_updated: u64,
    /// Headlines received.
    pub headlines_fetched: usize,
    /// Headlines that were new.
    pub headlines_inserted: u64,
    /// Mean sentiment of the headlines received.
    pub mean_sentiment: Option<f64>,
    /// Bars per symbol.
    pub bars_per_symbol: BTreeMap<String, usize>,
    /// Sources that failed permanently.
    pub problems: Vec<String>,
    /// Sources skipped.
    pub skipped: Vec<String>,
}

impl Sentinel {
    /// Fetches the last `lookback_days` (default `market.refresh_lookback_days`)
    /// of bars of every symbol. A transient failure (429, 5xx, network) fails
    /// the fetch so the task retry can try again; a permanent one is reported
    /// and skipped.
    pub async fn fetch_prices(&self, lookback_days: Option<u32>) -> Result<PriceFetch> {
        let days = lookback_days.unwrap_or(self.config.market.refresh_lookback_days);
        let window = Window::last_days(self.now(), days);
        let interval = &self.config.market.interval;
        let mut out = PriceFetch::default();
        for symbol in self.config.tickers() {
            match self.prices.bars(&symbol, interval, window).await {
                Ok(bars) => {
                    tracing::info!(symbol = %symbol, bars = bars.len(), "fetched bars from {}", self.prices.describe());
                    out.per_symbol.insert(symbol, bars.len());
                    out.bars.extend(bars);
                }
                Err(e) if e.is_transient() => return Err(e),
                Err(e) => {
                    tracing::warn!(symbol = %symbol, "price fetch failed: {e}");
                    out.problems.push(format!("{symbol}: {e}"));
                }
            }
        }
        Ok(out)
    }

    /// Fetches headlines from every configured news source.
    pub async fn fetch_news(&self) -> Result<NewsFetch> {
        let fetch = self.news.fetch(&self.config.symbols).await?;
        tracing::info!(
            headlines = fetch.headlines.len(),
            sources = fetch.sources.len(),
            "fetched headlines"
        );
        Ok(fetch)
    }

    /// Scores each headline's sentiment.
    pub fn score_headlines(&self, headlines: Vec<Headline>) -> Vec<ScoredHeadline> {
        headlines
            .into_iter()
            .map(|h| {
                let s = self.scorer.score(&h.text());
                ScoredHeadline {
                    headline: h,
                    sentiment: s.score,
                    scorer: self.scorer.name().to_string(),
                }
            })
            .collect()
    }

    /// Stores bars and scored headlines (de-duplicated by natural keys).
    pub async fn store_refresh(
        &self,
        prices: &PriceFetch,
        news: &NewsFetch,
        scored: &[ScoredHeadline],
    ) -> Result<RefreshSummary> {
        let now = self.now().timestamp();
        let bars = self.store.upsert_bars(&prices.bars, now).await?;
        let headlines_inserted = self.store.insert_headlines(scored, now).await?;
        let mean_sentiment = (!scored.is_empty())
            .then(|| scored.iter().map(|s| s.sentiment).sum::<f64>() / scored.len() as f64);
        Ok(RefreshSummary {
            bars_fetched: prices.bars.len(),
            bars_inserted: bars.inserted,
            bars_updated: bars.updated,
            headlines_fetched: scored.len(),
            headlines_inserted,
            mean_sentiment,
            bars_per_symbol: prices.per_symbol.clone(),
            problems: prices
                .problems
                .iter()
                .chain(&news.problems)
                .cloned()
                .collect(),
            skipped: news.skipped.clone(),
        })
    }

    /// The whole refresh in one call (the flow runs the same steps as tasks).
    pub async fn refresh(&self, lookback_days: Option<u32>) -> Result<RefreshSummary> {
        let prices = self.fetch_prices(lookback_days).await?;
        let news = self.fetch_news().await?;
        ensure_some_data(&prices, &news)?;
        let scored = self.score_headlines(news.headlines.clone());
        self.store_refresh(&prices, &news, &scored).await
    }
}

/// Fails with "no data retrieved" when every source came back empty, naming
/// what was asked and what went wrong.
pub fn ensure_some_data(prices: &PriceFetch, news: &NewsFetch) -> Result<()> {
    if !prices.bars.is_empty() || !news.headlines.is_empty() {
        return Ok(());
    }
    let mut detail = vec![format!(
        "prices: 0 bars for {}",
        if prices.per_symbol.is_empty() {
            "no symbol".to_string()
        } else {
            prices
                .per_symbol
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        }
    )];
    detail.push(format!(
        "news: 0 headlines from {} source(s)",
        news.sources.len()
    ));
    detail.extend(prices.problems.iter().chain(&news.problems).cloned());
    detail.extend(news.skipped.iter().cloned());
    Err(SentinelError::NoData(format!(
        "every source came back empty ({}); check the symbols, the feeds, market.interval and the clock",
        detail.join("; ")
    )))
}
