//! Headlines: RSS 2.0 / Atom feeds ([`feeds`], parsed by `feed-rs`), NewsAPI
//! ([`newsapi`]) and their recorded counterparts in a replay folder.

pub mod feeds;
pub mod newsapi;

use serde::{Deserialize, Serialize};

use crate::config::{Config, FeedConfig, Source, SymbolSpec};
use crate::error::{Result, SentinelError};
use crate::http;
use crate::market::replay::Recording;

/// One headline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Headline {
    /// Natural key used for de-duplication: the link, else the feed's id,
    /// else source and title.
    pub key: String,
    /// Where it came from (`rss:NAME`, `newsapi:OUTLET`).
    pub source: String,
    /// The headline text.
    pub title: String,
    /// The summary or description, if any.
    pub summary: Option<String>,
    /// The article's link.
    pub url: Option<String>,
    /// Publication time, Unix seconds.
    pub published: Option<i64>,
    /// Tickers the headline is about.
    pub symbols: Vec<String>,
}

impl Headline {
    /// Builds the natural key from link, id or title (lower-cased, trimmed).
    pub fn natural_key(url: Option<&str>, id: Option<&str>, source: &str, title: &str) -> String {
        let norm = |s: &str| s.trim().trim_end_matches('/').to_lowercase();
        match (
            url.filter(|u| !u.trim().is_empty()),
            id.filter(|i| !i.trim().is_empty()),
        ) {
            (Some(u), _) => format!("url:{}", norm(u)),
            (None, Some(i)) => format!("id:{}", norm(i)),
            _ => format!("title:{}:{}", source, norm(title)),
        }
    }

    /// The text scored for sentiment: the title, then the summary.
    pub fn text(&self) -> String {
        match &self.summary {
            Some(s) if !s.trim().is_empty() => format!("{}. {}", self.title, s),
            _ => self.title.clone(),
        }
    }
}

/// Adds to `h.symbols` every configured symbol whose ticker (case-sensitive,
/// whole word) or name (case-insensitive, whole word) appears in the title or summary.
pub fn tag_symbols(h: &mut Headline, symbols: &[SymbolSpec]) {
    let text = h.text();
    let words: Vec<&str> = text
        .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '.'))
        .collect();
    let words: Vec<&str> = words
        .iter()
        .map(|w| w.trim_end_matches('.'))
        .filter(|w| !w.is_empty())
        .collect();
    let lower = text.to_lowercase();
    for spec in symbols {
        let ticker = spec.ticker();
        let by_ticker = words.contains(&ticker);
        let by_name = spec
            .keywords()
            .iter()
            .skip(1)
            .any(|n| contains_word(&lower, &n.to_lowercase()));
        if (by_ticker || by_name) && !h.symbols.iter().any(|s| s == ticker) {
            h.symbols.push(ticker.to_string());
        }
    }
}

fn contains_word(haystack: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return false;
    }
    haystack.match_indices(needle).any(|(i, _)| {
        let before = haystack[..i].chars().next_back();
        let after = haystack[i + needle.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// What one news fetch brought back.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NewsFetch {
    /// Headlines, tagged with symbols, not yet de-duplicated.
    pub headlines: Vec<Headline>,
    /// Sources asked, e.g. `rss:yahoo-headlines/GOOG`.
    pub sources: Vec<String>,
    /// Sources that failed with a permanent error (reported, not retried).
    pub problems: Vec<String>,
    /// Sources skipped and why (e.g. NewsAPI without a key).
    pub skipped: Vec<String>,
}

/// Where headlines come from.
#[derive(Debug, Clone)]
pub enum NewsSource {
    /// Feeds over HTTP and, with a key, NewsAPI.
    Live {
        /// The HTTP client.
        http: reqwest::Client,
        /// The configured feeds.
        feeds: Vec<FeedConfig>,
        /// NewsAPI, when a key is configured.
        newsapi: Option<newsapi::NewsApiClient>,
    },
    /// Recorded feeds and NewsAPI answers.
    Replay(Recording),
}

impl NewsSource {
    /// The source the configuration selects.
    pub fn from_config(config: &Config) -> Result<NewsSource> {
        Ok(match &config.source {
            Source::Live => {
                let http = http::client(config.market.timeout_secs, &config.market.user_agent)?;
                let newsapi = config.news.newsapi_key.as_ref().map(|key| {
                    newsapi::NewsApiClient::new(
                        http.clone(),
                        &config.news.newsapi_base_url,
                        key,
                        config.news.newsapi_page_size,
                    )
                });
                NewsSource::Live {
                    http,
                    feeds: config.news.feeds.clone(),
                    newsapi,
                }
            }
            Source::Replay(dir) => NewsSource::Replay(Recording::open(dir)?),
        })
    }

    /// Fetches every source. A transient failure (429, 5xx, transport) fails
    /// the whole fetch so the task retry tries again; a permanent one (404,
    /// malformed feed) is reported in [`NewsFetch::problems`].
    pub async fn fetch(&self, symbols: &[SymbolSpec]) -> Result<NewsFetch> {
        let mut out = NewsFetch::default();
        let keep = |r: Result<Vec<Headline>>, name: String, out: &mut NewsFetch| -> Result<()> {
            out.sources.push(name.clone());
            match r {
                Ok(h) => out.headlines.extend(h),
                Err(e) if e.is_transient() => return Err(e),
                Err(e) => {
                    tracing::warn!(source = %name, "news source failed: {e}");
                    out.problems.push(format!("{name}: {e}"));
                }
            }
            Ok(())
        };
        match self {
            NewsSource::Live {
                http,
                feeds,
                newsapi,
            } => {
                for feed in feeds {
                    if feed.url.contains("{symbol}") {
                        for s in symbols {
                            let url = feed.url.replace("{symbol}", s.ticker());
                            let r = feeds::fetch(http, &feed.name, &url, Some(s.ticker())).await;
                            keep(r, format!("rss:{}/{}", feed.name, s.ticker()), &mut out)?;
                        }
                    } else {
                        keep(
                            feeds::fetch(http, &feed.name, &feed.url, None).await,
                            format!("rss:{}", feed.name),
                            &mut out,
                        )?;
                    }
                }
                match newsapi {
                    Some(api) => {
                        for s in symbols {
                            keep(
                                api.everything(s).await,
                                format!("newsapi/{}", s.ticker()),
                                &mut out,
                            )?;
                        }
                    }
                    None => out
                        .skipped
                        .push("newsapi: no key (set NEWSAPI_KEY or news.newsapi_key)".into()),
                }
            }
            NewsSource::Replay(rec) => {
                for f in rec.feed_files()? {
                    let bytes =
                        std::fs::read(&f.path).map_err(|e| SentinelError::io(&f.path, e))?;
                    let what = f.path.display().to_string();
                    let r = feeds::parse(&bytes, &f.name, f.symbol.as_deref(), &what);
                    keep(r, format!("rss:{}", f.name), &mut out)?;
                }
                for f in rec.newsapi_files()? {
                    let bytes =
                        std::fs::read(&f.path).map_err(|e| SentinelError::io(&f.path, e))?;
                    let r = newsapi::parse(
                        &bytes,
                        f.symbol.as_deref().unwrap_or(""),
                        &f.path.display().to_string(),
                    );
                    keep(
                        r,
                        format!("newsapi/{}", f.symbol.unwrap_or_default()),
                        &mut out,
                    )?;
                }
            }
        }
        for h in &mut out.headlines {
            tag_symbols(h, symbols);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headline(title: &str) -> Headline {
        Headline {
            key: "k".into(),
            source: "t".into(),
            title: title.into(),
            summary: None,
            url: None,
            published: None,
            symbols: vec![],
        }
    }

    #[test]
    fn symbols_are_tagged_by_ticker_and_name() {
        let specs = vec![
            SymbolSpec::Full {
                ticker: "GOOG".into(),
                names: vec!["Alphabet".into(), "Google".into()],
            },
            SymbolSpec::Ticker("IT".into()),
            SymbolSpec::Full {
                ticker: "AAPL".into(),
                names: vec!["Apple".into()],
            },
        ];
        let mut h = headline("Alphabet's Google unit and it: GOOG up; pineapple prices flat");
        tag_symbols(&mut h, &specs);
        // "it" is not the ticker IT, "pineapple" is not Apple.
        assert_eq!(h.symbols, ["GOOG"]);
    }

    #[test]
    fn natural_keys_prefer_links() {
        assert_eq!(
            Headline::natural_key(Some("HTTP://x/a/"), Some("id"), "s", "T"),
            "url:http://x/a"
        );
        assert_eq!(Headline::natural_key(None, Some(" G1 "), "s", "T"), "id:g1");
        assert_eq!(
            Headline::natural_key(Some(""), None, "s", " Title "),
            "title:s:title"
        );
    }
}
