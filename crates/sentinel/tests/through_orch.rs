//! sentinel driven through orch, as in production: the repository's own
//! deploy/orch.toml is deployed to a real server, a real worker runs the real
//! `sentinel` binary, and its live sources are a loopback fixture server that
//! answers in Yahoo's v8 chart JSON and in RSS.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::FixtureServer;
use orch_e2e::{TestServer, state_type};

fn repository_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

#[test]
fn trading_production_with_force_completes_through_orch_with_its_task_graph() {
    let fixtures = FixtureServer::start();
    let data_dir = tempfile::tempdir().unwrap();
    let config = data_dir.path().join("sentinel.toml");
    std::fs::write(
        &config,
        format!(
            "symbols = [{{ ticker = \"GOOG\", names = [\"Google\", \"Alphabet\"] }}]\n\
             [market]\nyahoo_base_url = \"{base}\"\ninterval = \"1d\"\nrefresh_lookback_days = 30\n\
             [news]\nfeeds = [{{ name = \"markets\", url = \"{base}/feeds/markets.xml\" }}]\n\
             [tasks]\nfetch_retry_delay_secs = 0\n",
            base = fixtures.base
        ),
    )
    .unwrap();

    let server = TestServer::start();
    server.ok(&["work-pool", "create", "sentinel-pool", "--type", "process"]);
    let deploy_file = repository_file("deploy/orch.toml");
    let report = server.json(&["deploy", deploy_file.to_str().unwrap()]);
    assert!(
        report.to_string().contains("trading-production"),
        "{report}"
    );

    let path = common::path_with_sentinel();
    let _worker = server.start_worker_with_env(
        "sentinel-pool",
        &[],
        &[
            ("PATH", path.as_str()),
            ("SENTINEL_CONFIG", config.to_str().unwrap()),
            ("SENTINEL_DATA_DIR", data_dir.path().to_str().unwrap()),
            ("SENTINEL_NOW", "2013-03-04T15:00:00Z"),
        ],
    );

    let run = server.run_deployment(
        "trading-flow/trading-production",
        &["--param", "force=true"],
    );
    let detail = server.wait_for_state(
        &run,
        &["COMPLETED", "FAILED", "CRASHED"],
        Duration::from_secs(120),
    );
    assert_eq!(state_type(&detail), "COMPLETED", "{detail:#}");
    assert_eq!(detail["parameters"], serde_json::json!({"force": true}));
    assert!(
        fixtures.hits("/v8/finance/chart/GOOG") >= 1,
        "prices came from the Yahoo fixture"
    );

    let tasks = detail["task_runs"].as_array().expect("task runs");
    let by_name = |tasks: &[serde_json::Value], name: &str| {
        tasks
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("no task {name} in {tasks:#?}"))
            .clone()
    };
    // The data refresh is a subflow run of its own, linked to the call's task run.
    for name in ["data-refresh", "signals-GOOG", "decide-GOOG"] {
        assert_eq!(by_name(tasks, name)["state"]["type"], "COMPLETED", "{name}");
    }
    let refresh = &detail["subflow_runs"][0];
    assert_eq!(refresh["flow"], "data-refresh", "{detail:#}");
    assert_eq!(refresh["state"]["type"], "COMPLETED");
    assert_eq!(
        refresh["parent_task_run_id"],
        by_name(tasks, "data-refresh")["id"]
    );
    let refresh = server.inspect(refresh["id"].as_str().unwrap());
    let refresh_tasks = refresh["task_runs"].as_array().expect("task runs");
    for name in ["fetch-prices", "fetch-news", "store"] {
        assert_eq!(
            by_name(refresh_tasks, name)["state"]["type"],
            "COMPLETED",
            "{name}"
        );
    }
    let store = by_name(refresh_tasks, "store");
    let upstream: Vec<&str> = store["upstream_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let prices = by_name(refresh_tasks, "fetch-prices");
    assert!(
        upstream.contains(&prices["id"].as_str().unwrap()),
        "store consumed the prices"
    );
    let decide = by_name(tasks, "decide-GOOG");
    let signals = by_name(tasks, "signals-GOOG");
    assert!(
        decide["upstream_ids"]
            .as_array()
            .unwrap()
            .iter()
            .any(|id| *id == signals["id"]),
        "the decision consumed the signals"
    );
    let logs = server.log_messages(&run);
    assert!(logs.iter().any(|line| line.contains("decided")), "{logs:?}");
}

#[test]
fn retraining_and_collection_publish_their_artifacts_through_orch() {
    let fixtures = FixtureServer::start();
    let data_dir = tempfile::tempdir().unwrap();
    let config = data_dir.path().join("sentinel.toml");
    std::fs::write(
        &config,
        format!(
            "symbols = [\"GOOG\"]\n[market]\nyahoo_base_url = \"{base}\"\ninterval = \"1d\"\n\
             [news]\nfeeds = []\n[collection]\ninterval = \"1mo\"\n\
             [model]\nwindow = 10\nhidden = 8\nepochs = 3\n[tasks]\nfetch_retry_delay_secs = 0\n",
            base = fixtures.base
        ),
    )
    .unwrap();
    let server = TestServer::start();
    server.ok(&["work-pool", "create", "sentinel-pool", "--type", "process"]);
    server.json(&[
        "deploy",
        repository_file("deploy/orch.toml").to_str().unwrap(),
    ]);
    // This test starts the retraining itself; the shipped chain would start
    // a second one (BTC-USD) after the collection.
    server.ok(&["automation", "pause", "retrain-after-collection"]);
    let path = common::path_with_sentinel();
    let _worker = server.start_worker_with_env(
        "sentinel-pool",
        &[],
        &[
            ("PATH", path.as_str()),
            ("SENTINEL_CONFIG", config.to_str().unwrap()),
            ("SENTINEL_DATA_DIR", data_dir.path().to_str().unwrap()),
            ("SENTINEL_NOW", "2025-01-15T00:00:00Z"),
        ],
    );
    for (deployment, params) in [
        (
            "data-collection-flow/crypto-daily",
            ["--param", "days=5000"],
        ),
        (
            "model-retraining-flow/model-retraining-production",
            ["--param", "days=5000"],
        ),
    ] {
        let run = server.run_deployment(deployment, &params);
        let detail = server.wait_for_state(
            &run,
            &["COMPLETED", "FAILED", "CRASHED"],
            Duration::from_secs(120),
        );
        assert_eq!(state_type(&detail), "COMPLETED", "{detail:#}");
    }
    let validation = server.json(&["artifact", "ls", "--key", "validation-BTC-USD"]);
    assert!(validation.to_string().contains("markdown"), "{validation}");
    let model = server.json(&["artifact", "ls", "--key", "model-GOOG"]);
    let text = model.to_string();
    assert!(text.contains("metrics"), "{text}");
    let id = model[0]["id"].as_str().unwrap_or_else(|| panic!("{model}"));
    let body = server.json(&["artifact", "inspect", id]).to_string();
    for metric in [
        "candidate_rmse",
        "persistence_rmse",
        "drift_rmse",
        "volatility_ewma_rmse",
    ] {
        assert!(body.contains(metric), "{metric} in {body}");
    }
}
