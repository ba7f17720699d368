//! Data collection (crypto history): fetch, validate, export a clean CSV
//! dataset with its validation report, and store the clean bars.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::app::Sentinel;
use crate::error::{Result, SentinelError};
use crate::market::{Bar, Window, csv};
use crate::validate::{self, ValidationReport};

/// What `data-collection-flow` returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    /// Ticker.
    pub symbol: String,
    /// Interval.
    pub interval: String,
    /// The exported CSV.
    pub path: PathBuf,
    /// Its validation report, also written next to it as JSON.
    pub report: ValidationReport,
    /// Clean bars newly stored in the database.
    pub stored: u64,
}

impl Sentinel {
    /// Fetches `days` of `symbol` at `interval`.
    pub async fn collect_history(
        &self,
        symbol: &str,
        interval: &str,
        days: u32,
    ) -> Result<Vec<Bar>> {
        if days == 0 {
            return Err(SentinelError::InvalidInput(
                "days must be at least 1".into(),
            ));
        }
        let bars = self
            .collection
            .bars(symbol, interval, Window::last_days(self.now(), days))
            .await?;
        if bars.is_empty() {
            return Err(SentinelError::NoData(format!(
                "no data retrieved: {} returned no {interval} bars of {symbol} in the last {days} days",
                self.collection.describe()
            )));
        }
        Ok(bars)
    }

    /// Validates collected bars. Weekends count as gaps only for symbols
    /// that trade on them (crypto pairs such as `BTC-USD`).
    pub fn validate_history(
        &self,
        bars: &[Bar],
        interval: &str,
    ) -> Result<(Vec<Bar>, ValidationReport)> {
        let crypto = bars.first().is_some_and(|b| is_crypto(&b.symbol));
        validate::validate(bars, interval, self.config.collection.outlier_z, !crypto)
    }

    /// Writes `DATA_DIR/datasets/<symbol>-<interval>-<last bar>.csv` and its
    /// `.report.json`, stores the clean bars and records the dataset.
    pub async fn save_dataset(&self, clean: &[Bar], report: &ValidationReport) -> Result<Dataset> {
        let last = clean
            .last()
            .ok_or_else(|| SentinelError::NoData("validation left no clean bars".into()))?;
        let dir = self.config.data_dir.join("datasets");
        let stem = format!(
            "{}-{}-{}",
            crate::market::file_key(&last.symbol),
            last.interval,
            last.time().format("%Y%m%dT%H%M%SZ")
        );
        let path = dir.join(format!("{stem}.csv"));
        csv::write_bars(&path, clean)?;
        let json = serde_json::to_string_pretty(report)
            .map_err(|e| SentinelError::InvalidInput(e.to_string()))?;
        let report_path = dir.join(format!("{stem}.report.json"));
        std::fs::write(&report_path, &json).map_err(|e| SentinelError::io(&report_path, e))?;
        let now = self.now().timestamp();
        let stored = self.store.upsert_bars(clean, now).await?.inserted;
        self.store
            .record_dataset(&last.symbol, &last.interval, &path, clean.len(), &json, now)
            .await?;
        Ok(Dataset {
            symbol: last.symbol.clone(),
            interval: last.interval.clone(),
            path,
            report: report.clone(),
            stored,
        })
    }
}

/// Crypto pairs trade every day: `BTC-USD`, `ETH-EUR`, `BTC/USDT`, `BTCUSDT`, ...
pub fn is_crypto(symbol: &str) -> bool {
    const CRYPTO: &[&str] = &[
        "BTC", "ETH", "SOL", "XRP", "ADA", "DOGE", "LTC", "BNB", "DOT", "AVAX",
    ];
    let upper = symbol.to_ascii_uppercase();
    match upper.split_once(['-', '/']) {
        Some((base, _)) => CRYPTO.contains(&base),
        None => ["USDT", "USDC", "BUSD", "USD", "EUR"]
            .iter()
            .any(|q| upper.strip_suffix(q).is_some_and(|b| CRYPTO.contains(&b))),
    }
}
