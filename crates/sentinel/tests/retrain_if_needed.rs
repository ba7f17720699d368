//! Retrain if needed, through `model-retraining-flow`: a fresh model is kept,
//! an old or degraded one is retrained, `force=true` retrains anyway; each
//! time the reason is returned. The series is AR(1) (a model that beats the
//! baselines exists, so the first one is activated); degradation is real: the
//! bars after its validation window follow a different, noisier process.

mod common;

use common::FixtureServer;
use serde_json::{Value, json};

fn run(config: &sentinel::Config, p: Value) -> Value {
    sentinel::flows::app_with_config(config.clone())
        .run_standalone("model-retraining-flow", p.as_object().cloned().unwrap())
        .unwrap_or_else(|e| panic!("{e:#}"))
}

fn setup(root: &std::path::Path, data: &std::path::Path) -> (FixtureServer, sentinel::Config) {
    let bars = common::ar1_bars("AR1", 700, 0.6, 0.01, 42);
    sentinel::market::csv::write_bars(&root.join("bars/AR1/1d.csv"), &bars).unwrap();
    let server = FixtureServer::start_with_root(root);
    let mut config = server.config(data);
    config.symbols = vec![sentinel::config::SymbolSpec::Ticker("AR1".into())];
    (server, config)
}

#[allow(non_snake_case)]
fn P() -> Value {
    json!({"symbol": "AR1", "days": 1000})
}

#[test]
fn a_fresh_model_is_kept_an_old_one_retrained_and_force_retrains() {
    let (market, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (_server, mut config) = setup(market.path(), data.path());
    let first = run(&config, P());
    assert_eq!(first["skipped"], false);
    assert!(
        first["check"]["reason"]
            .as_str()
            .unwrap()
            .contains("no active"),
        "{first}"
    );
    assert_eq!(first["activated"], true, "{first}");
    assert!(
        first["volatility"]["evaluation"]["model"]["rmse"]
            .as_f64()
            .is_some(),
        "{first}"
    );

    // Same day: young (0 days < 7) and no newer bars: kept.
    let kept = run(&config, P());
    assert_eq!(kept["skipped"], true, "{kept}");
    assert_eq!(kept["version"], "v1");
    let reason = kept["reason"].as_str().unwrap();
    assert!(
        reason.contains("kept active v1") && reason.contains("force=true"),
        "{reason}"
    );
    assert!(
        !data.path().join("models/v2").exists(),
        "nothing was trained"
    );

    // force=true retrains the same young model.
    let forced = run(
        &config,
        json!({"symbol": "AR1", "days": 1000, "force": true}),
    );
    assert_eq!(
        (forced["skipped"].as_bool(), forced["version"].as_str()),
        (Some(false), Some("v2"))
    );
    assert!(
        forced["check"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("force=true")
    );

    // Eight days later the active model is too old.
    let active = forced["activated"].as_bool().unwrap();
    config.clock = Some("2013-03-12T15:00:00Z".parse().unwrap());
    let old = run(&config, P());
    assert_eq!(old["skipped"], false, "{old}");
    let reason = old["check"]["reason"].as_str().unwrap();
    let v = if active { "v2" } else { "v1" };
    assert!(
        reason.contains(&format!("active {v} is 8.0 days old (max 7.0)")),
        "{reason}"
    );
}

#[test]
fn a_degraded_model_is_retrained() {
    let (market, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (_server, mut config) = setup(market.path(), data.path());
    config.model.max_model_age_days = 365.0;
    assert_eq!(run(&config, P())["activated"], true);

    // 20 more days of a regime the model never saw: anti-persistent, 5x noisier.
    let mut bars = common::ar1_bars("AR1", 700, 0.6, 0.01, 42);
    let mut last = bars.last().unwrap().clone();
    for b in common::ar1_bars("AR1", 20, -0.6, 0.05, 9) {
        let r = (b.close / b.open).ln();
        let close = last.close * r.exp();
        last = sentinel::market::Bar {
            ts: last.ts + 86_400,
            open: last.close,
            high: last.close.max(close) * 1.002,
            low: last.close.min(close) * 0.998,
            close,
            volume: b.volume,
            ..last
        };
        bars.push(last.clone());
    }
    sentinel::market::csv::write_bars(&market.path().join("bars/AR1/1d.csv"), &bars).unwrap();
    config.clock = Some("2013-03-22T15:00:00Z".parse().unwrap());
    let out = run(&config, P());
    assert_eq!(out["skipped"], false, "{out}");
    let check = &out["check"];
    assert_eq!(check["new_samples"], 20, "{check}");
    assert!(check["degradation"].as_f64().unwrap() > 0.25, "{check}");
    assert!(
        check["reason"].as_str().unwrap().contains("degraded"),
        "{check}"
    );
}
