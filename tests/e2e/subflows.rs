//! Subflows of the Rust SDK through a real server and worker (issue 22): a
//! flow called inside a flow is a flow run of its own, linked to its parent
//! and to the parent's task run standing for the call; it has its own task
//! runs, logs, artifacts and state history; its failure fails the parent;
//! cancelling the parent cancels it; every attempt of the parent makes its
//! own; and a deployment limited to one run at a time does not wait for its
//! own subflow runs. Checked through the REST API and the CLI.

use std::time::{Duration, Instant};

use orch_e2e::{TestServer, deployment_toml, state_type};
use serde_json::Value;

const TESTFLOWS: &str = env!("CARGO_BIN_EXE_orch-testflows");
const WAIT: Duration = Duration::from_secs(60);
const ENDED: &[&str] = &["COMPLETED", "FAILED", "CRASHED", "CANCELLED"];

/// A server with a worker and deployment `sub/parent` (one run at a time,
/// one retry), with `params` as its parameters.
fn server_with(params: &str) -> (TestServer, orch_e2e::Daemon, tempfile::TempDir) {
    let server = TestServer::start();
    let extra = format!(
        "concurrency_limit = 1\nretries = 1\nretry_delay_seconds = 0\nparameters = {{ {params} }}"
    );
    let toml = deployment_toml("sub", "parent", "pool", &[TESTFLOWS, "parent"], &extra);
    let dir = server.deploy("pool", &toml);
    let worker = server.start_worker("pool", &[]);
    (server, worker, dir)
}

/// `GET path` (REST, admin key) as JSON.
fn rest(server: &TestServer, path: &str) -> Value {
    let (status, body) = server.http_get(path);
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|error| panic!("GET {path}: {error}: {body}"))
}

fn detail(server: &TestServer, run: &str) -> Value {
    rest(server, &format!("/api/flow-runs/{run}"))
}

fn task<'a>(detail: &'a Value, name: &str) -> &'a Value {
    let found: Vec<&Value> = detail["task_runs"]
        .as_array()
        .expect("task_runs")
        .iter()
        .filter(|t| t["name"] == name)
        .collect();
    assert_eq!(found.len(), 1, "one task run {name} in {detail:#}");
    found[0]
}

/// The one subflow run of `detail`.
fn only_subflow(detail: &Value) -> &Value {
    let runs = detail["subflow_runs"].as_array().expect("subflow_runs");
    assert_eq!(runs.len(), 1, "one subflow run: {detail:#}");
    &runs[0]
}

fn messages(server: &TestServer, run: &str) -> Vec<String> {
    rest(server, &format!("/api/flow-runs/{run}/logs"))["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|line| line["message"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn state_names(detail: &Value) -> Vec<&str> {
    detail["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect()
}

#[test]
fn a_subflow_is_a_flow_run_of_its_own_linked_to_its_parent_and_its_task_run() {
    // The deployment allows one run at a time: its subflow runs do not count.
    let (server, _worker, _dir) = server_with("");
    let run = server.run_deployment("sub/parent", &[]);
    let parent = server.wait_for_state(&run, ENDED, WAIT);
    assert_eq!(state_type(&parent), "COMPLETED", "{parent:#}");
    let parent = detail(&server, &run);

    // The parent: its own task, and the call's task run (the graph's node).
    let step = task(&parent, "step");
    let call = task(&parent, "child");
    assert_eq!(call["state"]["type"], "COMPLETED", "{parent:#}");
    assert_eq!(
        call["upstream_ids"],
        serde_json::json!([step["id"]]),
        "the subflow consumed the parent's step"
    );
    assert_eq!(parent["task_runs"].as_array().unwrap().len(), 2);
    let listed = only_subflow(&parent);
    assert_eq!(listed["parent_task_run_id"], call["id"]);

    // The subflow run: its own id, name, parameters, states, tasks, logs.
    let child_id = listed["id"].as_str().unwrap();
    let child = detail(&server, child_id);
    assert_ne!(child_id, run);
    assert_eq!(child["flow"], "child");
    assert_eq!(child["parent_flow_run_id"], run.as_str());
    assert_eq!(child["parent_task_run_id"], call["id"]);
    assert!(child["deployment_id"].is_null(), "{child:#}");
    assert_eq!(child["parameters"], serde_json::json!({ "x": 1 }));
    assert_eq!(state_names(&child), ["Running", "Completed"]);
    assert_eq!(task(&child, "step")["result"], 2);
    assert_eq!(child["trace_id"], parent["trace_id"], "one trace");
    let child_lines = messages(&server, child_id);
    assert!(
        child_lines.iter().any(|m| m == "inside the subflow"),
        "{child_lines:?}"
    );
    // Work spawned in the subflow logs to it too (its span, or `ctx.spawn`
    // which keeps the task run).
    let child_logs = rest(&server, &format!("/api/flow-runs/{child_id}/logs"));
    let spawned = |text: &str| {
        child_logs["lines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|line| line["message"] == text)
            .unwrap_or_else(|| panic!("no line {text:?} in the subflow run: {child_logs:#}"))
            .clone()
    };
    assert!(spawned("spawned in the subflow")["task_run_id"].is_null());
    assert_eq!(
        spawned("spawned in the subflow's step")["task_run_id"],
        task(&child, "step")["id"]
    );
    let parent_lines = messages(&server, &run);
    assert!(
        parent_lines
            .iter()
            .any(|m| m == "parent before its subflow")
    );
    assert!(
        !parent_lines.iter().any(|m| m.contains("in the subflow")),
        "the subflow's lines are its own: {parent_lines:?}"
    );
    for line in child_lines.iter().chain(&parent_lines) {
        assert!(!line.contains("refused"), "every report was stored: {line}");
    }
    let artifacts = rest(&server, &format!("/api/artifacts?flow_run={child_id}"));
    assert_eq!(artifacts[0]["key"], "subflow-result", "{artifacts:#}");

    // Nested: the child's own subflow run, whose task made 3 (and 3 + 10).
    let grandchild = detail(&server, only_subflow(&child)["id"].as_str().unwrap());
    assert_eq!(grandchild["parent_flow_run_id"], child_id);
    assert_eq!(task(&grandchild, "step")["result"], 3);
    assert_eq!(task(&child, "grandchild")["state"]["type"], "COMPLETED");
    let logs = server.log_messages(&run);
    assert!(
        logs.iter().any(|m| m == "13"),
        "the flow's output: {logs:?}"
    );

    // Lists: top-level runs only, or a run's subflow runs.
    let top = rest(&server, "/api/flow-runs?top_level=true");
    let ids: Vec<&str> = top["flow_runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [run.as_str()]);
    let all = rest(&server, "/api/flow-runs");
    assert_eq!(all["flow_runs"].as_array().unwrap().len(), 3);
    let children = rest(&server, &format!("/api/flow-runs?parent={run}"));
    assert_eq!(children["flow_runs"][0]["id"], child_id);
    // The CLI: inspect shows the link both ways, ls marks or leaves out subflow runs.
    let inspected = server.ok(&["flow-run", "inspect", child_id]);
    assert!(
        inspected.contains(&format!("Parent run      {run}")) || inspected.contains(&run),
        "{inspected}"
    );
    let inspected = server.ok(&["flow-run", "inspect", &run]);
    assert!(inspected.contains("Subflow runs:"), "{inspected}");
    let listed = server.ok(&["flow-run", "ls"]);
    assert!(listed.contains("↳ "), "{listed}");
    let listed = server.json(&["flow-run", "ls", "--top-level"]);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed:#}");
}

#[test]
fn a_failing_subflow_fails_its_own_run_and_raises_in_the_parent() {
    let (server, _worker, _dir) = server_with("fail_child = true");
    let run = server.run_deployment("sub/parent", &[]);
    // Flow retries: the first attempt fails, so does the retry.
    let parent = server.wait_for_state(&run, ENDED, WAIT);
    assert_eq!(state_type(&parent), "FAILED", "{parent:#}");
    let parent = detail(&server, &run);
    let children = parent["subflow_runs"].as_array().unwrap();
    assert_eq!(children.len(), 2, "one subflow run per attempt: {parent:#}");
    for listed in children {
        let child = detail(&server, listed["id"].as_str().unwrap());
        assert_eq!(child["state"]["type"], "FAILED", "{child:#}");
        assert!(
            child["state"]["message"]
                .as_str()
                .unwrap()
                .contains("the child's step broke"),
            "{child:#}"
        );
    }
    let calls: Vec<&Value> = parent["task_runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["name"] == "child")
        .collect();
    assert!(calls.iter().all(|t| t["state"]["type"] == "FAILED"));
    assert!(
        parent["state"]["message"]
            .as_str()
            .unwrap()
            .contains("the child's step broke"),
        "{parent:#}"
    );
}

#[test]
fn each_attempt_of_the_parent_calls_a_subflow_run_of_its_own() {
    let marker = tempfile::tempdir().unwrap();
    let path = marker.path().join("failed-once");
    let (server, _worker, _dir) = server_with(&format!("fail_once_marker = {path:?}"));
    let run = server.run_deployment("sub/parent", &[]);
    let parent = server.wait_for_state(&run, ENDED, WAIT);
    assert_eq!(state_type(&parent), "COMPLETED", "{parent:#}");
    let parent = detail(&server, &run);
    assert_eq!(parent["run_count"], 2, "{parent:#}");
    let children = parent["subflow_runs"].as_array().unwrap();
    assert_eq!(children.len(), 2, "{parent:#}");
    assert_ne!(children[0]["id"], children[1]["id"]);
    assert!(children.iter().all(|c| c["state"]["type"] == "COMPLETED"));
}

#[test]
fn cancelling_the_parent_cancels_its_running_subflow_run() {
    let (server, _worker, _dir) = server_with("child_sleep_ms = 60000");
    let run = server.run_deployment("sub/parent", &[]);
    let deadline = Instant::now() + WAIT;
    let child_id = loop {
        let parent = detail(&server, &run);
        if let Some(child) = parent["subflow_runs"].as_array().and_then(|r| r.first()) {
            break child["id"].as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "no subflow run: {parent:#}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let child = server.wait_for_state(&child_id, &["RUNNING"], WAIT);
    assert_eq!(state_type(&child), "RUNNING");

    server.ok(&["flow-run", "cancel", &run]);

    let parent = server.wait_for_state(&run, ENDED, WAIT);
    assert_eq!(state_type(&parent), "CANCELLED", "{parent:#}");
    let child = server.wait_for_state(&child_id, ENDED, WAIT);
    assert_eq!(state_type(&child), "CANCELLED", "{child:#}");
    let child = detail(&server, &child_id);
    assert_eq!(task(&child, "step")["state"]["type"], "CANCELLED");
}

/// Deleting a run (`orch flow-run delete`; REST's DELETE takes the same use
/// case) deletes its subflow runs with it: no subflow run is left pointing
/// at a deleted parent. Deleting a subflow run alone leaves its parent.
#[test]
fn deleting_a_run_deletes_its_subflow_runs_with_it() {
    let (server, _worker, _dir) = server_with("");
    let first = server.run_deployment("sub/parent", &[]);
    let second = server.run_deployment("sub/parent", &[]);
    for run in [&first, &second] {
        let parent = server.wait_for_state(run, ENDED, WAIT);
        assert_eq!(state_type(&parent), "COMPLETED", "{parent:#}");
    }
    let child = only_subflow(&detail(&server, &first))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let grandchild = only_subflow(&detail(&server, &child))["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // A subflow run alone: its own subflow run goes with it, not its parent.
    let deleted = server.json(&["flow-run", "delete", &child]);
    assert_eq!(deleted["runs"], 2, "{deleted:#}");
    let parent = detail(&server, &first);
    assert_eq!(parent["subflow_runs"], serde_json::json!([]), "{parent:#}");

    // The CLI: the parent and both levels below it.
    let second_child = only_subflow(&detail(&server, &second))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let deleted = server.json(&["flow-run", "delete", &second]);
    assert_eq!(deleted["runs"], 3, "{deleted:#}");
    let ids: Vec<&str> = deleted["flow_runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|run| run["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids[..2], [second.as_str(), second_child.as_str()]);
    for run in [&grandchild, &child, &second, &second_child] {
        let (status, body) = server.http_get(&format!("/api/flow-runs/{run}"));
        assert_eq!(status, 404, "{run} is deleted: {body}");
    }
    let left = server.json(&["flow-run", "ls"]);
    assert_eq!(left.as_array().unwrap().len(), 1, "{left:#}");
    assert_eq!(left[0]["id"], first.as_str());
}
