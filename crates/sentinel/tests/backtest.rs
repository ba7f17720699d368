//! The backtest on the shipped GOOG recording: one decision per bar from the
//! start, through the same decision and portfolio code; the buy-and-hold
//! benchmark is the recorded closes' ratio less one trade's cost.

mod common;

#[tokio::test]
async fn the_backtest_decides_every_bar_and_benchmarks_buy_and_hold() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = sentinel::Config {
        data_dir: dir.path().to_path_buf(),
        source: sentinel::config::Source::Replay(common::fixtures()),
        symbols: vec![sentinel::config::SymbolSpec::Ticker("GOOG".into())],
        clock: Some("2013-03-04T15:00:00Z".parse().unwrap()),
        ..sentinel::Config::default()
    };
    c.market.interval = "1d".into();
    c.decision.lstm_weight = 0.0;
    c.decision.momentum_weight = 0.7;
    let s = sentinel::Sentinel::open(c).await.unwrap();
    let from = "2011-01-01T00:00:00Z".parse().unwrap();
    let r = s.backtest("GOOG", 4000, Some(from)).await.unwrap();
    let bars = sentinel::market::csv::read_bars(
        &common::fixtures().join("bars/GOOG/1d.csv"),
        "GOOG",
        "1d",
    )
    .unwrap();
    let period: Vec<_> = bars.iter().filter(|b| b.ts >= from.timestamp()).collect();
    assert_eq!(r.decisions, period.len());
    assert_eq!(r.buys + r.sells + r.holds, r.decisions);
    assert!(r.buys > 0 && r.sells > 0, "{r:?}");
    let first = period[0].close;
    let last = period.last().unwrap().close;
    let expected = last / (first * 1.001) - 1.0;
    assert!((r.benchmark_return - expected).abs() < 1e-9, "{r:?}");
    assert!((r.total_return - (r.last.equity / 100_000.0 - 1.0)).abs() < 1e-12);
    assert!(
        r.signals.iter().any(|s| s.starts_with("no lstm")),
        "{:?}",
        r.signals
    );
    assert_eq!(r.volatility.model.samples, period.len() - 1);
}
