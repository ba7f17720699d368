//! NewsAPI's `/v2/everything` endpoint (<https://newsapi.org/docs/endpoints/everything>).

use reqwest::header::{HeaderMap, HeaderValue};
use serde::Deserialize;

use super::Headline;
use super::feeds::clean;
use crate::config::SymbolSpec;
use crate::error::{Result, SentinelError};
use crate::http;

/// A NewsAPI client with its key.
#[derive(Debug, Clone)]
pub struct NewsApiClient {
    http: reqwest::Client,
    base_url: String,
    key: String,
    page_size: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    status: String,
    code: Option<String>,
    message: Option<String>,
    #[serde(default)]
    articles: Vec<Article>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Article {
    source: Option<ArticleSource>,
    title: Option<String>,
    description: Option<String>,
    url: Option<String>,
    published_at: Option<String>,
}

#[derive(Deserialize)]
struct ArticleSource {
    name: Option<String>,
}

impl NewsApiClient {
    /// A client for `base_url` (normally `https://newsapi.org`).
    pub fn new(http: reqwest::Client, base_url: &str, key: &str, page_size: u32) -> NewsApiClient {
        NewsApiClient {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            key: key.to_string(),
            page_size: page_size.clamp(1, 100),
        }
    }

    /// The query for a symbol: its ticker and names, OR-ed and quoted.
    pub fn query(symbol: &SymbolSpec) -> String {
        symbol
            .keywords()
            .iter()
            .map(|k| format!("\"{k}\""))
            .collect::<Vec<_>>()
            .join(" OR ")
    }

    /// Recent English articles about `symbol`, newest first.
    pub async fn everything(&self, symbol: &SymbolSpec) -> Result<Vec<Headline>> {
        let q = http::encode_component(&Self::query(symbol));
        let url = format!(
            "{}/v2/everything?q={q}&language=en&sortBy=publishedAt&pageSize={}",
            self.base_url, self.page_size
        );
        let mut headers = HeaderMap::new();
        let key = HeaderValue::from_str(&self.key).map_err(|_| {
            SentinelError::InvalidConfig(
                "NEWSAPI_KEY contains characters not allowed in a header".into(),
            )
        })?;
        headers.insert("X-Api-Key", key);
        let body = match http::get_bytes(&self.http, "newsapi", &url, headers).await {
            // NewsAPI explains 4xx in a JSON body: surface its code and message.
            Err(SentinelError::Http {
                status,
                body,
                url,
                service,
            }) if (400..500).contains(&status) => {
                let detail = serde_json::from_str::<Answer>(&body)
                    .ok()
                    .map(|a| {
                        format!(
                            "{}: {}",
                            a.code.unwrap_or_default(),
                            a.message.unwrap_or_default()
                        )
                    })
                    .unwrap_or(body);
                return Err(SentinelError::Http {
                    service,
                    url,
                    status,
                    body: detail,
                });
            }
            other => other?,
        };
        parse(&body, symbol.ticker(), &url)
    }
}

/// Parses a `/v2/everything` answer; `symbol` tags every article.
pub fn parse(body: &[u8], symbol: &str, what: &str) -> Result<Vec<Headline>> {
    let answer: Answer = serde_json::from_slice(body).map_err(|e| SentinelError::Parse {
        what: what.to_string(),
        message: format!("not a NewsAPI answer: {e}"),
    })?;
    if answer.status != "ok" {
        return Err(SentinelError::Parse {
            what: what.to_string(),
            message: format!(
                "NewsAPI error {}: {}",
                answer.code.unwrap_or_default(),
                answer.message.unwrap_or_default()
            ),
        });
    }
    Ok(answer
        .articles
        .into_iter()
        .filter_map(|a| {
            let title = clean(a.title.as_deref()?);
            // NewsAPI marks deleted articles "[Removed]".
            if title.is_empty() || title == "[Removed]" {
                return None;
            }
            let outlet = a
                .source
                .and_then(|s| s.name)
                .unwrap_or_else(|| "unknown".into());
            let source = format!("newsapi:{outlet}");
            Some(Headline {
                key: Headline::natural_key(a.url.as_deref(), None, &source, &title),
                source,
                title,
                summary: a.description.map(|d| clean(&d)).filter(|d| !d.is_empty()),
                url: a.url,
                published: a
                    .published_at
                    .and_then(|p| chrono::DateTime::parse_from_rfc3339(&p).ok())
                    .map(|t| t.timestamp()),
                symbols: if symbol.is_empty() {
                    vec![]
                } else {
                    vec![symbol.to_string()]
                },
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_articles_and_errors() {
        let ok = br#"{"status":"ok","totalResults":2,"articles":[
            {"source":{"id":null,"name":"Reuters"},"author":"A","title":"Alphabet beats estimates",
             "description":"Strong ads","url":"https://r.test/1","urlToImage":null,
             "publishedAt":"2013-03-04T13:00:00Z","content":"..."},
            {"source":{"id":null,"name":"X"},"title":"[Removed]","url":"https://removed.com"}]}"#;
        let h = parse(ok, "GOOG", "t").unwrap();
        assert_eq!(h.len(), 1);
        assert_eq!(
            (h[0].source.as_str(), h[0].published),
            ("newsapi:Reuters", Some(1362402000))
        );
        let err =
            br#"{"status":"error","code":"apiKeyInvalid","message":"Your API key is invalid"}"#;
        assert!(
            parse(err, "GOOG", "t")
                .unwrap_err()
                .to_string()
                .contains("apiKeyInvalid")
        );
    }

    #[test]
    fn query_quotes_keywords() {
        let s = SymbolSpec::Full {
            ticker: "GOOG".into(),
            names: vec!["Alphabet".into()],
        };
        assert_eq!(NewsApiClient::query(&s), "\"GOOG\" OR \"Alphabet\"");
    }
}
