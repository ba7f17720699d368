//! The moving replay on the shipped recording (real GOOG daily bars): the
//! clock advances with wall time, so a data refresh a simulated day later
//! stores the new bar and the next trading run decides on it; a looping
//! replay restarts cleanly (what lies after the restarted clock is forgotten).
//!
//! The wall time is placed by writing the replay's epoch file: at speed 1
//! (one bar a wall-clock minute), an epoch 1 min 20 s ago is one bar on.

mod common;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

fn config(data_dir: &std::path::Path, start: &str, looping: bool) -> sentinel::Config {
    let mut c = sentinel::Config {
        data_dir: data_dir.to_path_buf(),
        source: sentinel::config::Source::Replay(common::fixtures()),
        symbols: vec![sentinel::config::SymbolSpec::Ticker("GOOG".into())],
        ..sentinel::Config::default()
    };
    c.market.interval = "1d".into();
    c.market.refresh_lookback_days = 10;
    c.news.feeds.clear();
    c.replay.speed = 1.0;
    c.replay.start = Some(start.parse().unwrap());
    c.replay.looping = looping;
    c
}

/// Places the replay `bars` bars (plus 20 s, away from a step) after its start.
fn set_epoch(c: &sentinel::Config, bars: i64, lap: u64) {
    let started = Utc::now() - Duration::minutes(bars) - Duration::seconds(20);
    let epoch = json!({"started_at": started, "start": c.replay.start, "speed": c.replay.speed, "lap": lap});
    std::fs::create_dir_all(&c.data_dir).unwrap();
    std::fs::write(c.data_dir.join("replay-epoch.json"), epoch.to_string()).unwrap();
}

fn run(c: &sentinel::Config, flow: &str, p: Value) -> Value {
    sentinel::flows::app_with_config(c.clone())
        .run_standalone(flow, p.as_object().cloned().unwrap())
        .unwrap_or_else(|e| panic!("{flow}: {e:#}"))
}

fn day(ts: &Value) -> String {
    DateTime::from_timestamp(ts.as_i64().unwrap(), 0)
        .unwrap()
        .date_naive()
        .to_string()
}

#[test]
fn a_refresh_a_simulated_day_later_stores_the_new_bar_and_trading_sees_it() {
    let dir = tempfile::tempdir().unwrap();
    // Start after Tuesday 2013-02-19's bar: the clock stands at Wednesday 15:00 UTC.
    let c = config(dir.path(), "2013-02-19T00:00:00Z", false);
    set_epoch(&c, 0, 0);
    let first = run(&c, "data-refresh-flow", json!({}));
    assert!(first["bars_inserted"].as_u64().unwrap() > 0, "{first}");
    let t1 = run(&c, "trading-flow", json!({}));
    assert_eq!(t1["gate"]["market_open"], true, "{t1}");
    let d1 = &t1["decisions"][0];
    assert_eq!(day(&d1["decided_at"]), "2013-02-20");

    // One wall-clock minute later: one bar on, Wednesday's bar has closed.
    set_epoch(&c, 1, 0);
    let second = run(&c, "data-refresh-flow", json!({}));
    assert_eq!(second["bars_inserted"], 1, "{second}");
    let t2 = run(&c, "trading-flow", json!({}));
    let d2 = &t2["decisions"][0];
    assert_eq!(day(&d2["decided_at"]), "2013-02-21");
    assert_ne!(
        d1["price"], d2["price"],
        "the second decision sees the new close"
    );
    // The price it saw is the recorded close of 2013-02-20.
    let recorded = std::fs::read_to_string(common::fixtures().join("bars/GOOG/1d.csv")).unwrap();
    let row = recorded
        .lines()
        .find(|l| l.starts_with("2013-02-20"))
        .unwrap();
    let close: f64 = row.split(',').nth(4).unwrap().parse().unwrap();
    assert!(
        (d2["price"].as_f64().unwrap() - close).abs() < 1e-9,
        "{row} vs {d2}"
    );
    // The paper portfolio was marked at both runs.
    assert_eq!(t2["portfolio"][0]["price"], d2["price"]);
}

#[test]
fn a_looping_replay_restarts_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    // The last five bars: 2013-02-25 .. 2013-03-01.
    let c = config(dir.path(), "2013-02-25T00:00:00Z", true);
    set_epoch(&c, 4, 0);
    run(&c, "data-refresh-flow", json!({}));
    let end = run(&c, "trading-flow", json!({"force": true}));
    assert_eq!(day(&end["decisions"][0]["decided_at"]), "2013-03-04");

    // Six bars after the start of a five-bar loop: lap 1, one bar in.
    set_epoch(&c, 6, 0);
    let again = run(&c, "trading-flow", json!({"force": true}));
    let d = &again["decisions"][0];
    assert_eq!(day(&d["decided_at"]), "2013-02-27", "{again}");
    let s = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let s = sentinel::Sentinel::open(c.clone()).await.unwrap();
        let bars = s.store.bars("GOOG", "1d", None).await.unwrap();
        let decisions = s.store.decisions(None, 10).await.unwrap();
        let marks = s.store.marks(None, 10).await.unwrap();
        (bars, decisions, marks)
    });
    let (bars, decisions, marks) = s;
    let last = bars.last().unwrap().time().date_naive().to_string();
    assert_eq!(
        last, "2013-02-26",
        "bars after the restarted clock are forgotten"
    );
    assert_eq!(
        decisions.len(),
        1,
        "the decision from the end of lap 0 is forgotten"
    );
    assert_eq!(marks.len(), 1);
    let epoch: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("replay-epoch.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(epoch["lap"], 1);
}
