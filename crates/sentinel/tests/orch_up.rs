//! `orch up` offline, as a new user starts it: the real `orch` binary runs
//! server, scheduler and worker in one process; the worker runs the real
//! `sentinel` binary on the shipped recording with the repository's own
//! deploy/sentinel.toml (moving replay, demo weights). Instead of waiting 10
//! minutes, the replay runs fast (one recorded day every 2 seconds) and the
//! repository's `trading-replay` deployment fires every 2 seconds: the trading
//! runs must see new bars and make differing decisions, and the paper
//! portfolio must follow them.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

fn repository_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

/// The repository's `trading-replay` deployment with its schedule at 2 s.
fn deploy_file(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(repository_file("deploy/orch.toml")).unwrap();
    let mut doc: toml::Table = text.parse().unwrap();
    let deployments = doc["deployments"].as_array().unwrap();
    let mut replay = deployments
        .iter()
        .find(|d| d["name"].as_str() == Some("trading-replay"))
        .expect("deploy/orch.toml has the trading-replay deployment")
        .clone();
    let schedule = &mut replay["schedules"].as_array_mut().unwrap()[0];
    assert_eq!(schedule["interval_seconds"].as_integer(), Some(120));
    schedule["interval_seconds"] = toml::Value::Integer(2);
    doc.insert("deployments".into(), toml::Value::Array(vec![replay]));
    // Its automations name the other deployments.
    doc.remove("automations");
    let path = dir.join("orch.toml");
    std::fs::write(&path, toml::to_string(&doc).unwrap()).unwrap();
    path
}

/// The repository's deploy/sentinel.toml, the replay 60x faster.
fn sentinel_file(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(repository_file("deploy/sentinel.toml")).unwrap();
    let mut doc: toml::Table = text.parse().unwrap();
    assert_eq!(doc["replay"]["speed"].as_float(), Some(0.5));
    doc["replay"]["speed"] = toml::Value::Float(30.0);
    doc["source"] = toml::Value::String(format!("replay:{}", common::fixtures().display()));
    doc.insert(
        "data_dir".into(),
        toml::Value::String(dir.join("data").display().to_string()),
    );
    let path = dir.join("sentinel.toml");
    std::fs::write(&path, toml::to_string(&doc).unwrap()).unwrap();
    path
}

fn sentinel_json(config: &Path, args: &[&str]) -> Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sentinel"))
        .args(args)
        .env("SENTINEL_CONFIG", config)
        .env_remove("SENTINEL_SOURCE")
        .env_remove("SENTINEL_DATA_DIR")
        .env_remove("SENTINEL_NOW")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `orch ARGS --output json` against the server at `url`.
fn orch_json(url: &str, home: &Path, args: &[&str]) -> Value {
    let out = std::process::Command::new(orch_e2e::binary("orch"))
        .args(args)
        .args(["--output", "json"])
        .env("ORCH_API_URL", url)
        .env("ORCH_HOME", home)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "orch {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn orch_up_offline_makes_trading_runs_with_differing_decisions() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let deploy = deploy_file(dir.path());
    let config = sentinel_file(dir.path());
    let path = common::path_with_sentinel();
    let mut command = std::process::Command::new(orch_e2e::binary("orch"));
    command
        .args(["up", "--no-build", deploy.to_str().unwrap(), "--port", "0"])
        .env("ORCH_HOME", home.path())
        .env("NO_COLOR", "1")
        .env("PATH", &path)
        .env("SENTINEL_CONFIG", &config)
        // Flows receive only what the operator passes (and the basics).
        .env("ORCH_WORKER_PASS_ENV", "SENTINEL_CONFIG")
        .env_remove("SENTINEL_SOURCE")
        .env_remove("SENTINEL_DATA_DIR")
        .env_remove("SENTINEL_NOW");
    let mut up = orch_e2e::Daemon::spawn("up", command, home.path());
    let line = up.wait_for_line("orch is up: dashboard ", Duration::from_secs(60));
    let url = line
        .split("dashboard ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .map(|url| url.trim_end_matches('/').to_string())
        .expect("a dashboard URL");

    // Wait (bounded) for eight decisions from orch's runs.
    let deadline = Instant::now() + Duration::from_secs(90);
    let decisions = loop {
        let d = sentinel_json(
            &config,
            &["decisions", "ls", "--limit", "100", "--output", "json"],
        );
        let d = d.as_array().cloned().unwrap_or_default();
        if d.len() >= 8 {
            break d;
        }
        assert!(
            Instant::now() < deadline,
            "{} decisions after 90 s; orch up said:\n{}",
            d.len(),
            up.output()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let field =
        |k: &str| -> BTreeSet<String> { decisions.iter().map(|d| d[k].to_string()).collect() };
    assert!(
        field("decided_at").len() >= 6,
        "the replayed clock moves: {decisions:#?}"
    );
    assert!(
        field("price").len() >= 6,
        "each replayed day brings a new close"
    );
    assert!(
        decisions
            .iter()
            .all(|d| !d["flow_run_id"].as_str().unwrap().starts_with("local-")),
        "decided by orch's runs"
    );
    let scores = field("score");
    assert!(scores.len() >= 6, "the scores differ: {scores:?}");
    let actions = field("action");
    assert!(
        actions.len() >= 2,
        "the decisions differ: {actions:?} in {decisions:#?}"
    );

    // A fresh install has every signal from its first decision: the first
    // trading run trained the first models (the volatility model is active
    // and sizes each decision; the LSTM's forecast is there, weightless and
    // saying why when it did not beat the baselines).
    for d in &decisions {
        let signals = &d["signals"];
        assert!(
            signals["volatility"]["model_version"].is_string(),
            "a decision without the volatility model: {d:#}\norch up said:\n{}",
            up.output()
        );
        let lstm = &signals["lstm"];
        assert!(
            lstm["model_version"].is_string(),
            "a decision without the LSTM's forecast: {d:#}"
        );
        if let Some(why) = lstm["shadow"].as_str() {
            assert!(why.contains("not active"), "{why}");
        }
    }
    let first_run = decisions.last().unwrap()["flow_run_id"].as_str().unwrap();
    let logs = orch_json(&url, home.path(), &["flow-run", "logs", first_run]).to_string();
    assert!(
        logs.contains("first start: no model of GOOG has been trained yet")
            && logs.contains("first volatility model"),
        "the first trading run says it trains the first models: {logs}"
    );

    let marks = sentinel_json(
        &config,
        &["portfolio", "--symbol", "GOOG", "--output", "json"],
    );
    let marks = marks.as_array().unwrap();
    assert!(marks.len() >= 6, "the paper portfolio follows each run");
    let equities: BTreeSet<String> = marks.iter().map(|m| m["equity"].to_string()).collect();
    assert!(equities.len() >= 2 || marks.iter().all(|m| m["units"] == 0.0));

    // Each trading run published its decisions table and portfolio metrics.
    let run = decisions[0]["flow_run_id"].as_str().unwrap();
    let artifacts = orch_json(&url, home.path(), &["artifact", "ls", "--flow-run", run]);
    let text = artifacts.to_string();
    assert!(
        text.contains("\"decisions\"") && text.contains("portfolio-GOOG"),
        "{text}"
    );

    // The run page shows them to a person: the decisions table and the portfolio.
    let page = format!("{url}/flow-runs/{run}");
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(show_run_page(
            &url,
            &page,
            &orch_e2e::admin_key_in(home.path(), &url),
        ));
    up.terminate(Duration::from_secs(20));
}

/// Opens a trading run's page in headless Chromium, waits for its decisions
/// table and portfolio metrics, and saves `target/screenshots/sentinel-trading-run.png`.
async fn show_run_page(base: &str, page: &str, key: &str) {
    const WAIT: Duration = Duration::from_secs(30);
    let browser = orch_e2e::browser::Browser::start().await;
    browser.login(base, key).await;
    browser.client.goto(page).await.expect("open the run page");
    let table = browser
        .wait_for_text("#artifacts .artifact.kind-table", "GOOG", WAIT)
        .await;
    assert!(
        ["BUY", "SELL", "HOLD"]
            .iter()
            .any(|action| table.contains(action)),
        "the decisions table names an action: {table}"
    );
    browser
        .wait_for_text("#artifacts", "portfolio-GOOG", WAIT)
        .await;
    let shot = browser.screenshot("sentinel-trading-run").await;
    assert!(shot.is_file());
    browser.close().await;
}
