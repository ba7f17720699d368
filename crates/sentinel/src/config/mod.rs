//! sentinel's configuration: one TOML file with defaults for everything.
//!
//! The file is `$SENTINEL_CONFIG` if set, else `sentinel.toml` next to the
//! binary, else `./sentinel.toml`; with none of them the defaults apply.
//! Environment overrides: `NEWSAPI_KEY`, `SENTINEL_SOURCE` (`live` or
//! `replay:DIR`), `SENTINEL_DATA_DIR`, `SENTINEL_NOW` (a fixed RFC 3339 clock).
//! Relative paths in the file are relative to the file's folder.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Result, SentinelError};
use crate::market_hours::MarketHours;

mod sections;
pub use sections::*;

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where sentinel keeps its database, models and datasets.
    pub data_dir: PathBuf,
    /// `live` (Yahoo, RSS, NewsAPI) or `replay:DIR` (recorded files).
    pub source: Source,
    /// A fixed clock (RFC 3339), for replays and backtests; `None` is the
    /// system clock (or, for a replay, the recording's own clock).
    pub clock: Option<DateTime<Utc>>,
    /// The traded symbols.
    pub symbols: Vec<SymbolSpec>,
    /// Price data.
    pub market: MarketConfig,
    /// When the market is open.
    pub market_hours: MarketHoursConfig,
    /// News sources.
    pub news: NewsConfig,
    /// LSTM hyper-parameters and the activation rule.
    pub model: ModelConfig,
    /// Signal fusion weights and thresholds.
    pub decision: DecisionConfig,
    /// Data collection and validation (crypto history).
    pub collection: CollectionConfig,
    /// The paper portfolio.
    pub portfolio: PortfolioConfig,
    /// Retries of the tasks that call external services.
    pub tasks: TasksConfig,
    /// A replay clock that moves (offline demos).
    pub replay: ReplayConfig,
    /// The file this was loaded from, if any.
    #[serde(skip)]
    pub loaded_from: Option<PathBuf>,
}

/// Where market data and news come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Source {
    /// Yahoo Finance, RSS/Atom feeds and NewsAPI over HTTP.
    Live,
    /// Recorded bars and feeds in a folder (see the crate README).
    Replay(PathBuf),
}

impl FromStr for Source {
    type Err = SentinelError;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "live" => Ok(Source::Live),
            other => match other.strip_prefix("replay:") {
                Some(dir) if !dir.is_empty() => Ok(Source::Replay(PathBuf::from(dir))),
                _ => Err(SentinelError::InvalidConfig(format!(
                    "source {other:?}: expected \"live\" or \"replay:DIR\""
                ))),
            },
        }
    }
}

impl TryFrom<String> for Source {
    type Error = SentinelError;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<Source> for String {
    fn from(s: Source) -> String {
        match s {
            Source::Live => "live".into(),
            Source::Replay(dir) => format!("replay:{}", dir.display()),
        }
    }
}

/// A traded symbol: a ticker alone, or a ticker with the names that identify
/// it in headlines (`{ ticker = "GOOG", names = ["Google", "Alphabet"] }`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SymbolSpec {
    /// Just the ticker.
    Ticker(String),
    /// Ticker and names.
    Full {
        /// Yahoo ticker, e.g. `GOOG`, `BTC-USD`.
        ticker: String,
        /// Words that tie a headline to this symbol.
        #[serde(default)]
        names: Vec<String>,
    },
}

impl SymbolSpec {
    /// The ticker.
    pub fn ticker(&self) -> &str {
        match self {
            SymbolSpec::Ticker(t) | SymbolSpec::Full { ticker: t, .. } => t,
        }
    }
    /// The ticker followed by the configured names.
    pub fn keywords(&self) -> Vec<String> {
        match self {
            SymbolSpec::Ticker(t) => vec![t.clone()],
            SymbolSpec::Full { ticker, names } => std::iter::once(ticker.clone())
                .chain(names.iter().cloned())
                .collect(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        Config {
            data_dir: home.map_or_else(|| PathBuf::from(".sentinel"), |h| h.join(".sentinel")),
            source: Source::Live,
            clock: None,
            symbols: vec![
                SymbolSpec::Full {
                    ticker: "AAPL".into(),
                    names: vec!["Apple".into(), "iPhone".into()],
                },
                SymbolSpec::Full {
                    ticker: "MSFT".into(),
                    names: vec!["Microsoft".into()],
                },
                SymbolSpec::Full {
                    ticker: "GOOG".into(),
                    names: vec!["Google".into(), "Alphabet".into()],
                },
            ],
            market: MarketConfig::default(),
            market_hours: MarketHoursConfig::default(),
            news: NewsConfig::default(),
            model: ModelConfig::default(),
            decision: DecisionConfig::default(),
            collection: CollectionConfig::default(),
            portfolio: PortfolioConfig::default(),
            tasks: TasksConfig::default(),
            replay: ReplayConfig::default(),
            loaded_from: None,
        }
    }
}

impl Config {
    /// Finds, reads and validates the configuration, then applies the
    /// environment overrides.
    pub fn load() -> Result<Config> {
        let explicit = std::env::var_os("SENTINEL_CONFIG").map(PathBuf::from);
        let path = match explicit {
            Some(p) if !p.exists() => {
                return Err(SentinelError::Config {
                    path: p,
                    message: "SENTINEL_CONFIG names a file that does not exist".into(),
                });
            }
            Some(p) => Some(p),
            None => {
                let beside_exe = std::env::current_exe()
                    .ok()
                    .and_then(|e| e.parent().map(|d| d.join("sentinel.toml")));
                beside_exe
                    .filter(|p| p.exists())
                    .or_else(|| Some(PathBuf::from("sentinel.toml")).filter(|p| p.exists()))
            }
        };
        let mut config = match &path {
            Some(p) => Config::from_file(p)?,
            None => Config::default(),
        };
        config.apply_env(|k| std::env::var(k).ok())?;
        config.validate()?;
        Ok(config)
    }

    /// Reads one file (no environment overrides, not validated).
    pub fn from_file(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| SentinelError::io(path, e))?;
        let mut config = Config::from_toml(&text).map_err(|message| SentinelError::Config {
            path: path.to_path_buf(),
            message,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.data_dir = base.join(&config.data_dir);
        if let Source::Replay(dir) = &config.source {
            config.source = Source::Replay(base.join(dir));
        }
        config.loaded_from = Some(path.to_path_buf());
        Ok(config)
    }

    /// Parses TOML text; the error names the line and the offending key.
    pub fn from_toml(text: &str) -> std::result::Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())
    }

    /// Applies `NEWSAPI_KEY`, `SENTINEL_SOURCE`, `SENTINEL_DATA_DIR`, `SENTINEL_NOW`
    /// as read by `get`.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<()> {
        if let Some(key) = get("NEWSAPI_KEY").filter(|k| !k.trim().is_empty()) {
            self.news.newsapi_key = Some(key.trim().to_string());
        }
        if let Some(source) = get("SENTINEL_SOURCE").filter(|s| !s.is_empty()) {
            self.source = source
                .parse()
                .map_err(|e| SentinelError::InvalidConfig(format!("SENTINEL_SOURCE: {e}")))?;
        }
        if let Some(dir) = get("SENTINEL_DATA_DIR").filter(|s| !s.is_empty()) {
            self.data_dir = PathBuf::from(dir);
        }
        if let Some(now) = get("SENTINEL_NOW").filter(|s| !s.is_empty()) {
            let at = DateTime::parse_from_rfc3339(&now).map_err(|e| {
                SentinelError::InvalidConfig(format!(
                    "SENTINEL_NOW={now:?}: {e}; expected RFC 3339, e.g. 2013-03-01T15:00:00-05:00"
                ))
            })?;
            self.clock = Some(at.with_timezone(&Utc));
        }
        Ok(())
    }

    /// Checks values that the types cannot.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(SentinelError::InvalidConfig(m));
        if self.symbols.is_empty() {
            return bad(
                "symbols is empty: list at least one ticker, e.g. symbols = [\"GOOG\"]".into(),
            );
        }
        if let Some(s) = self.symbols.iter().find(|s| s.ticker().trim().is_empty()) {
            return bad(format!("symbols contains an empty ticker: {s:?}"));
        }
        MarketHours::from_config(&self.market_hours)?;
        let m = &self.model;
        if m.window < 2 || m.hidden == 0 || m.epochs == 0 || m.batch_size == 0 {
            return bad("model: window must be >= 2 and hidden, epochs, batch_size >= 1".into());
        }
        if !(0.05..=0.5).contains(&m.validation_fraction) {
            return bad(format!(
                "model.validation_fraction = {}: use 0.05..=0.5",
                m.validation_fraction
            ));
        }
        if m.learning_rate <= 0.0 || m.min_improvement < 0.0 {
            return bad("model: learning_rate must be > 0 and min_improvement >= 0".into());
        }
        let d = &self.decision;
        if d.sell_threshold >= d.buy_threshold {
            return bad(format!(
                "decision: sell_threshold ({}) must be below buy_threshold ({})",
                d.sell_threshold, d.buy_threshold
            ));
        }
        if d.lstm_weight < 0.0 || d.sentiment_weight < 0.0 || d.momentum_weight < 0.0 {
            return bad("decision: weights must be >= 0".into());
        }
        if d.lstm_weight + d.sentiment_weight + d.momentum_weight <= 0.0 {
            return bad("decision: at least one weight must be > 0".into());
        }
        for f in &self.news.feeds {
            if !(f.url.starts_with("http://") || f.url.starts_with("https://")) {
                return bad(format!(
                    "news.feeds {:?}: url must start with http:// or https://",
                    f.name
                ));
            }
        }
        if !["yahoo", "binance"].contains(&self.collection.exchange.as_str()) {
            return bad(format!(
                "collection.exchange = {:?}: use \"yahoo\" or \"binance\"",
                self.collection.exchange
            ));
        }
        if !(d.max_position > 0.0 && d.target_volatility > 0.0 && d.extreme_volatility_ratio > 1.0)
        {
            return bad("decision: max_position and target_volatility must be > 0, extreme_volatility_ratio > 1".into());
        }
        let p = &self.portfolio;
        if !(p.initial_cash > 0.0 && p.cost_bps >= 0.0 && p.rebalance_threshold >= 0.0) {
            return bad(
                "portfolio: initial_cash must be > 0, cost_bps and rebalance_threshold >= 0".into(),
            );
        }
        if m.max_model_age_days < 0.0 || m.max_degradation < 0.0 {
            return bad("model: max_model_age_days and max_degradation must be >= 0".into());
        }
        if !(self.replay.speed.is_finite() && self.replay.speed >= 0.0) {
            return bad(format!(
                "replay.speed = {}: use bars per wall-clock minute >= 0 (0 = a fixed clock)",
                self.replay.speed
            ));
        }
        if self.collection.outlier_z <= 0.0 {
            return bad("collection.outlier_z must be > 0".into());
        }
        Ok(())
    }

    /// The tickers, in order.
    pub fn tickers(&self) -> Vec<String> {
        self.symbols
            .iter()
            .map(|s| s.ticker().to_string())
            .collect()
    }

    /// The path of sentinel's SQLite database.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("sentinel.db")
    }

    /// The folder of the model registry.
    pub fn models_dir(&self) -> PathBuf {
        self.data_dir.join("models")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn the_example_file_parses_and_states_the_defaults() {
        let c = Config::from_toml(include_str!("../../sentinel.example.toml")).unwrap();
        c.validate().unwrap();
        let d = Config::default();
        assert_eq!(c.model, d.model);
        assert_eq!(c.tickers(), d.tickers());
        assert_eq!(
            toml::to_string(&c.decision).unwrap(),
            toml::to_string(&d.decision).unwrap()
        );
        assert_eq!(
            toml::to_string(&c.news).unwrap(),
            toml::to_string(&d.news).unwrap()
        );
    }

    #[test]
    fn unknown_keys_are_refused_with_their_name() {
        let err = Config::from_toml("[model]\nwindw = 3\n").unwrap_err();
        assert!(err.contains("windw"), "{err}");
    }

    #[test]
    fn symbols_accept_tickers_and_tables() {
        let c = Config::from_toml(
            "symbols = [\"AAPL\", { ticker = \"GOOG\", names = [\"Alphabet\"] }]\n",
        )
        .unwrap();
        assert_eq!(c.tickers(), ["AAPL", "GOOG"]);
        assert_eq!(c.symbols[1].keywords(), ["GOOG", "Alphabet"]);
    }

    #[test]
    fn env_overrides_apply() {
        let mut c = Config::default();
        c.apply_env(|k| match k {
            "NEWSAPI_KEY" => Some("k1".into()),
            "SENTINEL_SOURCE" => Some("replay:/tmp/rec".into()),
            "SENTINEL_NOW" => Some("2013-03-01T15:00:00-05:00".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.news.newsapi_key.as_deref(), Some("k1"));
        assert_eq!(c.source, Source::Replay("/tmp/rec".into()));
        assert_eq!(c.clock.unwrap().to_rfc3339(), "2013-03-01T20:00:00+00:00");
        let err = c
            .apply_env(|k| (k == "SENTINEL_SOURCE").then(|| "s3://x".into()))
            .unwrap_err();
        assert!(err.to_string().contains("replay:DIR"), "{err}");
    }

    #[test]
    fn inverted_thresholds_are_refused() {
        let mut c = Config::default();
        c.decision.sell_threshold = 0.5;
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("sell_threshold")
        );
    }
}
