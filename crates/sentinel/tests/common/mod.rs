//! A loopback HTTP server that answers like the real services, from the
//! recorded files in tests/fixtures/market: Yahoo's v8 chart JSON, RSS 2.0 /
//! Atom feeds and NewsAPI's `/v2/everything`. Failures (429, 5xx) can be
//! queued per path. It runs on its own thread and runtime, so both async
//! tests and the SDK's blocking `run_standalone` can use it.

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sentinel::config::{Config, FeedConfig, SymbolSpec};
use sentinel::market::csv;
use serde_json::{Value, json};

/// The fixture folder.
/// `PATH` with the folder of the `sentinel` binary under test first, so that a
/// worker (or `orch up`) started with it runs this build's `sentinel`.
#[allow(dead_code)]
pub fn path_with_sentinel() -> String {
    let sentinel_dir = Path::new(env!("CARGO_BIN_EXE_sentinel")).parent().unwrap();
    format!(
        "{}:{}",
        sentinel_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/market")
}

/// The NewsAPI key the server accepts.
pub const NEWSAPI_KEY: &str = "fixture-key";

#[derive(Default)]
struct Shared {
    root: PathBuf,
    failures: HashMap<String, VecDeque<u16>>,
    hits: HashMap<String, usize>,
}

/// A running fixture server; stops when dropped.
pub struct FixtureServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    shared: Arc<Mutex<Shared>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FixtureServer {
    /// Starts the server on 127.0.0.1 and a free port, serving tests/fixtures/market.
    pub fn start() -> FixtureServer {
        FixtureServer::start_with_root(&fixtures())
    }

    /// Starts the server on a folder with the same layout as tests/fixtures/market.
    pub fn start_with_root(root: &Path) -> FixtureServer {
        let shared = Arc::new(Mutex::new(Shared {
            root: root.to_path_buf(),
            ..Shared::default()
        }));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.set_nonblocking(true).unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let state = shared.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let app = Router::new()
                    .route("/v8/finance/chart/{symbol}", get(chart))
                    .route("/feeds/{*path}", get(feed))
                    .route("/v2/everything", get(newsapi))
                    .with_state(state);
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        rx.await.ok();
                    })
                    .await
                    .unwrap();
            });
        });
        FixtureServer {
            base: format!("http://{addr}"),
            shared,
            stop: Some(tx),
            thread: Some(thread),
        }
    }

    /// The next requests to `path` answer these statuses, in order, before normal answers.
    pub fn fail_next(&self, path: &str, statuses: &[u16]) {
        self.shared
            .lock()
            .unwrap()
            .failures
            .entry(path.to_string())
            .or_default()
            .extend(statuses);
    }

    /// Requests received for `path`.
    pub fn hits(&self, path: &str) -> usize {
        self.shared
            .lock()
            .unwrap()
            .hits
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// A configuration whose live sources are this server: GOOG daily bars,
    /// the markets RSS feed, the per-symbol Atom feed, NewsAPI with a key;
    /// fixed clock Monday 2013-03-04 10:00 New York; no retry delay.
    pub fn config(&self, data_dir: &Path) -> Config {
        let mut c = Config {
            data_dir: data_dir.to_path_buf(),
            clock: Some("2013-03-04T15:00:00Z".parse().unwrap()),
            ..Config::default()
        };
        c.symbols = vec![SymbolSpec::Full {
            ticker: "GOOG".into(),
            names: vec!["Google".into(), "Alphabet".into()],
        }];
        c.market.yahoo_base_url = self.base.clone();
        c.market.interval = "1d".into();
        c.market.refresh_lookback_days = 30;
        c.news.feeds = vec![
            FeedConfig {
                name: "markets".into(),
                url: format!("{}/feeds/markets.xml", self.base),
            },
            FeedConfig {
                name: "tech".into(),
                url: format!("{}/feeds/{{symbol}}/tech.xml", self.base),
            },
        ];
        c.news.newsapi_base_url = self.base.clone();
        c.news.newsapi_key = Some(NEWSAPI_KEY.into());
        c.tasks.fetch_retry_delay_secs = 0;
        c.model.window = 10;
        c.model.hidden = 16;
        c.model.epochs = 20;
        c.model.batch_size = 32;
        c.model.default_days = 1200;
        c
    }
}

impl Drop for FixtureServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

type Shared2 = Arc<Mutex<Shared>>;

/// Counts the hit and pops a queued failure, if any.
fn queued_failure(state: &Shared2, path: &str) -> Option<Response> {
    let mut s = state.lock().unwrap();
    *s.hits.entry(path.to_string()).or_default() += 1;
    let status = s.failures.get_mut(path)?.pop_front()?;
    let status = StatusCode::from_u16(status).unwrap();
    let mut headers = HeaderMap::new();
    if status == StatusCode::TOO_MANY_REQUESTS {
        headers.insert(header::RETRY_AFTER, "7".parse().unwrap());
    }
    Some(
        (
            status,
            headers,
            "Too Many Requests or upstream trouble (fixture)",
        )
            .into_response(),
    )
}

fn yahoo_error(status: StatusCode, code: &str, description: &str) -> Response {
    (
        status,
        axum::Json(
            json!({"chart": {"result": null, "error": {"code": code, "description": description}}}),
        ),
    )
        .into_response()
}

async fn chart(
    State(state): State<Shared2>,
    axum::extract::Path(symbol): axum::extract::Path<String>,
    Query(q): Query<HashMap<String, String>>,
    uri: Uri,
) -> Response {
    if let Some(r) = queued_failure(&state, uri.path()) {
        return r;
    }
    let interval = q.get("interval").cloned().unwrap_or_else(|| "1d".into());
    let (Some(p1), Some(p2)) = (
        q.get("period1").and_then(|v| v.parse::<i64>().ok()),
        q.get("period2").and_then(|v| v.parse::<i64>().ok()),
    ) else {
        return yahoo_error(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "period1 and period2 are required",
        );
    };
    let root = state.lock().unwrap().root.clone();
    let dir = root.join("bars").join(&symbol);
    if !dir.is_dir() {
        return yahoo_error(
            StatusCode::NOT_FOUND,
            "Not Found",
            "No data found, symbol may be delisted",
        );
    }
    let path = dir.join(format!("{interval}.csv"));
    if !path.exists() {
        return yahoo_error(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            &format!("Invalid input - interval={interval} is not supported for this fixture"),
        );
    }
    let bars: Vec<_> = csv::read_bars(&path, &symbol, &interval)
        .unwrap()
        .into_iter()
        .filter(|b| b.ts >= p1 && b.ts <= p2)
        .collect();
    let crypto = symbol.contains('-');
    let mut meta = json!({
        "currency": "USD", "symbol": symbol,
        "exchangeName": if crypto { "CCC" } else { "NMS" },
        "fullExchangeName": if crypto { "CCC" } else { "NasdaqGS" },
        "instrumentType": if crypto { "CRYPTOCURRENCY" } else { "EQUITY" },
        "firstTradeDate": 1092922200, "hasPrePostMarketData": !crypto,
        "gmtoffset": if crypto { 0 } else { -18000 }, "timezone": if crypto { "UTC" } else { "EST" },
        "exchangeTimezoneName": if crypto { "UTC" } else { "America/New_York" },
        "priceHint": 2, "dataGranularity": interval, "range": "",
        "validRanges": ["1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max"],
        "currentTradingPeriod": {
            "pre": {"timezone": "EST", "start": p2 - 19800, "end": p2, "gmtoffset": -18000},
            "regular": {"timezone": "EST", "start": p2, "end": p2 + 23400, "gmtoffset": -18000},
            "post": {"timezone": "EST", "start": p2 + 23400, "end": p2 + 37800, "gmtoffset": -18000}
        }
    });
    let result = if bars.is_empty() {
        // Yahoo's answer for a window without trading: no timestamps, empty quote block.
        json!({"meta": meta, "indicators": {"quote": [{}], "adjclose": [{}]}})
    } else {
        meta["regularMarketTime"] = json!(bars.last().unwrap().ts);
        meta["regularMarketPrice"] = json!(bars.last().unwrap().close);
        meta["chartPreviousClose"] = json!(bars[0].close);
        let col = |f: fn(&sentinel::market::Bar) -> Value| bars.iter().map(f).collect::<Vec<_>>();
        json!({
            "meta": meta,
            "timestamp": bars.iter().map(|b| b.ts).collect::<Vec<_>>(),
            "indicators": {
                "quote": [{
                    "open": col(|b| json!(b.open)), "high": col(|b| json!(b.high)), "low": col(|b| json!(b.low)),
                    "close": col(|b| json!(b.close)), "volume": col(|b| json!(b.volume.round() as u64)),
                }],
                "adjclose": [{"adjclose": col(|b| json!(b.close))}]
            }
        })
    };
    axum::Json(json!({"chart": {"result": [result], "error": null}})).into_response()
}

async fn feed(
    State(state): State<Shared2>,
    axum::extract::Path(path): axum::extract::Path<String>,
    uri: Uri,
) -> Response {
    if let Some(r) = queued_failure(&state, uri.path()) {
        return r;
    }
    if path == "empty.xml" {
        let body = "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Quiet</title>\
                    <link>http://news.fixture.test/</link><description>no news</description></channel></rss>";
        return ([(header::CONTENT_TYPE, "application/rss+xml")], body).into_response();
    }
    let file = state.lock().unwrap().root.join("feeds").join(&path);
    match std::fs::read(&file) {
        Ok(bytes) => {
            let kind = if bytes.windows(5).any(|w| w == b"<feed") {
                "application/atom+xml"
            } else {
                "application/rss+xml"
            };
            ([(header::CONTENT_TYPE, kind)], bytes).into_response()
        }
        Err(_) => (StatusCode::NOT_FOUND, "no such feed").into_response(),
    }
}

async fn newsapi(
    State(state): State<Shared2>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    uri: Uri,
) -> Response {
    if let Some(r) = queued_failure(&state, uri.path()) {
        return r;
    }
    if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some(NEWSAPI_KEY) {
        let body = json!({"status": "error", "code": "apiKeyInvalid",
            "message": "Your API key is invalid or incorrect. Check your key, or go to https://newsapi.org to create a free API key."});
        return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    }
    // The query is `"TICKER" OR "Name" ...`: the first quoted word names the file.
    let ticker = q
        .get("q")
        .and_then(|v| v.split('"').nth(1))
        .unwrap_or("")
        .to_string();
    let root = state.lock().unwrap().root.clone();
    match std::fs::read(root.join("newsapi").join(format!("{ticker}.json"))) {
        Ok(bytes) => ([(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(_) => {
            axum::Json(json!({"status": "ok", "totalResults": 0, "articles": []})).into_response()
        }
    }
}

/// A synthetic series whose next return genuinely depends on the last one:
/// `r_t = phi * r_(t-1) + e_t`, `e_t ~ N(0, sigma)`, one bar a day ending
/// 2013-03-01. There, a model that learns `phi` beats every naive baseline;
/// on real daily returns (see docs/benchmarks.md) none does.
pub fn ar1_bars(
    symbol: &str,
    n: usize,
    phi: f64,
    sigma: f64,
    seed: u64,
) -> Vec<sentinel::market::Bar> {
    let mut state = seed;
    let mut uniform = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64 + 1e-12
    };
    let end = 1_362_096_000; // 2013-03-01T00:00:00Z
    let (mut r, mut close) = (0.0f64, 100.0f64);
    (0..n)
        .map(|i| {
            let normal =
                (-2.0 * uniform().ln()).sqrt() * (2.0 * std::f64::consts::PI * uniform()).cos();
            r = phi * r + sigma * normal;
            let open = close;
            close *= r.exp();
            let spread = 0.002 + 0.004 * uniform();
            sentinel::market::Bar {
                symbol: symbol.into(),
                interval: "1d".into(),
                ts: end - (n - 1 - i) as i64 * 86_400,
                open,
                high: open.max(close) * (1.0 + spread),
                low: open.min(close) * (1.0 - spread),
                close,
                volume: (1_000_000.0 * (0.5 + uniform())).round(),
            }
        })
        .collect()
}
