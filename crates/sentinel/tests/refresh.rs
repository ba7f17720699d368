//! Data refresh against the loopback fixture server: real Yahoo parsing,
//! real feed parsing, real NewsAPI client, sentinel's real database.

mod common;

use common::FixtureServer;
use sentinel::config::FeedConfig;
use sentinel::{Sentinel, SentinelError};

#[tokio::test]
async fn refresh_stores_bars_and_headlines_without_duplicates_across_two_runs() {
    let server = FixtureServer::start();
    let dir = tempfile::tempdir().unwrap();
    let s = Sentinel::open(server.config(dir.path())).await.unwrap();

    let first = s.refresh(None).await.unwrap();
    // GOOG bars between 2013-02-02 and 2013-03-04: the 19 recorded sessions.
    assert_eq!(first.bars_fetched, 19, "{first:?}");
    assert_eq!(first.bars_inserted, 19);
    // 6 RSS + 4 Atom + 2 NewsAPI items; one story is in all three sources.
    assert_eq!(first.headlines_fetched, 12);
    assert_eq!(first.headlines_inserted, 10);
    assert!(first.problems.is_empty(), "{:?}", first.problems);

    let second = s.refresh(None).await.unwrap();
    assert_eq!(
        (
            second.bars_fetched,
            second.bars_inserted,
            second.bars_updated
        ),
        (19, 0, 0)
    );
    assert_eq!(
        (second.headlines_fetched, second.headlines_inserted),
        (12, 0)
    );
    let counts = s.store.counts().await.unwrap();
    assert_eq!((counts.bars, counts.headlines), (19, 10));

    // The stored series is the recorded one.
    let bars = s.store.bars("GOOG", "1d", None).await.unwrap();
    assert_eq!(bars.last().unwrap().close, 806.19);
    assert!(bars.windows(2).all(|w| w[0].ts < w[1].ts));
    // Headlines about GOOG (by feed folder, ticker or name) carry a sentiment.
    let since = "2013-03-01T00:00:00Z"
        .parse::<chrono::DateTime<chrono::Utc>>()
        .unwrap()
        .timestamp();
    let goog = s.store.sentiment_since(Some("GOOG"), since).await.unwrap();
    assert!(goog.len() >= 5, "{goog:?}");
    assert!(
        goog.iter().any(|v| *v > 0.2) && goog.iter().any(|v| *v < -0.2),
        "{goog:?}"
    );
    assert_eq!(server.hits("/v8/finance/chart/GOOG"), 2);
}

#[tokio::test]
async fn rate_limits_and_5xx_are_transient_errors_then_the_retry_succeeds() {
    let server = FixtureServer::start();
    let dir = tempfile::tempdir().unwrap();
    let s = Sentinel::open(server.config(dir.path())).await.unwrap();
    server.fail_next("/v8/finance/chart/GOOG", &[429, 503]);

    let err = s.fetch_prices(None).await.unwrap_err();
    assert!(
        matches!(
            err,
            SentinelError::RateLimited {
                retry_after_secs: Some(7),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert!(err.to_string().contains("HTTP 429"), "{err}");
    let err = s.fetch_prices(None).await.unwrap_err();
    assert!(
        matches!(err, SentinelError::Http { status: 503, .. }) && err.is_transient(),
        "{err:?}"
    );
    let ok = s.fetch_prices(None).await.unwrap();
    assert_eq!(ok.bars.len(), 19);
    assert_eq!(server.hits("/v8/finance/chart/GOOG"), 3);

    // A feed answering 429 fails the news fetch the same way.
    server.fail_next("/feeds/markets.xml", &[429]);
    assert!(s.fetch_news().await.unwrap_err().is_transient());
    assert_eq!(s.fetch_news().await.unwrap().headlines.len(), 12);
}

#[tokio::test]
async fn permanent_failures_are_reported_not_retried() {
    let server = FixtureServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut config = server.config(dir.path());
    config
        .symbols
        .push(sentinel::config::SymbolSpec::Ticker("NOPE".into()));
    config.news.newsapi_key = Some("wrong-key".into());
    config.news.feeds.push(FeedConfig {
        name: "gone".into(),
        url: format!("{}/feeds/gone.xml", server.base),
    });
    let s = Sentinel::open(config).await.unwrap();
    let summary = s.refresh(None).await.unwrap();
    assert_eq!(summary.bars_inserted, 19);
    let problems = summary.problems.join("\n");
    assert!(
        problems.contains("NOPE") && problems.contains("symbol may be delisted"),
        "{problems}"
    );
    assert!(
        problems.contains("HTTP 404") && problems.contains("gone"),
        "{problems}"
    );
    assert!(problems.contains("apiKeyInvalid"), "{problems}");
    assert!(
        !problems.contains("wrong-key"),
        "the key must not leak into messages: {problems}"
    );
}

#[tokio::test]
async fn all_sources_empty_is_no_data_retrieved() {
    let server = FixtureServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut config = server.config(dir.path());
    // Before GOOG's first recorded bar, with a feed that has no items and no NewsAPI key.
    config.clock = Some("2001-06-01T15:00:00Z".parse().unwrap());
    config.news.feeds = vec![FeedConfig {
        name: "quiet".into(),
        url: format!("{}/feeds/empty.xml", server.base),
    }];
    config.news.newsapi_key = None;
    let s = Sentinel::open(config).await.unwrap();
    let err = s.refresh(None).await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, SentinelError::NoData(_)), "{err:?}");
    assert!(msg.starts_with("no data retrieved"), "{msg}");
    assert!(
        msg.contains("0 bars for GOOG") && msg.contains("newsapi: no key"),
        "{msg}"
    );
    assert_eq!(s.store.counts().await.unwrap().bars, 0);
}

#[tokio::test]
async fn replay_source_reads_the_recording_with_its_clock() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = sentinel::Config {
        data_dir: dir.path().to_path_buf(),
        source: sentinel::config::Source::Replay(common::fixtures()),
        ..Default::default()
    };
    config.symbols = vec![sentinel::config::SymbolSpec::Ticker("GOOG".into())];
    config.market.interval = "1d".into();
    let s = Sentinel::open(config).await.unwrap();
    assert_eq!(s.now().to_rfc3339(), "2013-03-04T15:00:00+00:00");
    let summary = s.refresh(None).await.unwrap();
    // The 5 days before Monday 2013-03-04 15:00 hold the bars of Thu 28 Feb and Fri 1 Mar
    // (daily bars start at 00:00 UTC; Wed 27 Feb 00:00 is just outside).
    assert_eq!(summary.bars_inserted, 2, "{summary:?}");
    assert_eq!(summary.headlines_inserted, 10);
}
