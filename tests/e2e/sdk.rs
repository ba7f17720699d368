//! Flows written with orch-sdk, run through a real server and worker: task
//! runs, retries and backoff, timeouts, parallelism and edges, logs, panics,
//! crashes retried by the server, cancellation, and standalone mode.

use std::time::{Duration, Instant};

use orch_e2e::{TestServer, deployment_toml, state_type};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);
const TESTFLOWS: &str = env!("CARGO_BIN_EXE_orch-testflows");

/// A server with one worker and a deployment `sdk/FLOW` per flow (plus `extra` keys).
fn server_with(flows: &[(&str, &str)]) -> (TestServer, orch_e2e::Daemon, tempfile::TempDir) {
    let server = TestServer::start();
    let toml: String = flows
        .iter()
        .map(|(flow, extra)| deployment_toml("sdk", flow, "pool", &[TESTFLOWS, flow], extra))
        .collect();
    let dir = if toml.is_empty() {
        server.ok(&["work-pool", "create", "pool", "--type", "process"]);
        tempfile::tempdir().unwrap()
    } else {
        server.deploy("pool", &toml)
    };
    let worker = server.start_worker("pool", &[]);
    (server, worker, dir)
}

fn task<'a>(detail: &'a Value, name: &str) -> &'a Value {
    detail["task_runs"]
        .as_array()
        .and_then(|tasks| tasks.iter().find(|t| t["name"] == name))
        .unwrap_or_else(|| panic!("no task run {name} in {detail:#}"))
}

fn micros(timestamp: &Value) -> i64 {
    let text = timestamp
        .as_str()
        .unwrap_or_else(|| panic!("not a timestamp: {timestamp}"));
    chrono::DateTime::parse_from_rfc3339(text)
        .expect("RFC 3339")
        .timestamp_micros()
}

/// (type, name, timestamp µs) of each history entry.
fn history(task: &Value) -> Vec<(String, String, i64)> {
    task["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|s| {
            (
                s["state"]["type"].as_str().unwrap().to_string(),
                s["state"]["name"].as_str().unwrap().to_string(),
                micros(&s["state"]["timestamp"]),
            )
        })
        .collect()
}

/// Waits between each AwaitingRetry and the attempt after it, in ms.
fn retry_waits(task: &Value) -> Vec<f64> {
    let states = history(task);
    states
        .windows(2)
        .filter(|pair| pair[0].1 == "AwaitingRetry")
        .map(|pair| (pair[1].2 - pair[0].2) as f64 / 1000.0)
        .collect()
}

#[test]
fn a_task_failing_twice_then_succeeding_shows_three_attempts_with_the_configured_delays() {
    let (server, _worker, _dir) = server_with(&[(
        "flaky",
        "parameters = { fail_times = 2, delays_ms = [150, 400] }",
    )]);
    let run = server.run_deployment("sdk/flaky", &[]);
    let detail = server.wait_for_state(&run, &["COMPLETED", "FAILED", "CRASHED"], WAIT);
    assert_eq!(state_type(&detail), "COMPLETED", "{detail:#}");

    let step = task(&detail, "flaky-step");
    assert_eq!(step["state"]["type"], "COMPLETED");
    assert_eq!(step["attempt"], 3);
    let names: Vec<String> = history(step).into_iter().map(|(_, name, _)| name).collect();
    assert_eq!(
        names,
        [
            "Pending",
            "Running",
            "AwaitingRetry",
            "Retrying",
            "AwaitingRetry",
            "Retrying",
            "Completed"
        ]
    );
    let retry_messages: Vec<&str> = step["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["state"]["name"] == "AwaitingRetry")
        .map(|s| s["state"]["message"].as_str().unwrap())
        .collect();
    assert!(
        retry_messages[0].contains("transient failure 1"),
        "{retry_messages:?}"
    );
    assert!(
        retry_messages[1].contains("transient failure 2"),
        "{retry_messages:?}"
    );
    let waits = retry_waits(step);
    assert!(
        waits[0] >= 150.0 && waits[0] < 150.0 + 1000.0,
        "first delay ~150 ms: {waits:?}"
    );
    assert!(
        waits[1] >= 400.0 && waits[1] < 400.0 + 1000.0,
        "second delay ~400 ms: {waits:?}"
    );
}

#[test]
fn exponential_backoff_delays_grow_by_the_factor() {
    let (server, _worker, _dir) = server_with(&[(
        "backoff",
        "parameters = { retries = 3, initial_ms = 100, factor = 2.0 }",
    )]);
    let run = server.run_deployment("sdk/backoff", &[]);
    let detail = server.wait_for_state(&run, &["COMPLETED", "FAILED", "CRASHED"], WAIT);
    let failing = task(&detail, "always-fails");
    assert_eq!(failing["state"]["type"], "FAILED");
    assert_eq!(failing["attempt"], 4, "one attempt and three retries");
    let waits = retry_waits(failing);
    assert_eq!(waits.len(), 3, "{waits:?}");
    for (wait, expected) in waits.iter().zip([100.0, 200.0, 400.0]) {
        assert!(
            *wait >= expected && *wait < expected + 1000.0,
            "waits {waits:?} should be ~100, 200, 400 ms"
        );
    }
    assert!(failing["error"].as_str().unwrap().contains("still down"));
}

#[test]
fn a_task_past_its_timeout_fails_with_a_timeout_error_and_is_retried() {
    let (server, _worker, _dir) = server_with(&[("timeout", "")]);
    let run = server.run_deployment("sdk/timeout", &[]);
    let detail = server.wait_for_state(&run, &["COMPLETED", "FAILED", "CRASHED"], WAIT);
    assert_eq!(state_type(&detail), "FAILED");
    let slow = task(&detail, "slow-step");
    assert_eq!(slow["state"]["type"], "FAILED");
    assert_eq!(slow["attempt"], 2, "the timeout was retried once");
    assert!(
        slow["error"]
            .as_str()
            .unwrap()
            .contains("timed out after 200ms"),
        "{slow:#}"
    );
    let message = detail["state"]["message"].as_str().unwrap();
    assert!(
        message.contains("timed out"),
        "the run's failure names the cause: {message}"
    );
}

#[test]
fn parallel_tasks_overlap_and_edges_follow_the_data() {
    let (server, _worker, _dir) = server_with(&[("parallel", "")]);
    let run = server.run_deployment("sdk/parallel", &[]);
    let detail = server.wait_for_state(&run, &["COMPLETED", "FAILED", "CRASHED"], WAIT);
    assert_eq!(state_type(&detail), "COMPLETED", "{detail:#}");
    let news = task(&detail, "fetch-news");
    let quotes = task(&detail, "fetch-quotes");
    let fuse = task(&detail, "fuse");
    let (news_start, news_end) = (micros(&news["start_time"]), micros(&news["end_time"]));
    let (quotes_start, quotes_end) = (micros(&quotes["start_time"]), micros(&quotes["end_time"]));
    assert!(
        news_start < quotes_end && quotes_start < news_end,
        "intervals overlap"
    );
    let mut upstream: Vec<&str> = fuse["upstream_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    upstream.sort();
    let mut expected = vec![news["id"].as_str().unwrap(), quotes["id"].as_str().unwrap()];
    expected.sort();
    assert_eq!(upstream, expected, "fuse consumed both outputs");
    assert!(news["upstream_ids"].as_array().unwrap().is_empty());
    assert_eq!(fuse["result"], 0.25 * 101.5);
}

#[test]
fn a_flow_killed_by_sigkill_is_crashed_and_retried_by_the_server() {
    let (server, _worker, _dir) = server_with(&[]);
    let marker_dir = tempfile::tempdir().unwrap();
    let marker = marker_dir.path().join("pid");
    let toml = deployment_toml(
        "sdk",
        "crash-once",
        "pool",
        &[TESTFLOWS, "crash-once"],
        "retries = 1\nretry_delay_seconds = 0",
    ) + &format!(
        "parameters = {{ marker = {:?} }}\n",
        marker.display().to_string()
    );
    let path = orch_e2e::write_deploy_file(marker_dir.path(), "crash.toml", &toml);
    server.ok(&["deploy", path.to_str().unwrap()]);

    let run = server.run_deployment("sdk/crash-once", &[]);
    let deadline = Instant::now() + WAIT;
    let pid = loop {
        if let Ok(pid) = std::fs::read_to_string(&marker)
            && !pid.is_empty()
        {
            break pid;
        }
        assert!(Instant::now() < deadline, "the flow never started");
        std::thread::sleep(Duration::from_millis(20));
    };
    // The flow wrote its pid in its own PID namespace (the worker isolates
    // flows by default): signal the same process as this test sees it.
    let pid: u32 = pid.trim().parse().unwrap();
    let pid = orch_e2e::host_pid(pid, "crash-once").expect("the flow's process");
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());

    let detail = server.wait_for_state(&run, &["COMPLETED", "FAILED"], WAIT);
    assert_eq!(state_type(&detail), "COMPLETED", "{detail:#}");
    assert_eq!(detail["run_count"], 2);
    let history = detail["history"].to_string();
    assert!(
        history.contains("AwaitingRetry") && history.contains("SIGKILL"),
        "{history}"
    );
}

#[test]
fn every_log_line_of_a_flow_that_exits_at_once_arrives_tagged_with_its_task() {
    let (server, _worker, _dir) = server_with(&[("quick-logs", "parameters = { count = 300 }")]);
    let run = server.run_deployment("sdk/quick-logs", &[]);
    let detail = server.wait_for_state(&run, &["COMPLETED", "FAILED", "CRASHED"], WAIT);
    assert_eq!(state_type(&detail), "COMPLETED");
    let log_task = task(&detail, "log-task")["id"]
        .as_str()
        .unwrap()
        .to_string();

    let logs = server.json(&["flow-run", "logs", &run]);
    let lines = logs.as_array().unwrap();
    let flow_lines: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"].as_str().unwrap().starts_with("flow line "))
        .collect();
    let task_lines: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"].as_str().unwrap().starts_with("task line "))
        .collect();
    assert_eq!(flow_lines.len(), 150);
    assert_eq!(task_lines.len(), 150);
    assert!(
        task_lines
            .iter()
            .all(|l| l["task_run_id"] == log_task.as_str())
    );
    assert!(
        flow_lines
            .iter()
            .all(|l| l["task_run_id"].is_null() && l["stream"] == "sdk")
    );
}

#[test]
fn a_panicking_task_fails_with_the_panic_message() {
    let (server, _worker, _dir) = server_with(&[("panic-task", "")]);
    let run = server.run_deployment("sdk/panic-task", &[]);
    let detail = server.wait_for_state(&run, &["COMPLETED", "FAILED", "CRASHED"], WAIT);
    assert_eq!(state_type(&detail), "FAILED");
    let explodes = task(&detail, "explodes");
    assert_eq!(explodes["state"]["type"], "FAILED");
    assert!(
        explodes["error"]
            .as_str()
            .unwrap()
            .contains("panicked: boom in task"),
        "{explodes:#}"
    );
}

#[test]
fn an_unknown_parameter_fails_the_run_naming_it() {
    let (server, _worker, _dir) = server_with(&[("typed", "")]);
    let run = server.run_deployment("sdk/typed", &["--param", "forse=true"]);
    let detail = server.wait_for_state(&run, &["COMPLETED", "FAILED", "CRASHED"], WAIT);
    assert_eq!(state_type(&detail), "FAILED");
    let message = detail["state"]["message"].as_str().unwrap();
    assert!(message.contains("forse"), "{message}");
}

#[test]
fn a_flow_past_its_timeout_fails_and_its_task_is_cancelled() {
    let (server, _worker, _dir) = server_with(&[("slow-flow", "")]);
    let run = server.run_deployment("sdk/slow-flow", &[]);
    let detail = server.wait_for_state(&run, &["COMPLETED", "FAILED", "CRASHED"], WAIT);
    assert_eq!(state_type(&detail), "FAILED");
    assert!(
        detail["state"]["message"]
            .as_str()
            .unwrap()
            .contains("timed out after 500ms"),
        "{detail:#}"
    );
    assert_eq!(task(&detail, "sleeps")["state"]["type"], "CANCELLED");
}

#[test]
fn cancelling_a_run_cancels_its_in_flight_task() {
    let (server, _worker, _dir) = server_with(&[]);
    let marker_dir = tempfile::tempdir().unwrap();
    let marker = marker_dir.path().join("pid");
    let toml = deployment_toml("sdk", "crash-once", "pool", &[TESTFLOWS, "crash-once"], "")
        + &format!(
            "parameters = {{ marker = {:?} }}\n",
            marker.display().to_string()
        );
    let path = orch_e2e::write_deploy_file(marker_dir.path(), "cancel.toml", &toml);
    server.ok(&["deploy", path.to_str().unwrap()]);
    let run = server.run_deployment("sdk/crash-once", &[]);
    let deadline = Instant::now() + WAIT;
    loop {
        let detail = server.inspect(&run);
        if detail["task_runs"]
            .as_array()
            .is_some_and(|t| !t.is_empty())
        {
            break;
        }
        assert!(Instant::now() < deadline, "the task never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    server.ok(&["flow-run", "cancel", &run]);
    let detail =
        server.wait_for_state(&run, &["CANCELLED", "COMPLETED", "FAILED", "CRASHED"], WAIT);
    assert_eq!(state_type(&detail), "CANCELLED");
    assert_eq!(
        task(&detail, "wait-to-be-killed")["state"]["type"],
        "CANCELLED"
    );
}

#[test]
fn standalone_mode_runs_the_same_flow_without_a_server() {
    let output = std::process::Command::new(TESTFLOWS)
        .args([
            "run",
            "flaky",
            "--param",
            "fail_times=1",
            "--params",
            r#"{"delays_ms": [10]}"#,
        ])
        .env_remove("ORCH_API_URL")
        .env_remove("ORCH_FLOW_RUN_ID")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(stdout.trim(), "2", "the second call succeeded");
    assert!(
        stderr.contains("transient failure 1"),
        "the retry is logged on the console: {stderr}"
    );

    let output = std::process::Command::new(TESTFLOWS)
        .args(["run", "typed", "--param", "forse=true"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown field `forse`"));
}

#[test]
fn a_tag_limit_of_one_serialises_two_flows_tasks_and_the_waiter_shows_it() {
    let (server, _worker, _dir) = server_with(&[("tagged", "")]);
    server.ok(&["concurrency-limit", "create", "yahoo", "1"]);
    let first = server.run_deployment("sdk/tagged", &[]);
    let second = server.run_deployment("sdk/tagged", &[]);
    let first = server.wait_for_state(&first, &["COMPLETED", "FAILED", "CRASHED"], WAIT);
    let second = server.wait_for_state(&second, &["COMPLETED", "FAILED", "CRASHED"], WAIT);
    assert_eq!(
        (state_type(&first), state_type(&second)),
        ("COMPLETED".into(), "COMPLETED".into())
    );

    let interval = |detail: &Value| {
        let call = task(detail, "call-yahoo");
        let running = history(call)
            .into_iter()
            .find(|(kind, _, _)| kind == "RUNNING")
            .expect("ran")
            .2;
        (running, micros(&call["end_time"]))
    };
    let (a, b) = (interval(&first), interval(&second));
    assert!(
        a.1 <= b.0 || b.1 <= a.0,
        "the tagged tasks never ran at the same time: {a:?} {b:?}"
    );
    let waited = [&first, &second]
        .iter()
        .filter(|detail| {
            history(task(detail, "call-yahoo"))
                .iter()
                .any(|(_, name, _)| name == "AwaitingConcurrencySlot")
        })
        .count();
    assert!(waited >= 1, "one task waited visibly for the slot");
    for detail in [&first, &second] {
        assert_eq!(
            task(detail, "call-yahoo")["attempt"],
            1,
            "waiting used up no retry"
        );
    }
}
