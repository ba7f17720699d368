//! Yahoo Finance's v8 chart API, fetched from a configurable base URL and
//! parsed with `yahoo_finance_api`'s public response types, so the same
//! parsing runs against Yahoo and against a test server.

use reqwest::header::HeaderMap;
use yahoo_finance_api::{YResponse, YahooError};

use super::{Bar, Window};
use crate::config::MarketConfig;
use crate::error::{Result, SentinelError};
use crate::http;

/// A client of the chart endpoint `{base}/v8/finance/chart/{symbol}`.
#[derive(Debug, Clone)]
pub struct YahooClient {
    http: reqwest::Client,
    base_url: String,
}

impl YahooClient {
    /// A client for `config.yahoo_base_url`.
    pub fn new(config: &MarketConfig) -> Result<YahooClient> {
        let base_url = config.yahoo_base_url.trim_end_matches('/').to_string();
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(SentinelError::InvalidConfig(format!(
                "market.yahoo_base_url = {base_url:?}: expected an http(s) URL such as https://query1.finance.yahoo.com"
            )));
        }
        Ok(YahooClient {
            http: http::client(config.timeout_secs, &config.user_agent)?,
            base_url,
        })
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The chart URL for one request, in Yahoo's own query format.
    pub fn chart_url(&self, symbol: &str, interval: &str, window: Window) -> String {
        let sym = http::encode_component(symbol);
        format!(
            "{}/v8/finance/chart/{sym}?symbol={sym}&period1={}&period2={}&interval={}&events=div%7Csplit",
            self.base_url,
            window.start.timestamp(),
            window.end.timestamp(),
            http::encode_component(interval)
        )
    }

    /// Bars of `symbol` in `window`. An empty window is an empty list; an
    /// unknown symbol, a 4xx or a malformed answer is an error that names it.
    pub async fn bars(&self, symbol: &str, interval: &str, window: Window) -> Result<Vec<Bar>> {
        if symbol.trim().is_empty() {
            return Err(SentinelError::InvalidInput("empty ticker".into()));
        }
        let url = self.chart_url(symbol, interval, window);
        let body = http::get_bytes(&self.http, "yahoo", &url, HeaderMap::new()).await?;
        parse_chart(&body, symbol, interval, &url)
    }
}

/// Parses a v8 chart answer into bars (`what` names the source in errors).
pub fn parse_chart(body: &[u8], symbol: &str, interval: &str, what: &str) -> Result<Vec<Bar>> {
    let parse_err = |message: String| SentinelError::Parse {
        what: what.to_string(),
        message,
    };
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        parse_err(format!(
            "not JSON ({e}); is yahoo_base_url pointing at Yahoo's chart API?"
        ))
    })?;
    let response = YResponse::from_json(value).map_err(|e| parse_err(e.to_string()))?;
    let empty = response.chart.result.as_ref().is_none_or(|r| r.is_empty());
    if empty {
        if let Some(err) = &response.chart.error {
            return Err(parse_err(format!(
                "Yahoo error {}: {}",
                err.code.as_deref().unwrap_or("?"),
                err.description.as_deref().unwrap_or("no description")
            )));
        }
        return Ok(Vec::new());
    }
    let quotes = match response.quotes() {
        Ok(q) => q,
        Err(YahooError::NoQuotes) | Err(YahooError::NoResult) => return Ok(Vec::new()),
        Err(e) => return Err(parse_err(e.to_string())),
    };
    Ok(quotes
        .into_iter()
        .map(|q| Bar {
            symbol: symbol.to_string(),
            interval: interval.to_string(),
            ts: q.timestamp,
            open: q.open,
            high: q.high,
            low: q.low,
            close: q.close,
            volume: q.volume as f64,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_real_shaped_answer() {
        let body = br#"{"chart":{"result":[{"meta":{"currency":"USD","symbol":"GOOG","exchangeName":"NMS",
            "fullExchangeName":"NasdaqGS","instrumentType":"EQUITY","firstTradeDate":1092922200,
            "regularMarketTime":1362171600,"hasPrePostMarketData":true,"gmtoffset":-18000,"timezone":"EST",
            "exchangeTimezoneName":"America/New_York","regularMarketPrice":806.19,"priceHint":2,
            "dataGranularity":"1d","range":"","validRanges":["1d","5d"]},
            "timestamp":[1362004200,1362090600],
            "indicators":{"quote":[{"open":[801.1,null],"high":[806.0,807.3],"low":[798.3,801.0],
            "close":[801.2,null],"volume":[2265800,null]}],"adjclose":[{"adjclose":[801.2,null]}]}}],"error":null}}"#;
        let bars = parse_chart(body, "GOOG", "1d", "test").unwrap();
        // The second bar has no close: Yahoo's in-progress bar, skipped by the crate.
        assert_eq!(bars.len(), 1);
        assert_eq!(
            (bars[0].ts, bars[0].close, bars[0].volume),
            (1362004200, 801.2, 2265800.0)
        );
    }

    #[test]
    fn yahoo_errors_are_reported_with_their_description() {
        let body = br#"{"chart":{"result":null,"error":{"code":"Not Found","description":"No data found, symbol may be delisted"}}}"#;
        let err = parse_chart(body, "NOPE", "1d", "u")
            .unwrap_err()
            .to_string();
        assert!(err.contains("symbol may be delisted"), "{err}");
        let err = parse_chart(b"<html>", "X", "1d", "u")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not JSON"), "{err}");
    }

    #[test]
    fn tickers_are_encoded() {
        assert_eq!(http::encode_component("^GSPC"), "%5EGSPC");
        assert_eq!(http::encode_component("BTC-USD"), "BTC-USD");
    }
}
