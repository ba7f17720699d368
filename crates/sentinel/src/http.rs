//! The HTTP client shared by the Yahoo, RSS and NewsAPI sources, and the
//! mapping of HTTP failures to [`SentinelError`] (429 and 5xx are transient,
//! so a task retry tries again).

use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::error::{Result, SentinelError};

/// Everything but RFC 3986's unreserved characters is escaped.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes a URL path segment or query value (tickers such as
/// `^GSPC`, search queries with quotes and spaces).
pub fn encode_component(text: &str) -> String {
    utf8_percent_encode(text, COMPONENT).to_string()
}

/// Builds the client: rustls, a timeout and a User-Agent.
pub fn client(timeout_secs: u64, user_agent: &str) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(timeout_secs.max(1)))
        .user_agent(user_agent)
        .build()
        .map_err(|e| SentinelError::InvalidConfig(format!("cannot build the HTTP client: {e}")))
}

/// GETs `url` and returns the body of a 2xx answer. `service` names the
/// upstream in errors.
pub async fn get_bytes(
    http: &reqwest::Client,
    service: &str,
    url: &str,
    headers: HeaderMap,
) -> Result<Vec<u8>> {
    let transport = |source| SentinelError::Transport {
        service: service.into(),
        url: redact(url),
        source,
    };
    let response = http
        .get(url)
        .headers(headers)
        .send()
        .await
        .map_err(transport)?;
    let status = response.status();
    if status.as_u16() == 429 {
        let retry_after_secs = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        return Err(SentinelError::RateLimited {
            service: service.into(),
            url: redact(url),
            retry_after_secs,
        });
    }
    let body = response.bytes().await.map_err(transport)?;
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body);
        let mut body: String = text.chars().take(300).collect();
        if body.trim().is_empty() {
            body = status.canonical_reason().unwrap_or("no body").to_string();
        }
        return Err(SentinelError::Http {
            service: service.into(),
            url: redact(url),
            status: status.as_u16(),
            body,
        });
    }
    Ok(body.to_vec())
}

/// Removes query values that look like credentials (`apiKey=...`) from a URL
/// before it goes into an error message or a log.
pub fn redact(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_string();
    };
    let parts: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _))
                if k.to_ascii_lowercase().contains("key") || k.eq_ignore_ascii_case("token") =>
            {
                format!("{k}=REDACTED")
            }
            _ => kv.to_string(),
        })
        .collect();
    format!("{base}?{}", parts.join("&"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_are_redacted() {
        assert_eq!(
            super::redact("http://h/v2?q=a&apiKey=s3cret"),
            "http://h/v2?q=a&apiKey=REDACTED"
        );
        assert_eq!(super::redact("http://h/x"), "http://h/x");
    }
}
