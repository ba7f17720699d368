//! RSS 2.0 and Atom feeds, parsed by `feed-rs`.

use reqwest::header::{ACCEPT, HeaderMap, HeaderValue};

use super::Headline;
use crate::error::{Result, SentinelError};
use crate::http;

/// Fetches and parses one feed; `symbol` tags every entry (per-symbol feeds).
pub async fn fetch(
    http: &reqwest::Client,
    name: &str,
    url: &str,
    symbol: Option<&str>,
) -> Result<Vec<Headline>> {
    let mut headers = HeaderMap::new();
    headers.insert(
        ACCEPT,
        HeaderValue::from_static(
            "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5",
        ),
    );
    // Raw bytes: feed-rs decodes using the XML prolog's encoding.
    let body = http::get_bytes(http, &format!("rss:{name}"), url, headers).await?;
    parse(&body, name, symbol, &http::redact(url))
}

/// Parses an RSS 2.0, Atom (or JSON Feed) document into headlines.
pub fn parse(body: &[u8], name: &str, symbol: Option<&str>, what: &str) -> Result<Vec<Headline>> {
    let feed = feed_rs::parser::parse(body).map_err(|e| SentinelError::Parse {
        what: what.to_string(),
        message: format!("not a valid RSS/Atom feed: {e}"),
    })?;
    let source = format!("rss:{name}");
    Ok(feed
        .entries
        .into_iter()
        .filter_map(|entry| {
            let title = entry
                .title
                .map(|t| clean(&t.content))
                .filter(|t| !t.is_empty())?;
            let url = entry
                .links
                .iter()
                .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
                .or(entry.links.first())
                .map(|l| l.href.clone());
            let summary = entry
                .summary
                .map(|s| clean(&s.content))
                .filter(|s| !s.is_empty());
            let published = entry.published.or(entry.updated).map(|t| t.timestamp());
            // Without a link, the feed's id (feed-rs derives a stable one when the feed has none).
            let key =
                Headline::natural_key(url.as_deref(), Some(entry.id.as_str()), &source, &title);
            Some(Headline {
                key,
                source: source.clone(),
                title,
                summary,
                url,
                published,
                symbols: symbol.map(|s| vec![s.to_string()]).unwrap_or_default(),
            })
        })
        .collect())
}

/// Strips HTML tags and collapses whitespace (summaries often carry markup).
pub fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    let out = out
        .replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ");
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Markets</title><link>http://example.test/</link><description>d</description>
<item><title>Google shares top $800</title><link>http://example.test/a</link>
<description>&lt;p&gt;Shares &lt;b&gt;rose&lt;/b&gt;&lt;/p&gt;</description><guid>a-1</guid>
<pubDate>Mon, 04 Mar 2013 14:00:00 GMT</pubDate></item>
<item><title></title><link>http://example.test/empty</link></item>
</channel></rss>"#;

    const ATOM: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Tech</title><id>urn:tech</id><updated>2013-03-04T12:00:00Z</updated>
<entry><title>Apple misses estimates</title><id>urn:tech:1</id><updated>2013-03-04T12:00:00Z</updated>
<link rel="alternate" href="http://example.test/b"/><summary>iPhone sales slump</summary></entry>
</feed>"#;

    #[test]
    fn parses_rss_and_atom() {
        let rss = parse(RSS.as_bytes(), "m", Some("GOOG"), "t").unwrap();
        assert_eq!(rss.len(), 1, "entries without a title are dropped");
        assert_eq!(rss[0].title, "Google shares top $800");
        assert_eq!(rss[0].summary.as_deref(), Some("Shares rose"));
        assert_eq!(rss[0].key, "url:http://example.test/a");
        assert_eq!(rss[0].published, Some(1362405600));
        assert_eq!(rss[0].symbols, ["GOOG"]);
        let atom = parse(ATOM.as_bytes(), "tech", None, "t").unwrap();
        assert_eq!(atom[0].url.as_deref(), Some("http://example.test/b"));
        assert_eq!(atom[0].source, "rss:tech");
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let err = parse(
            b"<html><body>captcha</body></html>",
            "x",
            None,
            "http://h/f",
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("not a valid RSS/Atom feed"),
            "{err}"
        );
    }
}
