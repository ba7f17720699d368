//! The sections of the configuration file, with their defaults.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A replay clock that moves with wall time (see `market::replay_clock`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplayConfig {
    /// Recorded bars replayed per wall-clock minute (0.5 = one trading day
    /// every 2 minutes on daily bars); 0 keeps the recording's fixed clock.
    pub speed: f64,
    /// The first bar the replay stands after (default: one year before the
    /// recording's last bar).
    pub start: Option<DateTime<Utc>>,
    /// Restart at `start` after the last bar (bars, decisions and portfolio
    /// rows later than the restarted clock are forgotten).
    #[serde(rename = "loop")]
    pub looping: bool,
}

/// Price data settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MarketConfig {
    /// Base URL of Yahoo's chart API (the path `/v8/finance/chart/SYMBOL` is appended).
    pub yahoo_base_url: String,
    /// Bar interval used for refresh, training and trading (Yahoo's names: 15m, 1h, 1d, ...).
    pub interval: String,
    /// How many days of bars each refresh asks for.
    pub refresh_lookback_days: u32,
    /// HTTP timeout, seconds.
    pub timeout_secs: u64,
    /// User-Agent sent to Yahoo and feeds (Yahoo refuses some default agents).
    pub user_agent: String,
}

/// Market hours, in the exchange's time zone.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MarketHoursConfig {
    /// IANA time zone, e.g. `America/New_York`.
    pub timezone: String,
    /// Opening time, `HH:MM`.
    pub open: String,
    /// Closing time, `HH:MM` (exclusive).
    pub close: String,
    /// Trading days: `Mon`..`Sun`.
    pub days: Vec<String>,
    /// An exchange calendar whose sessions also bound the hours (`XNYS`:
    /// holidays and 13:00 early closes); `"none"` for plain hours.
    pub calendar: String,
}

/// One RSS or Atom feed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    /// Short name, used as the headline's source.
    pub name: String,
    /// The feed URL; `{symbol}` is replaced by each ticker (one request per symbol,
    /// headlines tied to that symbol).
    pub url: String,
}

/// News settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NewsConfig {
    /// RSS 2.0 / Atom feeds.
    pub feeds: Vec<FeedConfig>,
    /// NewsAPI base URL.
    pub newsapi_base_url: String,
    /// NewsAPI key; `NEWSAPI_KEY` overrides it. NewsAPI is skipped without one.
    pub newsapi_key: Option<String>,
    /// Articles asked from NewsAPI per symbol.
    pub newsapi_page_size: u32,
}

/// LSTM hyper-parameters and training settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// Bars in one input window.
    pub window: usize,
    /// LSTM hidden size.
    pub hidden: usize,
    /// Training epochs.
    pub epochs: usize,
    /// Mini-batch size.
    pub batch_size: usize,
    /// AdamW learning rate.
    pub learning_rate: f64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Fraction of the samples held back (the most recent ones) for validation.
    pub validation_fraction: f64,
    /// Retraining skips while the active model is younger than this (days,
    /// by sentinel's clock) and has not degraded; `force=true` retrains anyway.
    pub max_model_age_days: f64,
    /// Retraining is due when the active model's RMSE on bars newer than its
    /// validation window exceeds its validation RMSE by this fraction.
    pub max_degradation: f64,
    /// Seed of weight initialisation and batch shuffling.
    pub seed: u64,
    /// Days of history the retraining flow collects when not given.
    pub default_days: u32,
    /// A candidate is activated only if its validation RMSE is lower than the
    /// active model's by at least this fraction (0.0 = strictly lower).
    pub min_improvement: f64,
    /// When no model of a symbol has ever been trained (a fresh install), the
    /// trading flow trains the first ones (return and volatility models, over
    /// `default_days`) before deciding, so the first decision has every
    /// signal; `model-retraining-flow` keeps them fresh afterwards. The
    /// activation rule applies as always.
    pub train_at_first_start: bool,
}

/// Signal fusion.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecisionConfig {
    /// Weight of the LSTM signal.
    pub lstm_weight: f64,
    /// Weight of news sentiment.
    pub sentiment_weight: f64,
    /// Weight of price momentum.
    pub momentum_weight: f64,
    /// Score at or above which the decision is BUY.
    pub buy_threshold: f64,
    /// Score at or below which the decision is SELL.
    pub sell_threshold: f64,
    /// Below this confidence the decision is HOLD whatever the score.
    pub min_confidence: f64,
    /// Bars over which momentum is measured.
    pub momentum_bars: usize,
    /// Headlines younger than this count for sentiment.
    pub sentiment_window_hours: i64,
    /// HOLD when the volatility forecast is at least this multiple of its normal level.
    pub extreme_volatility_ratio: f64,
    /// Annualised volatility a position is sized to (with a volatility model).
    pub target_volatility: f64,
    /// Largest position, as a fraction of equity.
    pub max_position: f64,
}

/// The paper portfolio that follows the decisions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PortfolioConfig {
    /// Starting cash per symbol.
    pub initial_cash: f64,
    /// Cost of a trade, basis points of the traded value (commission + spread + slippage).
    pub cost_bps: f64,
    /// SELL opens a short position (else SELL only exits to cash).
    pub allow_short: bool,
    /// Trades smaller than this change of weight are skipped (less churn).
    pub rebalance_threshold: f64,
}

impl Default for PortfolioConfig {
    fn default() -> Self {
        PortfolioConfig {
            initial_cash: 100_000.0,
            cost_bps: 10.0,
            allow_short: false,
            rebalance_threshold: 0.05,
        }
    }
}

/// Retries of the tasks that call Yahoo, feeds and NewsAPI (rate limits and
/// 5xx answers go through them; permanent errors are not retried).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TasksConfig {
    /// Retries after the first attempt.
    pub fetch_retries: u32,
    /// Seconds between attempts.
    pub fetch_retry_delay_secs: u64,
    /// Seconds one attempt may take.
    pub fetch_timeout_secs: u64,
}

impl Default for TasksConfig {
    fn default() -> Self {
        TasksConfig {
            fetch_retries: 2,
            fetch_retry_delay_secs: 30,
            fetch_timeout_secs: 120,
        }
    }
}

/// Data collection (crypto history) and validation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CollectionConfig {
    /// Where collection reads bars: `yahoo` (the market source) or `binance`
    /// (a crypto exchange speaking Binance's klines REST format).
    pub exchange: String,
    /// Base URL of the exchange's REST API (`/api/v3/klines` is appended).
    pub exchange_base_url: String,
    /// Default symbol (`BTC-USD` for Yahoo, `BTC/USDT` for an exchange).
    pub symbol: String,
    /// Bar interval collected.
    pub interval: String,
    /// Days collected when not given.
    pub default_days: u32,
    /// A return whose robust z-score (median/MAD) exceeds this is an outlier.
    pub outlier_z: f64,
}

impl Default for MarketConfig {
    fn default() -> Self {
        MarketConfig {
            yahoo_base_url: "https://query1.finance.yahoo.com".into(),
            interval: "15m".into(),
            refresh_lookback_days: 5,
            timeout_secs: 30,
            user_agent: format!(
                "Mozilla/5.0 (compatible; sentinel/{})",
                env!("CARGO_PKG_VERSION")
            ),
        }
    }
}

impl Default for MarketHoursConfig {
    fn default() -> Self {
        MarketHoursConfig {
            timezone: "America/New_York".into(),
            open: "09:30".into(),
            close: "16:00".into(),
            days: ["Mon", "Tue", "Wed", "Thu", "Fri"]
                .map(String::from)
                .to_vec(),
            calendar: "XNYS".into(),
        }
    }
}

impl Default for NewsConfig {
    fn default() -> Self {
        NewsConfig {
            feeds: vec![FeedConfig {
                name: "yahoo-headlines".into(),
                url: "https://feeds.finance.yahoo.com/rss/2.0/headline?s={symbol}&region=US&lang=en-US".into(),
            }],
            newsapi_base_url: "https://newsapi.org".into(),
            newsapi_key: None,
            newsapi_page_size: 50,
        }
    }
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            window: 20,
            hidden: 32,
            epochs: 30,
            batch_size: 64,
            learning_rate: 1e-3,
            weight_decay: 1e-4,
            validation_fraction: 0.2,
            max_model_age_days: 7.0,
            max_degradation: 0.25,
            seed: 7,
            default_days: 59,
            min_improvement: 0.0,
            train_at_first_start: true,
        }
    }
}

impl Default for DecisionConfig {
    fn default() -> Self {
        DecisionConfig {
            lstm_weight: 0.5,
            sentiment_weight: 0.3,
            momentum_weight: 0.2,
            buy_threshold: 0.25,
            sell_threshold: -0.25,
            min_confidence: 0.3,
            momentum_bars: 10,
            sentiment_window_hours: 24,
            extreme_volatility_ratio: 3.0,
            target_volatility: 0.15,
            max_position: 1.0,
        }
    }
}

impl Default for CollectionConfig {
    fn default() -> Self {
        CollectionConfig {
            exchange: "yahoo".into(),
            exchange_base_url: crate::market::binance::DEFAULT_BASE_URL.into(),
            symbol: "BTC-USD".into(),
            interval: "1d".into(),
            default_days: 365,
            outlier_z: 8.0,
        }
    }
}
