//! examples/python: Prefect flows with only their imports changed, deployed
//! with their own orch.toml, show their task runs, retries, graph, logs and
//! artifacts.

use std::path::Path;

use orch_e2e::{TestServer, state_type};
use serde_json::Value;

use super::{WAIT, line, log_lines, rest, setup, tasks};

/// examples/python copied into `dir`, with `.venv` the tests' venv (as the
/// operator's virtualenv next to the deploy file).
fn copy_examples(dir: &Path) {
    let source = setup::repo().join("examples/python");
    std::fs::create_dir_all(dir.join("flows")).unwrap();
    std::fs::copy(source.join("orch.toml"), dir.join("orch.toml")).unwrap();
    for file in ["collect.py", "retrain.py"] {
        std::fs::copy(
            source.join("flows").join(file),
            dir.join("flows").join(file),
        )
        .unwrap();
    }
    let venv = setup::python().parent().and_then(Path::parent).unwrap();
    std::os::unix::fs::symlink(venv, dir.join(".venv")).unwrap();
}

fn artifacts_of(server: &TestServer, run: &str) -> Vec<Value> {
    let found = rest(server, &format!("/api/artifacts?flow_run={run}"));
    found
        .as_array()
        .or_else(|| found["artifacts"].as_array())
        .expect("artifacts")
        .clone()
}

#[test]
fn the_prefect_style_examples_deploy_and_show_retries_graph_logs_and_artifacts() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    copy_examples(dir.path());
    server.ok(&["work-pool", "create", "python", "--type", "process"]);
    server.ok(&["deploy", dir.path().join("orch.toml").to_str().unwrap()]);
    let _worker = server.start_worker("python", &[]);

    let run = server.run_deployment("collect/collect-hourly", &[]);
    server.wait_for_state(&run, &["COMPLETED", "FAILED", "CRASHED"], WAIT);
    let detail = rest(&server, &format!("/api/flow-runs/{run}"));
    assert_eq!(state_type(&detail), "COMPLETED", "{detail:#}");
    let fetches = tasks(&detail, "fetch_candles");
    assert_eq!(fetches.len(), 3);
    for fetch in &fetches {
        assert_eq!(fetch["attempt"], 2, "the exchange failed once: {fetch:#}");
        assert_eq!(fetch["tags"], serde_json::json!(["exchange"]));
    }
    let fetch_ids: Vec<&Value> = fetches.iter().map(|t| &t["id"]).collect();
    for features in tasks(&detail, "features") {
        let upstream = features["upstream_ids"].as_array().unwrap();
        assert_eq!(upstream.len(), 1, "{features:#}");
        assert!(fetch_ids.contains(&&upstream[0]), "{features:#}");
    }
    let lines = log_lines(&server, &detail);
    assert_eq!(line(&lines, "collected 3 symbols")["stream"], "sdk");
    let artifacts = artifacts_of(&server, &run);
    assert_eq!(artifacts.len(), 1);
    assert_eq!(artifacts[0]["key"], "collected-features");
    assert_eq!(artifacts[0]["data"].as_array().unwrap().len(), 3);

    let run = server.run_deployment("retrain/retrain-nightly", &[]);
    server.wait_for_state(&run, &["COMPLETED", "FAILED", "CRASHED"], WAIT);
    let detail = rest(&server, &format!("/api/flow-runs/{run}"));
    assert_eq!(state_type(&detail), "COMPLETED", "{detail:#}");
    assert_eq!(tasks(&detail, "window_features").len(), 116);
    let mut keys: Vec<String> = artifacts_of(&server, &run)
        .iter()
        .map(|a| a["key"].as_str().unwrap().to_owned())
        .collect();
    keys.sort();
    assert_eq!(keys, ["retrain-evaluation", "retrain-verdict"]);
}
