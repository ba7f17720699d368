//! The Python SDK (sdks/python) end to end: the package is built and
//! installed into a venv under target/ (python/setup.rs), its pytest unit
//! tests run, then Python flows (tests/fixtures/python/flows.py) run through
//! a real server and worker as `python -m orch run flows.py:FLOW`, and what
//! the server recorded is read back through the REST API.

#[path = "python/conformance.rs"]
mod conformance;
#[path = "python/examples.rs"]
mod examples;
#[path = "python/setup.rs"]
mod setup;
#[path = "python/task_cpu.rs"]
mod task_cpu;

use std::time::{Duration, Instant};

use orch_e2e::{Daemon, TestServer, deployment_toml, fixtures, state_type};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(90);

fn flows_file() -> String {
    fixtures().join("python/flows.py").display().to_string()
}

/// The entrypoint of Python flow `flow` (a function of flows.py).
fn entrypoint(flow: &str) -> Vec<String> {
    vec![
        setup::python().display().to_string(),
        "-m".into(),
        "orch".into(),
        "run".into(),
        format!("{}:{flow}", flows_file()),
    ]
}

/// A server with one worker and a deployment `py/FLOW` per Python flow.
fn server_with(flows: &[&str]) -> (TestServer, Daemon, tempfile::TempDir) {
    let server = TestServer::start();
    let toml: String = flows
        .iter()
        .map(|flow| {
            let argv = entrypoint(flow);
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            deployment_toml("py", flow, "pool", &argv, "")
        })
        .collect();
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

/// Runs deployment `py/FLOW` with `args` to its end; returns its REST detail.
fn run_to_end(server: &TestServer, flow: &str, args: &[&str]) -> Value {
    let run = server.run_deployment(&format!("py/{flow}"), args);
    server.wait_for_state(&run, &["COMPLETED", "FAILED", "CRASHED", "CANCELLED"], WAIT);
    rest(server, &format!("/api/flow-runs/{run}"))
}

fn tasks<'a>(detail: &'a Value, name: &str) -> Vec<&'a Value> {
    detail["task_runs"]
        .as_array()
        .expect("task_runs")
        .iter()
        .filter(|t| t["name"] == name)
        .collect()
}

fn task<'a>(detail: &'a Value, name: &str) -> &'a Value {
    let found = tasks(detail, name);
    assert_eq!(found.len(), 1, "one task run {name} in {detail:#}");
    found[0]
}

/// The names of a task run's states, oldest first.
fn state_names(task: &Value) -> Vec<String> {
    task["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|s| s["state"]["name"].as_str().unwrap().to_owned())
        .collect()
}

fn log_lines(server: &TestServer, detail: &Value) -> Vec<Value> {
    let logs = rest(
        server,
        &format!("/api/flow-runs/{}/logs", detail["id"].as_str().unwrap()),
    );
    logs["lines"].as_array().expect("lines").clone()
}

fn line<'a>(lines: &'a [Value], text: &str) -> &'a Value {
    lines
        .iter()
        .find(|l| l["message"].as_str().is_some_and(|m| m.contains(text)))
        .unwrap_or_else(|| panic!("no log line with {text:?} in {lines:#?}"))
}

#[test]
fn the_pytest_unit_tests_of_the_python_layer_pass() {
    let output = std::process::Command::new(setup::python())
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(setup::repo().join("sdks/python/tests"))
        .env_remove("ORCH_API_URL")
        .env_remove("ORCH_FLOW_RUN_ID")
        .output()
        .expect("run pytest");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "pytest failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains(" passed"), "{stdout}");
}

#[test]
fn a_task_failing_twice_then_succeeding_records_three_attempts() {
    let (server, _worker, _dir) = server_with(&["flaky"]);
    let detail = run_to_end(&server, "flaky", &[]);
    assert_eq!(state_type(&detail), "COMPLETED", "{detail:#}");
    let step = task(&detail, "flaky-step");
    assert_eq!(step["state"]["type"], "COMPLETED");
    assert_eq!(
        (step["attempt"].as_u64(), step["max_retries"].as_u64()),
        (Some(3), Some(2))
    );
    assert_eq!(
        state_names(step),
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
    let waits: Vec<&str> = step["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["state"]["name"] == "AwaitingRetry")
        .map(|s| s["state"]["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        waits,
        [
            "attempt 1 failed: RuntimeError: transient failure 1; retrying in 100ms",
            "attempt 2 failed: RuntimeError: transient failure 2; retrying in 200ms"
        ]
    );
    assert_eq!(step["result"], 3);
}

#[test]
fn a_map_over_100_items_makes_100_task_runs() {
    let (server, _worker, _dir) = server_with(&["mapped"]);
    let detail = run_to_end(&server, "mapped", &[]);
    assert_eq!(state_type(&detail), "COMPLETED", "{detail:#}");
    let squares = tasks(&detail, "square");
    assert_eq!(squares.len(), 100);
    assert!(squares.iter().all(|t| t["state"]["type"] == "COMPLETED"));
    let mut results: Vec<i64> = squares
        .iter()
        .map(|t| t["result"].as_i64().unwrap())
        .collect();
    results.sort_unstable();
    assert_eq!(results, (0..100).map(|x| x * x).collect::<Vec<i64>>());
    // The flow's return value is printed: stdout, shipped by the worker.
    line(&log_lines(&server, &detail), "328350");
}

#[test]
fn submitted_futures_passed_to_a_task_are_edges_of_the_graph() {
    let (server, _worker, _dir) = server_with(&["graph"]);
    let detail = run_to_end(&server, "graph", &[]);
    assert_eq!(state_type(&detail), "COMPLETED", "{detail:#}");
    let mut extracts: Vec<&str> = tasks(&detail, "extract")
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    extracts.sort_unstable();
    let combine = task(&detail, "combine");
    let mut upstream: Vec<&str> = combine["upstream_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap())
        .collect();
    upstream.sort_unstable();
    assert_eq!(upstream, extracts, "combine consumed both extracts");
    assert_eq!(combine["result"], 4);
}

#[test]
fn a_flow_called_in_a_flow_is_a_subflow_run_of_its_own_linked_to_the_parent() {
    let (server, _worker, _dir) = server_with(&["parent"]);
    let detail = run_to_end(&server, "parent", &[]);
    assert_eq!(state_type(&detail), "COMPLETED", "{detail:#}");
    // In the parent: its task, and the call's task run, which consumed the
    // future handed to the subflow (an edge) and returned its result.
    let outer = task(&detail, "step");
    let call = task(&detail, "child");
    assert_eq!(outer["result"], 2);
    assert_eq!(call["result"], 3);
    assert_eq!(call["upstream_ids"], serde_json::json!([outer["id"]]));
    let children = detail["subflow_runs"].as_array().expect("subflow_runs");
    assert_eq!(children.len(), 1, "{detail:#}");
    // The subflow run: its own id, parameters, states and task runs.
    let id = children[0]["id"].as_str().unwrap();
    let child = rest(&server, &format!("/api/flow-runs/{id}"));
    assert_eq!(child["flow"], "child");
    assert_eq!(child["parent_flow_run_id"], detail["id"]);
    assert_eq!(child["parent_task_run_id"], call["id"]);
    assert_eq!(child["parameters"], serde_json::json!({ "x": 2 }));
    assert_eq!(state_type(&child), "COMPLETED");
    assert_eq!(task(&child, "step")["result"], 3);
    assert_eq!(child["task_runs"].as_array().unwrap().len(), 1);
    assert_eq!(detail["task_runs"].as_array().unwrap().len(), 2);
    // Its logs are its own.
    line(&log_lines(&server, &child), "inside the subflow");
    assert!(
        !log_lines(&server, &detail)
            .iter()
            .any(|l| l["message"] == "inside the subflow")
    );
}

#[test]
fn a_task_past_its_timeout_fails_the_run() {
    let (server, _worker, _dir) = server_with(&["timeout"]);
    let detail = run_to_end(&server, "timeout", &[]);
    assert_eq!(state_type(&detail), "FAILED", "{detail:#}");
    let sleeps = task(&detail, "sleeps");
    assert_eq!(sleeps["state"]["type"], "FAILED");
    assert_eq!(
        sleeps["state"]["message"],
        "TaskTimeoutError: task 'sleeps' timed out after 300ms"
    );
    assert!(
        detail["state"]["message"]
            .as_str()
            .unwrap()
            .contains("flow timeout failed: TaskTimeoutError"),
        "{detail:#}"
    );
}

/// A sync task looping in Python past its timeout is stopped in its thread
/// (as Prefect 3 does), recorded Failed `TimedOut`, and the flow goes on.
#[test]
fn a_sync_task_past_its_timeout_is_stopped_and_recorded_timed_out() {
    let (server, _worker, dir) = server_with(&["timeout_stops"]);
    let file = dir.path().join("ticks");
    let params = format!("path={}", file.display());
    let detail = run_to_end(&server, "timeout_stops", &["--param", &params]);
    assert_eq!(state_type(&detail), "COMPLETED", "{detail:#}");
    let runaway = task(&detail, "runaway");
    assert_eq!(
        (&runaway["state"]["type"], &runaway["state"]["name"]),
        (&Value::from("FAILED"), &Value::from("TimedOut")),
        "{runaway:#}"
    );
    assert_eq!(
        runaway["state"]["message"],
        "TaskTimeoutError: task 'runaway' timed out after 1s"
    );
    // The file stopped growing while the flow still ran: the count its last
    // task read is what the file holds now, after the process ended.
    let lines = std::fs::read_to_string(&file).unwrap().lines().count();
    assert!(lines > 0, "the task never ran");
    assert_eq!(task(&detail, "lines_in")["result"], lines, "{detail:#}");
}

#[test]
fn an_async_flow_awaits_its_async_tasks() {
    let (server, _worker, _dir) = server_with(&["async_flow"]);
    let detail = run_to_end(&server, "async_flow", &[]);
    assert_eq!(state_type(&detail), "COMPLETED", "{detail:#}");
    let mut results: Vec<&str> = tasks(&detail, "fetch")
        .iter()
        .map(|t| t["result"].as_str().unwrap())
        .collect();
    results.sort_unstable();
    assert_eq!(results, ["btc", "eth"]);
}

#[test]
fn logs_from_the_run_logger_and_print_are_tagged_with_their_task_run_and_errors_carry_their_traceback()
 {
    let (server, _worker, _dir) = server_with(&["logs"]);
    let detail = run_to_end(&server, "logs", &[]);
    assert_eq!(state_type(&detail), "COMPLETED", "{detail:#}");
    let chatty = task(&detail, "chatty")["id"].clone();
    let lines = log_lines(&server, &detail);
    for text in ["from the run logger", "from print"] {
        let found = line(&lines, text);
        assert_eq!(found["task_run_id"], chatty, "{found:#}");
        assert_eq!(found["level"], "INFO");
        assert_eq!(found["stream"], "sdk");
    }
    let flow_print = line(&lines, "flow print");
    assert!(flow_print["task_run_id"].is_null(), "{flow_print:#}");
    let broken = task(&detail, "broken");
    assert_eq!(broken["state"]["message"], "ValueError: bad row 7");
    let error = broken["error"].as_str().unwrap();
    assert!(
        error.starts_with("Traceback (most recent call last):")
            && error.contains("flows.py")
            && error.ends_with("ValueError: bad row 7"),
        "{error}"
    );
    let logged = line(&lines, "task run failed after 1 attempt(s): Traceback");
    assert_eq!(
        (&logged["level"], &logged["task_run_id"]),
        (&Value::from("ERROR"), &broken["id"])
    );
}

#[test]
fn a_table_artifact_is_published_on_its_task_run() {
    let (server, _worker, _dir) = server_with(&["artifact"]);
    let detail = run_to_end(&server, "artifact", &[]);
    assert_eq!(state_type(&detail), "COMPLETED", "{detail:#}");
    let run = detail["id"].as_str().unwrap();
    let artifacts = rest(&server, &format!("/api/artifacts?flow_run={run}"));
    let artifacts = artifacts
        .as_array()
        .or_else(|| artifacts["artifacts"].as_array())
        .expect("artifacts")
        .clone();
    assert_eq!(artifacts.len(), 1, "{artifacts:#?}");
    let table = &artifacts[0];
    assert_eq!(
        (&table["key"], &table["kind"]),
        (&Value::from("evaluation"), &Value::from("table"))
    );
    assert_eq!(table["description"], "validation");
    assert_eq!(
        table["data"][0],
        serde_json::json!({"model": "lgbm", "mae": 1.21})
    );
    assert_eq!(table["task_run_id"], task(&detail, "evaluate")["id"]);
}

#[test]
fn parameters_are_converted_from_annotations_and_one_that_does_not_fit_fails_the_run() {
    let (server, _worker, _dir) = server_with(&["typed"]);
    let detail = run_to_end(
        &server,
        "typed",
        &["--param", "n=41", "--param", "when=2024-05-01"],
    );
    assert_eq!(state_type(&detail), "COMPLETED", "{detail:#}");
    assert_eq!(task(&detail, "describe")["result"], "42 2024-05-01 1.0");

    let detail = run_to_end(
        &server,
        "typed",
        &["--param", "n=many", "--param", "when=2024-05-01"],
    );
    assert_eq!(state_type(&detail), "FAILED", "{detail:#}");
    let message = detail["state"]["message"].as_str().unwrap();
    assert!(
        message.contains("parameter 'n' of flow 'typed' must be int, got 'many' (str)"),
        "{message}"
    );
    assert!(detail["task_runs"].as_array().unwrap().is_empty());
}

#[test]
fn cancelling_a_run_stops_the_python_process_and_cancels_its_task() {
    let (server, _worker, dir) = server_with(&["cancellable"]);
    let marker = dir.path().join("started");
    let params = format!("marker={}", marker.display());
    let run = server.run_deployment("py/cancellable", &["--param", &params]);
    let deadline = Instant::now() + WAIT;
    loop {
        let detail = rest(&server, &format!("/api/flow-runs/{run}"));
        let running = detail["task_runs"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["state"]["type"] == "RUNNING"));
        if running {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the task never started: {detail:#}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server.ok(&["flow-run", "cancel", &run]);
    server.wait_for_state(&run, &["CANCELLED", "COMPLETED", "FAILED", "CRASHED"], WAIT);
    let detail = rest(&server, &format!("/api/flow-runs/{run}"));
    assert_eq!(state_type(&detail), "CANCELLED", "{detail:#}");
    assert_eq!(
        task(&detail, "wait_to_be_cancelled")["state"]["type"],
        "CANCELLED"
    );
    // The SDK stopped the process on SIGTERM (the task sleeps 120 s).
    line(
        &log_lines(&server, &detail),
        "orch: the flow run was cancelled (SIGTERM): stopping",
    );
}

/// A tag limit of one holds for Python tasks: two submitted tasks with the
/// tag never run at once, and the one that waits shows it.
#[test]
fn a_tag_limit_of_one_serialises_python_tasks_and_the_waiter_shows_it() {
    let (server, _worker, _dir) = server_with(&["tagged"]);
    server.ok(&["concurrency-limit", "create", "yahoo", "1"]);
    let detail = run_to_end(&server, "tagged", &[]);
    assert_eq!(state_type(&detail), "COMPLETED", "{detail:#}");
    let calls = tasks(&detail, "call_yahoo");
    assert_eq!(calls.len(), 2);
    let interval = |task: &Value| {
        let running = task["history"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["state"]["type"] == "RUNNING")
            .map(|s| s["state"]["timestamp"].as_str().unwrap().to_owned())
            .expect("ran");
        (running, task["end_time"].as_str().unwrap().to_owned())
    };
    let (a, b) = (interval(calls[0]), interval(calls[1]));
    // RFC 3339 timestamps of one format compare as text.
    assert!(
        a.1 <= b.0 || b.1 <= a.0,
        "never at the same time: {a:?} {b:?}"
    );
    let waited = calls
        .iter()
        .filter(|t| {
            state_names(t)
                .iter()
                .any(|n| n == "AwaitingConcurrencySlot")
        })
        .count();
    assert_eq!(
        waited, 1,
        "one task waited visibly for the slot: {detail:#}"
    );
}

/// `orch.events.emit_event` records an event of the run: an automation with
/// an `event` trigger of that name fires on it (here: starts a deployment).
#[test]
fn an_emitted_event_fires_an_automation() {
    let server = TestServer::start();
    let toml: String = ["emits", "protocol"]
        .iter()
        .map(|flow| {
            let argv = entrypoint(flow);
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            deployment_toml("py", flow, "pool", &argv, "")
        })
        .collect::<String>()
        + "[[automations]]\nname = \"on-no-data\"\n\
           trigger = { type = \"event\", name = \"py-no-data\" }\n\
           actions = [ { type = \"run-deployment\", deployment = \"py/protocol\" } ]\n";
    let _dir = server.deploy("pool", &toml);
    let _worker = server.start_worker("pool", &[]);
    let detail = run_to_end(&server, "emits", &[]);
    assert_eq!(state_type(&detail), "COMPLETED", "{detail:#}");
    let deadline = Instant::now() + WAIT;
    loop {
        let runs = server.json(&["flow-run", "ls"]);
        if runs.as_array().is_some_and(|runs| runs.len() == 2) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the automation started no run: {runs:#}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
