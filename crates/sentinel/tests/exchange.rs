//! The exchange source against a loopback server that speaks Binance's
//! public klines REST format (`/api/v3/klines`, arrays of string prices,
//! at most 1,000 klines a request, 429 with Retry-After, 418 bans, error
//! objects `{"code": -1121, "msg": "Invalid symbol."}`), through the real
//! data-collection flow (task retries included).

mod common;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sentinel::market::Bar;
use serde_json::{Value, json};

#[derive(Default)]
struct Exchange {
    bars: Vec<Bar>,
    failures: VecDeque<u16>,
    requests: Vec<(Instant, HashMap<String, String>)>,
}

type Shared = Arc<Mutex<Exchange>>;

fn error(status: StatusCode, code: i64, msg: &str) -> Response {
    (status, axum::Json(json!({"code": code, "msg": msg}))).into_response()
}

async fn klines(State(state): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut ex = state.lock().unwrap();
    ex.requests.push((Instant::now(), q.clone()));
    match ex.failures.pop_front() {
        Some(429) => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, "1")],
                axum::Json(json!({"code": -1003, "msg": "Too many requests; current limit is 6000 request weight per 1 MINUTE."})),
            )
                .into_response();
        }
        Some(418) => {
            return (
                StatusCode::IM_A_TEAPOT,
                [(header::RETRY_AFTER, "7200")],
                axum::Json(json!({"code": -1003, "msg": "Way too many requests; IP banned until 1362100000000."})),
            )
                .into_response();
        }
        Some(other) => {
            return error(
                StatusCode::from_u16(other).unwrap(),
                -1000,
                "fixture failure",
            );
        }
        None => {}
    }
    if q.get("symbol").map(String::as_str) != Some("BTCUSDT") {
        return error(StatusCode::BAD_REQUEST, -1121, "Invalid symbol.");
    }
    let limit: usize = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(500);
    if limit > 1000 {
        return error(
            StatusCode::BAD_REQUEST,
            -1130,
            "Invalid data sent for a parameter.",
        );
    }
    let ms = |k: &str| q.get(k).and_then(|v| v.parse::<i64>().ok());
    let (start, end) = (
        ms("startTime").unwrap_or(0),
        ms("endTime").unwrap_or(i64::MAX),
    );
    let rows: Vec<Value> = ex
        .bars
        .iter()
        .filter(|b| b.ts * 1000 >= start && b.ts * 1000 <= end)
        .take(limit)
        .map(|b| {
            json!([
                b.ts * 1000,
                format!("{:.8}", b.open),
                format!("{:.8}", b.high),
                format!("{:.8}", b.low),
                format!("{:.8}", b.close),
                format!("{:.8}", b.volume),
                b.ts * 1000 + 86_399_999,
                format!("{:.8}", b.volume * b.close),
                1000,
                "0",
                "0",
                "0"
            ])
        })
        .collect();
    axum::Json(Value::Array(rows)).into_response()
}

struct Server {
    base: String,
    state: Shared,
    _rt: tokio::runtime::Runtime,
}

fn start(bars: Vec<Bar>) -> Server {
    let state: Shared = Arc::new(Mutex::new(Exchange {
        bars,
        ..Exchange::default()
    }));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/api/v3/klines", get(klines))
        .with_state(state.clone());
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    Server {
        base,
        state,
        _rt: rt,
    }
}

fn config(server: &Server, data_dir: &std::path::Path) -> sentinel::Config {
    let mut c = sentinel::Config {
        data_dir: data_dir.to_path_buf(),
        clock: Some("2013-03-02T00:00:00Z".parse().unwrap()),
        ..sentinel::Config::default()
    };
    c.collection.exchange = "binance".into();
    c.collection.exchange_base_url = server.base.clone();
    c.collection.symbol = "BTC/USDT".into();
    c.tasks.fetch_retry_delay_secs = 0;
    c
}

fn collect(config: &sentinel::Config, days: u32) -> Result<Value, String> {
    let params = json!({"days": days}).as_object().cloned().unwrap();
    sentinel::flows::app_with_config(config.clone())
        .run_standalone("data-collection-flow", params)
        .map_err(|e| format!("{e:#}"))
}

fn bars(n: usize) -> Vec<Bar> {
    common::ar1_bars("BTCUSDT", n, 0.0, 0.02, 7)
}

#[test]
fn collection_pages_2500_bars_over_the_1000_bar_limit_and_maps_the_pair() {
    let server = start(bars(2500));
    let dir = tempfile::tempdir().unwrap();
    let out = collect(&config(&server, dir.path()), 3000).unwrap();
    assert_eq!(out["symbol"], "BTC/USDT");
    assert_eq!(out["report"]["rows_in"], 2500, "{out}");
    assert_eq!(out["report"]["rows_out"], 2500);
    assert_eq!(out["stored"], 2500);
    assert!(
        out["path"].as_str().unwrap().contains("BTC-USDT-1d-"),
        "{out}"
    );
    let requests = &server.state.lock().unwrap().requests;
    assert_eq!(requests.len(), 3, "1,000 + 1,000 + 500");
    for (_, q) in requests {
        assert_eq!(q["symbol"], "BTCUSDT");
        assert_eq!(q["interval"], "1d");
        assert_eq!(q["limit"], "1000");
    }
    // Each page starts just after the previous page's last open time.
    let first_open = bars(2500)[0].ts * 1000;
    let second: i64 = requests[1].1["startTime"].parse().unwrap();
    assert_eq!(second, first_open + 999 * 86_400_000 + 1);
}

#[test]
fn a_429_with_retry_after_is_retried_by_the_task_no_sooner_than_asked() {
    let server = start(bars(300));
    server.state.lock().unwrap().failures.push_back(429);
    let dir = tempfile::tempdir().unwrap();
    let out = collect(&config(&server, dir.path()), 400).unwrap();
    assert_eq!(out["stored"], 300);
    let requests = &server.state.lock().unwrap().requests;
    assert_eq!(requests.len(), 2, "the 429, then the retried page");
    let waited = requests[1].0 - requests[0].0;
    assert!(
        waited.as_millis() >= 1000,
        "Retry-After 1 s honoured: {waited:?}"
    );
}

#[test]
fn a_418_ban_is_fatal_with_a_clear_message_and_no_retry() {
    let server = start(bars(300));
    server.state.lock().unwrap().failures.push_back(418);
    let dir = tempfile::tempdir().unwrap();
    let err = collect(&config(&server, dir.path()), 400).unwrap_err();
    assert!(err.contains("HTTP 418") && err.contains("banned"), "{err}");
    assert!(err.contains("wait for the ban to expire"), "{err}");
    assert_eq!(server.state.lock().unwrap().requests.len(), 1);
}

#[test]
fn an_unknown_pair_reports_the_exchange_error() {
    let server = start(bars(50));
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&server, dir.path());
    c.collection.symbol = "NOPE/USDT".into();
    let err = collect(&c, 100).unwrap_err();
    assert!(
        err.contains("Invalid symbol") && err.contains("HTTP 400"),
        "{err}"
    );
}

#[test]
fn record_writes_the_exchange_bars_and_a_replay_collects_them() {
    let server = start(bars(300));
    let yahoo = common::FixtureServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("sentinel.toml");
    std::fs::write(
        &config_path,
        format!(
            "symbols = [\"GOOG\"]\nsource = \"live\"\n[market]\nyahoo_base_url = \"{}\"\ninterval = \"1d\"\n\
             [news]\nfeeds = []\n[collection]\nexchange = \"binance\"\nexchange_base_url = \"{}\"\nsymbol = \"BTC/USDT\"\n",
            yahoo.base, server.base
        ),
    )
    .unwrap();
    let recording = dir.path().join("rec");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sentinel"))
        .args(["record", recording.to_str().unwrap(), "--days", "10000"])
        .env("SENTINEL_CONFIG", &config_path)
        .env("SENTINEL_DATA_DIR", dir.path().join("data"))
        .env_remove("SENTINEL_SOURCE")
        .env_remove("SENTINEL_NOW")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("BTC-USDT/1d.csv: 300 bars (binance"),
        "{stdout}"
    );
    let csv = recording.join("bars/BTC-USDT/1d.csv");
    let recorded = sentinel::market::csv::read_bars(&csv, "BTC/USDT", "1d").unwrap();
    assert_eq!(recorded.len(), 300);
    assert!((recorded[0].close - bars(300)[0].close).abs() < 1e-7);

    // The recording replays: the collection flow reads the pair from it.
    let mut c = config(&server, &dir.path().join("replayed"));
    c.source = sentinel::config::Source::Replay(recording);
    let out = collect(&c, 400).unwrap();
    assert_eq!(out["report"]["rows_in"], 300, "{out}");
}
