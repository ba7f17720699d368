//! A crypto exchange's market data in Binance's public REST format:
//! `GET {base}/api/v3/klines?symbol=BTCUSDT&interval=1d&startTime=..&endTime=..&limit=1000`
//! answers an array of klines, each an array
//! `[open time ms, "open", "high", "low", "close", "volume", close time ms,
//! "quote volume", trades, "taker base", "taker quote", "ignore"]`.
//!
//! A request returns at most 1,000 klines, so long histories are paged by
//! `startTime`. A 429 (with `Retry-After`) is transient: the task retry tries
//! again after at least that long (see `flows::honor_retry_after`). A 418 means
//! the exchange has banned this IP for ignoring 429s: fatal, with what to do.

use chrono::Duration;
use reqwest::header::HeaderMap;
use serde_json::Value;

use super::{Bar, Window};
use crate::config::CollectionConfig;
use crate::error::{Result, SentinelError};
use crate::http;

/// The most klines one request returns.
pub const PAGE_LIMIT: usize = 1000;

/// Binance's own REST endpoint.
pub const DEFAULT_BASE_URL: &str = "https://api.binance.com";

/// A client of the klines endpoint.
#[derive(Debug, Clone)]
pub struct ExchangeClient {
    http: reqwest::Client,
    base_url: String,
}

/// `BTC/USDT` (seed style, as ccxt writes pairs), `BTC-USDT` or `btcusdt`
/// become the exchange's symbol `BTCUSDT`.
pub fn exchange_symbol(symbol: &str) -> Result<String> {
    let out: String = symbol
        .trim()
        .chars()
        .filter(|c| !matches!(c, '/' | '-' | '_'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if out.len() < 2 || !out.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(SentinelError::InvalidInput(format!(
            "exchange symbol {symbol:?}: expected a pair such as \"BTC/USDT\" (or BTCUSDT)"
        )));
    }
    Ok(out)
}

/// The exchange's name for a bar interval (Yahoo-style names accepted:
/// `60m` = `1h`, `1wk` = `1w`, `1mo` = `1M`), with its length.
pub fn exchange_interval(interval: &str) -> Result<(&'static str, Duration)> {
    const KNOWN: &[(&str, &[&str], i64)] = &[
        ("1m", &["1m"], 60),
        ("3m", &["3m"], 180),
        ("5m", &["5m"], 300),
        ("15m", &["15m"], 900),
        ("30m", &["30m"], 1800),
        ("1h", &["1h", "60m"], 3600),
        ("2h", &["2h"], 7200),
        ("4h", &["4h"], 14_400),
        ("6h", &["6h"], 21_600),
        ("8h", &["8h"], 28_800),
        ("12h", &["12h"], 43_200),
        ("1d", &["1d"], 86_400),
        ("3d", &["3d"], 259_200),
        ("1w", &["1w", "1wk"], 604_800),
        ("1M", &["1M", "1mo"], 2_592_000),
    ];
    KNOWN
        .iter()
        .find(|(_, names, _)| names.contains(&interval))
        .map(|(name, _, secs)| (*name, Duration::seconds(*secs)))
        .ok_or_else(|| {
            SentinelError::InvalidInput(format!(
                "interval {interval:?} is not an exchange kline interval; use one of {}",
                KNOWN.iter().map(|k| k.0).collect::<Vec<_>>().join(", ")
            ))
        })
}

impl ExchangeClient {
    /// A client for `config.exchange_base_url`.
    pub fn new(config: &CollectionConfig, timeout_secs: u64, user_agent: &str) -> Result<Self> {
        let base_url = config.exchange_base_url.trim_end_matches('/').to_string();
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(SentinelError::InvalidConfig(format!(
                "collection.exchange_base_url = {base_url:?}: expected an http(s) URL such as {DEFAULT_BASE_URL}"
            )));
        }
        Ok(ExchangeClient {
            http: http::client(timeout_secs, user_agent)?,
            base_url,
        })
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The klines URL of one page.
    pub fn klines_url(&self, pair: &str, interval: &str, start_ms: i64, end_ms: i64) -> String {
        format!(
            "{}/api/v3/klines?symbol={pair}&interval={interval}&startTime={start_ms}&endTime={end_ms}&limit={PAGE_LIMIT}",
            self.base_url
        )
    }

    /// Every kline of `symbol` opened inside `window`, oldest first, paged
    /// 1,000 at a time. Bars carry the symbol as given (e.g. `BTC/USDT`).
    pub async fn bars(&self, symbol: &str, interval: &str, window: Window) -> Result<Vec<Bar>> {
        let pair = exchange_symbol(symbol)?;
        let (name, _) = exchange_interval(interval)?;
        let end_ms = window.end.timestamp_millis();
        let mut start_ms = window.start.timestamp_millis();
        let mut out: Vec<Bar> = Vec::new();
        while start_ms <= end_ms {
            let url = self.klines_url(&pair, name, start_ms, end_ms);
            let body = match http::get_bytes(&self.http, "binance", &url, HeaderMap::new()).await {
                Err(SentinelError::Http {
                    status: 418, url, ..
                }) => {
                    return Err(SentinelError::Http {
                        service: "binance".into(),
                        url,
                        status: 418,
                        body: "the exchange has banned this IP address for sending requests after \
                               429 rate-limit answers (bans last 2 minutes to 3 days); stop the \
                               collection schedules, wait for the ban to expire, then collect fewer \
                               days per run or less often"
                            .into(),
                    });
                }
                other => other?,
            };
            let page = parse_klines(&body, symbol, interval, &url)?;
            let Some(last_open) = page.last().map(|b| b.ts * 1000) else {
                break;
            };
            let full = page.len() >= PAGE_LIMIT;
            out.extend(page.into_iter().filter(|b| window.contains(b.ts)));
            if !full || last_open < start_ms {
                break;
            }
            start_ms = last_open + 1;
        }
        out.sort_by_key(|b| b.ts);
        out.dedup_by_key(|b| b.ts);
        Ok(out)
    }
}

/// Parses one klines answer (`what` names it in errors).
pub fn parse_klines(body: &[u8], symbol: &str, interval: &str, what: &str) -> Result<Vec<Bar>> {
    let err = |message: String| SentinelError::Parse {
        what: what.to_string(),
        message,
    };
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        err(format!(
            "not JSON ({e}); is collection.exchange_base_url pointing at the exchange's REST API?"
        ))
    })?;
    let rows = match value {
        Value::Array(rows) => rows,
        Value::Object(o) if o.contains_key("msg") => {
            return Err(err(format!(
                "exchange error {}: {}",
                o.get("code").unwrap_or(&Value::Null),
                o["msg"]
            )));
        }
        other => return Err(err(format!("expected an array of klines, got {other}"))),
    };
    let num = |row: &[Value], i: usize| -> Result<f64> {
        match row.get(i) {
            Some(Value::String(s)) => s.parse::<f64>().ok(),
            Some(Value::Number(n)) => n.as_f64(),
            _ => None,
        }
        .ok_or_else(|| err(format!("kline {row:?}: field {i} is not a number")))
    };
    rows.iter()
        .map(|row| {
            let row = row
                .as_array()
                .filter(|r| r.len() >= 6)
                .ok_or_else(|| err(format!("kline {row}: expected an array of 6+ fields")))?;
            let open_ms = row[0]
                .as_i64()
                .ok_or_else(|| err(format!("kline {row:?}: open time is not an integer")))?;
            Ok(Bar {
                symbol: symbol.to_string(),
                interval: interval.to_string(),
                ts: open_ms.div_euclid(1000),
                open: num(row, 1)?,
                high: num(row, 2)?,
                low: num(row, 3)?,
                close: num(row, 4)?,
                volume: num(row, 5)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_style_pairs_map_to_exchange_symbols() {
        assert_eq!(exchange_symbol("BTC/USDT").unwrap(), "BTCUSDT");
        assert_eq!(exchange_symbol("eth-usdt").unwrap(), "ETHUSDT");
        assert_eq!(exchange_symbol("BTCUSDT").unwrap(), "BTCUSDT");
        assert!(exchange_symbol("BTC USDT").is_err());
        assert!(exchange_symbol("/").is_err());
    }

    #[test]
    fn intervals_map_to_the_exchange_names() {
        assert_eq!(exchange_interval("1mo").unwrap().0, "1M");
        assert_eq!(exchange_interval("60m").unwrap().0, "1h");
        assert_eq!(exchange_interval("1d").unwrap().1, Duration::days(1));
        let e = exchange_interval("90m").unwrap_err().to_string();
        assert!(e.contains("1h") && e.contains("90m"), "{e}");
    }

    #[test]
    fn parses_real_shaped_klines_and_exchange_errors() {
        let body = br#"[[1499040000000,"0.01634790","0.80000000","0.01575800","0.01577100","148976.11427815",1499644799999,"2434.19055334",308,"1756.87402397","28.46694368","0"]]"#;
        let bars = parse_klines(body, "BTC/USDT", "1d", "t").unwrap();
        assert_eq!(bars[0].ts, 1_499_040_000);
        assert_eq!((bars[0].open, bars[0].close), (0.0163479, 0.015771));
        assert_eq!(bars[0].symbol, "BTC/USDT");
        let e = parse_klines(br#"{"code":-1121,"msg":"Invalid symbol."}"#, "X", "1d", "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("Invalid symbol"), "{e}");
        assert!(parse_klines(b"[[1,\"x\"]]", "X", "1d", "t").is_err());
    }
}
