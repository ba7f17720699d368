//! Trading against the fixture server: the market-hours gate and recorded decisions.

mod common;

use common::FixtureServer;
use sentinel::Sentinel;
use sentinel::decision::Action;

#[tokio::test]
async fn outside_market_hours_without_force_records_nothing_and_with_force_records_a_decision() {
    let server = FixtureServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut config = server.config(dir.path());
    // Saturday 2013-03-02, 10:00 New York.
    config.clock = Some("2013-03-02T15:00:00Z".parse().unwrap());
    let s = Sentinel::open(config).await.unwrap();
    s.refresh(None).await.unwrap();

    let idle = s.trade(false, None).await.unwrap();
    assert!(
        !idle.gate.market_open && !idle.gate.proceed,
        "{:?}",
        idle.gate
    );
    assert!(
        idle.gate.reason.contains("market closed"),
        "{}",
        idle.gate.reason
    );
    assert!(idle.decisions.is_empty());
    assert_eq!(s.store.counts().await.unwrap().decisions, 0);

    let forced = s.trade(true, Some("run-1".into())).await.unwrap();
    assert!(forced.gate.proceed && !forced.gate.market_open);
    assert_eq!(forced.decisions.len(), 1);
    let stored = s.store.decisions(Some("GOOG"), 10).await.unwrap();
    assert_eq!(stored.len(), 1);
    let d = &stored[0];
    assert_eq!(d, &forced.decisions[0]);
    assert!(d.forced);
    assert_eq!(d.flow_run_id.as_deref(), Some("run-1"));
    assert_eq!(d.price, Some(806.19));
    // No model yet: the decision rests on sentiment and momentum, and says so in its inputs.
    assert!(d.signals.lstm.is_none());
    let sentiment = d
        .signals
        .sentiment
        .as_ref()
        .expect("GOOG headlines in the last 24 h");
    assert!(!sentiment.market_wide && sentiment.headlines > 0);
    assert!(d.signals.momentum.as_ref().is_some_and(|m| m.bars == 10));
    assert!(matches!(
        d.action,
        Action::Buy | Action::Sell | Action::Hold
    ));
    assert!((-1.0..=1.0).contains(&d.score) && (0.0..=1.0).contains(&d.confidence));
}

#[tokio::test]
async fn inside_market_hours_trading_proceeds_without_force() {
    let server = FixtureServer::start();
    let dir = tempfile::tempdir().unwrap();
    let s = Sentinel::open(server.config(dir.path())).await.unwrap(); // Monday 10:00 New York
    s.refresh(None).await.unwrap();
    let out = s.trade(false, None).await.unwrap();
    assert!(out.gate.market_open);
    assert_eq!(out.decisions.len(), 1);
    assert!(!out.decisions[0].forced);
}

#[tokio::test]
async fn the_gate_follows_the_exchange_calendar() {
    let server = FixtureServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut config = server.config(dir.path());
    // Good Friday 2013-03-29, 11:00 New York: a weekday without a session.
    config.clock = Some("2013-03-29T15:00:00Z".parse().unwrap());
    let s = Sentinel::open(config.clone()).await.unwrap();
    let gate = s.trading_gate(false);
    assert!(!gate.market_open && !gate.proceed, "{gate:?}");
    assert!(
        gate.reason.contains("XNYS closed: Good Friday"),
        "{}",
        gate.reason
    );
    // Day after Thanksgiving 2012, 13:30 New York: after the 13:00 early close.
    config.clock = Some("2012-11-23T18:30:00Z".parse().unwrap());
    let s = Sentinel::open(config).await.unwrap();
    let gate = s.trading_gate(false);
    assert!(!gate.market_open, "{gate:?}");
    assert!(
        gate.reason.contains("closes early at 13:00"),
        "{}",
        gate.reason
    );
}
