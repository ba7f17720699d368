//! Price bars: the [`Bar`] type and the two sources, Yahoo Finance's chart
//! API ([`yahoo`]) and recorded files ([`replay`]).

pub mod binance;
pub mod csv;
pub mod replay;
pub mod replay_clock;
pub mod yahoo;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{Config, Source};
use crate::error::Result;

/// One OHLCV bar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bar {
    /// Ticker, e.g. `GOOG`.
    pub symbol: String,
    /// Yahoo interval name, e.g. `15m`, `1d`.
    pub interval: String,
    /// Start of the bar, Unix seconds.
    pub ts: i64,
    /// Open price.
    pub open: f64,
    /// High price.
    pub high: f64,
    /// Low price.
    pub low: f64,
    /// Close price.
    pub close: f64,
    /// Traded volume.
    pub volume: f64,
}

impl Bar {
    /// The bar's start as a date-time.
    pub fn time(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.ts, 0).unwrap_or_default()
    }
}

/// A symbol as a file or folder name: `BTC/USDT` is stored as `BTC-USDT`.
pub fn file_key(symbol: &str) -> String {
    symbol.replace(['/', '\\'], "-")
}

/// A time window `[start, end]` of bars to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// First instant included.
    pub start: DateTime<Utc>,
    /// Last instant included.
    pub end: DateTime<Utc>,
}

impl Window {
    /// The `days` days that end at `now`.
    pub fn last_days(now: DateTime<Utc>, days: u32) -> Window {
        Window {
            start: now - Duration::days(i64::from(days)),
            end: now,
        }
    }
    /// True when `ts` (Unix seconds) is inside.
    pub fn contains(&self, ts: i64) -> bool {
        ts >= self.start.timestamp() && ts <= self.end.timestamp()
    }
}

/// Where bars come from.
#[derive(Debug, Clone)]
pub enum PriceSource {
    /// Yahoo Finance's v8 chart API (or anything that speaks it).
    Yahoo(yahoo::YahooClient),
    /// A crypto exchange speaking Binance's klines format.
    Exchange(binance::ExchangeClient),
    /// A recording on disk.
    Replay(replay::Recording),
}

impl PriceSource {
    /// The source the configuration selects.
    pub fn from_config(config: &Config) -> Result<PriceSource> {
        Ok(match &config.source {
            Source::Live => PriceSource::Yahoo(yahoo::YahooClient::new(&config.market)?),
            Source::Replay(dir) => PriceSource::Replay(replay::Recording::open(dir)?),
        })
    }

    /// The source of the data-collection flow: the exchange when
    /// `collection.exchange = "binance"` and the source is live, else the
    /// market source (a replay reads the exchange's symbols from its files).
    pub fn for_collection(config: &Config) -> Result<PriceSource> {
        match (&config.source, config.collection.exchange.as_str()) {
            (Source::Live, "binance") => Ok(PriceSource::Exchange(binance::ExchangeClient::new(
                &config.collection,
                config.market.timeout_secs,
                &config.market.user_agent,
            )?)),
            _ => PriceSource::from_config(config),
        }
    }

    /// Bars of `symbol` at `interval` inside `window`, oldest first.
    pub async fn bars(&self, symbol: &str, interval: &str, window: Window) -> Result<Vec<Bar>> {
        let mut bars = match self {
            PriceSource::Yahoo(y) => y.bars(symbol, interval, window).await?,
            PriceSource::Exchange(x) => x.bars(symbol, interval, window).await?,
            PriceSource::Replay(r) => r.bars(symbol, interval, window)?,
        };
        bars.sort_by_key(|b| b.ts);
        Ok(bars)
    }

    /// A short name for logs and reports.
    pub fn describe(&self) -> String {
        match self {
            PriceSource::Yahoo(y) => format!("yahoo ({})", y.base_url()),
            PriceSource::Exchange(x) => format!("binance ({})", x.base_url()),
            PriceSource::Replay(r) => format!("replay ({})", r.dir().display()),
        }
    }
}
