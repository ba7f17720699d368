//! The five flows run end to end through orch-sdk in standalone mode (no
//! server), against the fixture server.

mod common;

use common::FixtureServer;
use serde_json::{Map, Value, json};

fn params(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn run(config: &sentinel::Config, flow: &str, p: Value) -> Result<Value, String> {
    sentinel::flows::app_with_config(config.clone())
        .run_standalone(flow, params(p))
        .map_err(|e| format!("{e:#}"))
}

#[test]
fn the_app_registers_the_five_deployed_flows() {
    let app = sentinel::flows::app();
    assert_eq!(app.flow_names(), sentinel::flows::FLOWS);
}

#[test]
fn data_refresh_flow_stores_once_and_retries_a_429() {
    let server = FixtureServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = server.config(dir.path());
    server.fail_next("/v8/finance/chart/GOOG", &[429]);
    let first = run(&config, "data-refresh-flow", json!({})).unwrap();
    assert_eq!(first["bars_inserted"], 19);
    assert_eq!(first["headlines_inserted"], 10);
    // The 429 was retried by the task: two requests for the first run.
    assert_eq!(server.hits("/v8/finance/chart/GOOG"), 2);
    let second = run(&config, "data-refresh-flow", json!({})).unwrap();
    assert_eq!(
        (
            second["bars_inserted"].as_u64(),
            second["headlines_inserted"].as_u64()
        ),
        (Some(0), Some(0))
    );
}

#[test]
fn data_refresh_flow_fails_when_every_source_is_empty() {
    let server = FixtureServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut config = server.config(dir.path());
    config.clock = Some("2001-06-01T15:00:00Z".parse().unwrap());
    config.news.feeds.truncate(0);
    config.news.newsapi_key = None;
    let err = run(&config, "data-refresh-flow", json!({})).unwrap_err();
    assert!(err.contains("no data retrieved"), "{err}");
}

#[test]
fn trading_flow_idles_outside_hours_and_decides_when_forced() {
    let server = FixtureServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut config = server.config(dir.path());
    config.clock = Some("2013-03-02T15:00:00Z".parse().unwrap()); // Saturday
    let idle = run(&config, "trading-flow", json!({"force": false})).unwrap();
    assert_eq!(idle["decisions"], json!([]));
    assert_eq!(idle["gate"]["proceed"], false);
    let forced = run(&config, "trading-flow", json!({"force": true})).unwrap();
    let decisions = forced["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0]["forced"], true);
    assert!(
        decisions[0]["flow_run_id"]
            .as_str()
            .unwrap()
            .starts_with("local-")
    );
    let err = run(&config, "trading-flow", json!({"forse": true})).unwrap_err();
    assert!(
        err.contains("forse"),
        "unknown parameters fail clearly: {err}"
    );
}

#[test]
fn full_system_flow_refreshes_then_decides() {
    let server = FixtureServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut config = server.config(dir.path());
    config.model.default_days = 90;
    let out = run(&config, "full-system-flow", json!({})).unwrap();
    assert!(out["refresh"]["bars_inserted"].as_u64().unwrap() > 19);
    assert_eq!(out["trading"]["decisions"].as_array().unwrap().len(), 1);
}

#[test]
fn data_collection_flow_returns_a_validated_dataset() {
    let server = FixtureServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut config = server.config(dir.path());
    config.clock = Some("2025-01-15T00:00:00Z".parse().unwrap());
    let out = run(
        &config,
        "data-collection-flow",
        json!({"symbol": "BTC-USD", "days": 5000, "interval": "1mo"}),
    )
    .unwrap();
    assert_eq!(out["report"]["rows_in"], 156);
    assert_eq!(out["report"]["rows_out"], 156);
    assert_eq!(out["report"]["duplicates"], 0);
    assert_eq!(out["stored"], 156);
    let path = out["path"].as_str().unwrap();
    let text = std::fs::read_to_string(path).unwrap();
    assert_eq!(text.lines().count(), 157);
    assert!(std::path::Path::new(&path.replace(".csv", ".report.json")).exists());
}

#[test]
fn model_retraining_flow_returns_success_version_metrics_activated() {
    let server = FixtureServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = server.config(dir.path());
    let out = run(
        &config,
        "model-retraining-flow",
        json!({"symbol": "GOOG", "days": 1000}),
    )
    .unwrap();
    assert_eq!(out["success"], true);
    assert_eq!(out["version"], "v1");
    let best = ["persistence", "last_direction", "drift"]
        .iter()
        .map(|b| out["baselines"][b]["rmse"].as_f64().unwrap())
        .fold(f64::INFINITY, f64::min);
    let rmse = out["metrics"]["rmse"].as_f64().unwrap();
    assert_eq!(out["activated"].as_bool(), Some(rmse < best), "{out}");
    assert!(dir.path().join("models/v1/metadata.json").exists());
}
