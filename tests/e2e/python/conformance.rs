//! One protocol, two SDKs: the same scenario through the Rust and the Python
//! SDK is recorded alike, and both check the worker's protocol version.

use orch_e2e::{TestServer, deployment_toml, state_type};
use serde_json::Value;

use super::{WAIT, entrypoint, line, log_lines, rest, run_to_end, server_with};

const TESTFLOWS: &str = env!("CARGO_BIN_EXE_orch-testflows");

/// The Rust/Python conformance check: the same scenario (a task failing
/// twice, retried after 150 then 400 ms) through the Rust SDK and the
/// Python SDK is recorded the same way by the server.
#[test]
fn the_rust_and_python_sdks_record_the_same_scenario_alike() {
    let server = TestServer::start();
    let python = entrypoint("flaky");
    let python: Vec<&str> = python.iter().map(String::as_str).collect();
    let params = "parameters = { fail_times = 2, delays_ms = [150, 400] }";
    let toml = deployment_toml("conformance", "rust", "pool", &[TESTFLOWS, "flaky"], params)
        + &deployment_toml("conformance", "python", "pool", &python, params);
    let _dir = server.deploy("pool", &toml);
    let _worker = server.start_worker("pool", &[]);
    let recorded = |deployment: &str| {
        let run = server.run_deployment(deployment, &[]);
        server.wait_for_state(&run, &["COMPLETED", "FAILED", "CRASHED"], WAIT);
        rest(&server, &format!("/api/flow-runs/{run}"))
    };
    let (rust, python) = (recorded("conformance/rust"), recorded("conformance/python"));
    let shape = |detail: &Value| {
        let tasks = detail["task_runs"].as_array().unwrap();
        assert_eq!(tasks.len(), 1, "{detail:#}");
        let step = &tasks[0];
        let history: Vec<Value> = step["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                // The Python SDK names the exception's type; the rest is the same.
                let message = s["state"]["message"]
                    .as_str()
                    .unwrap()
                    .replace("RuntimeError: ", "");
                serde_json::json!([
                    s["seq"],
                    s["attempt"],
                    s["state"]["type"],
                    s["state"]["name"],
                    message
                ])
            })
            .collect();
        serde_json::json!({
            "run": detail["state"]["type"],
            "name": step["name"], "state": step["state"]["type"], "attempt": step["attempt"],
            "max_retries": step["max_retries"], "result": step["result"], "tags": step["tags"],
            "upstream_ids": step["upstream_ids"], "history": history,
        })
    };
    assert_eq!(shape(&rust), shape(&python));
}

/// The worker tells flows its protocol version; both SDKs refuse a newer one,
/// saying to upgrade them, before doing anything else.
#[test]
fn both_sdks_check_the_workers_protocol_version() {
    let (server, _worker, _dir) = server_with(&["protocol"]);
    let detail = run_to_end(&server, "protocol", &[]);
    assert_eq!(state_type(&detail), "COMPLETED", "{detail:#}");
    line(&log_lines(&server, &detail), "\"protocol 1\"");

    let newer = [
        ("ORCH_PROTOCOL", "2"),
        ("ORCH_API_URL", "http://127.0.0.1:9"),
        ("ORCH_FLOW_RUN_ID", "00000000-0000-0000-0000-000000000000"),
    ];
    let python = entrypoint("protocol");
    let runs = [
        (
            vec![TESTFLOWS.to_owned(), "flaky".to_owned()],
            "upgrade the Rust SDK",
        ),
        (python, "upgrade the Python SDK"),
    ];
    for (argv, expected) in runs {
        let output = std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .envs(newer)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{argv:?}: {stderr}");
        assert!(
            stderr.contains("the worker speaks flow protocol 2") && stderr.contains(expected),
            "{stderr}"
        );
    }
}
