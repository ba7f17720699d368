//! A multi-line secret (a PEM key) is hidden line by line wherever a flow
//! written with the SDK shows it: log lines of one line of the key, the
//! whole key logged, a task's result and a task's error.

use orch_e2e::{TestServer, deployment_toml, state_type};

use super::{TESTFLOWS, WAIT};

const PEM: &str = "-----BEGIN PRIVATE KEY-----\n\
                   MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n\
                   -----END PRIVATE KEY-----\n";

#[test]
fn an_sdk_flow_shows_no_line_of_a_pem_key_in_logs_results_or_errors() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("key.pem");
    std::fs::write(&key_file, PEM).unwrap();
    server.ok(&[
        "secret",
        "set",
        "SIGNING_KEY",
        "--from-file",
        key_file.to_str().unwrap(),
    ]);
    let toml = deployment_toml(
        "keys",
        "sdk",
        "pool",
        &[TESTFLOWS, "secret-lines"],
        "secrets = [\"SIGNING_KEY\"]",
    );
    let _deployed = server.deploy("pool", &toml);
    let _worker = server.start_worker("pool", &[]);
    let run = server.run_deployment("keys/sdk", &[]);
    let detail = server.wait_for_state(&run, &["COMPLETED", "FAILED", "CRASHED"], WAIT);
    assert_eq!(state_type(&detail), "COMPLETED", "{detail:#}");

    let messages = server.log_messages(&run);
    assert!(
        messages
            .iter()
            .any(|m| m.contains("the failing task failed: true")),
        "the flow ran to its end: {messages:#?}"
    );
    assert!(
        messages.iter().filter(|m| m.as_str() == "***").count() >= 3,
        "each line logged alone is hidden: {messages:#?}"
    );
    let logs = messages.join("\n");
    let inspect = server.ok(&["flow-run", "inspect", &run, "--output", "json"]);
    let tasks = server.ok(&["task-run", "ls", "--flow-run", &run, "--output", "json"]);
    for line in PEM.lines() {
        assert!(!logs.contains(line), "{line:?} in the logs: {logs}");
        assert!(!inspect.contains(line), "{line:?} in the run: {inspect}");
        assert!(!tasks.contains(line), "{line:?} in the task runs: {tasks}");
    }
    let task = |name: &str| {
        detail["task_runs"]
            .as_array()
            .and_then(|tasks| tasks.iter().find(|t| t["name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("no task run {name} in {detail:#}"))
    };
    assert_eq!(task("returns-a-line")["result"], "***", "{detail:#}");
    let error = task("fails-with-the-key")["error"].to_string();
    assert!(error.contains("cannot sign with ***"), "{error}");
}
