//! OpenTelemetry traces from the real server, worker and an SDK flow,
//! received by a test OTLP/HTTP collector that decodes the protobuf: one
//! trace per run, task attempt spans under the run's span (a retried task
//! shows two), a caller's `traceparent` (CLI `TRACEPARENT`, REST header)
//! parenting the run's span, the flow process seeing `TRACEPARENT` with its
//! run's trace id and the caller's `TRACESTATE`; the same through an
//! OTLP/gRPC collector; and with the variables unset, no exporter at all.
//! The Python SDK's task spans: traces/python.rs.

#[path = "traces/python.rs"]
mod python;
// Builds and installs the Python SDK (shared with the python test binary).
#[allow(dead_code)]
#[path = "python/setup.rs"]
mod python_setup;

use std::time::Duration;

use orch_e2e::otlp::{OtlpCollector, ReceivedSpan};
use orch_e2e::{Daemon, TestServer, deployment_toml};
use serde_json::Value;

const TESTFLOWS: &str = env!("CARGO_BIN_EXE_orch-testflows");
const WAIT: Duration = Duration::from_secs(60);
/// The caller's context sent by `deployment run` (as `TRACEPARENT`).
const CLI_CALLER: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
/// The caller's context sent to the REST API (as the `traceparent` header).
const REST_CALLER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
/// The vendor part sent with `CLI_CALLER` (as `TRACESTATE`).
const CLI_STATE: &str = "orch=cli,rojo=00f067aa0ba902b7";
/// The vendor part sent with `REST_CALLER` (as the `tracestate` header).
const REST_STATE: &str = "congo=t61rcWkgMzE";

/// The deployments: an SDK flow whose task fails once, and a shell flow
/// printing the `TRACEPARENT` and `TRACESTATE` it got.
fn deploy(server: &TestServer) -> tempfile::TempDir {
    let toml = deployment_toml(
        "web",
        "flaky",
        "pool",
        &[TESTFLOWS, "flaky"],
        "parameters = { fail_times = 1, delays_ms = [50] }",
    ) + &deployment_toml(
        "web",
        "show-trace",
        "pool",
        &[
            "sh",
            "-c",
            "echo \"traceparent=$TRACEPARENT\"; echo \"tracestate=$TRACESTATE\"",
        ],
        "",
    );
    server.deploy("pool", &toml)
}

/// A worker on `pool` with `env`, which (unlike `start_worker_with_env`)
/// does not pass the variables on to flows with `--pass-env`: the worker
/// must do that itself.
fn worker(server: &TestServer, env: &[(&str, &str)]) -> Daemon {
    let mut command =
        server.command(&["worker", "start", "--pool", "pool", "--log-format", "json"]);
    command.envs(env.iter().copied());
    let mut daemon = Daemon::spawn("worker", command, server.home());
    daemon.wait_for_line("polling pool", Duration::from_secs(30));
    daemon
}

/// Whether process `pid` has an OpenTelemetry batch exporter thread.
fn has_exporter_thread(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.filter_map(Result::ok).any(|task| {
        std::fs::read_to_string(task.path().join("comm"))
            .is_ok_and(|name| name.starts_with("OpenTelemetry"))
    })
}

/// Runs `deployment` with `orch deployment run` under the CLI caller's
/// context (`TRACEPARENT` and `TRACESTATE`); the run's id.
fn run_as_caller(server: &TestServer, deployment: &str) -> String {
    let output = server
        .command(&["deployment", "run", deployment, "--output", "json"])
        .env("TRACEPARENT", CLI_CALLER)
        .env("TRACESTATE", CLI_STATE)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let created: Value = serde_json::from_slice(&output.stdout).unwrap();
    created["id"].as_str().unwrap().to_owned()
}

/// The run's trace id from `inspect --output json`.
fn trace_id(server: &TestServer, run: &str) -> String {
    server.inspect(run)["trace_id"]
        .as_str()
        .unwrap_or_else(|| panic!("run {run} has no trace_id"))
        .to_owned()
}

/// The spans of `trace`.
fn of_trace<'a>(spans: &'a [ReceivedSpan], trace: &str) -> Vec<&'a ReceivedSpan> {
    spans.iter().filter(|span| span.trace_id == trace).collect()
}

/// Checks the trace of one run of `web/flaky`: its one run span (a child of
/// `caller`), the worker's span and the two attempts of the task under it,
/// each carrying the caller's `tracestate` (`state`).
fn assert_flaky_trace(spans: &[ReceivedSpan], run: &str, trace: &str, caller: &str, state: &str) {
    let spans = of_trace(spans, trace);
    for span in &spans {
        assert_eq!(
            span.trace_state, state,
            "the caller's tracestate: {span:#?}"
        );
    }
    let runs: Vec<_> = spans
        .iter()
        .filter(|s| s.name.starts_with("flow-run "))
        .collect();
    assert_eq!(runs.len(), 1, "one run span per trace: {spans:#?}");
    let root = runs[0];
    assert_eq!(root.name, "flow-run web/flaky");
    assert_eq!(root.service, "orch-server");
    assert_eq!(
        root.parent_span_id,
        caller.split('-').nth(2).unwrap(),
        "{root:#?}"
    );
    assert_eq!(root.attribute("orch.flow_run.id"), run);
    assert_eq!(root.attribute("orch.flow_run.state"), "COMPLETED");
    assert_eq!(root.attribute("orch.deployment"), "web/flaky");
    assert_eq!(root.attribute("orch.work_pool"), "pool");
    assert_eq!(root.attribute("orch.flow_run.attempt"), "1");
    assert!(
        root.attribute("orch.flow_run.parameter_keys")
            .contains("fail_times"),
        "{root:#?}"
    );
    assert!(
        !root.attribute("orch.flow_run.cpu_seconds").is_empty(),
        "{root:#?}"
    );
    for state in ["Scheduled", "Pending", "Running", "Completed"] {
        assert!(
            root.events.iter().any(|e| e == state),
            "no {state} event: {root:#?}"
        );
    }
    assert!(root.start_unix_nano < root.end_unix_nano);

    let worker: Vec<_> = spans
        .iter()
        .filter(|s| s.service == "orch-worker")
        .collect();
    assert_eq!(worker.len(), 1, "{spans:#?}");
    assert_eq!(worker[0].parent_span_id, root.span_id);
    assert_eq!(worker[0].attribute("orch.flow_run.id"), run);
    assert_eq!(worker[0].attribute("orch.flow_run.state"), "Completed");

    let mut attempts: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "task flaky-step")
        .collect();
    attempts.sort_by_key(|s| s.attribute("orch.task_run.attempt").to_owned());
    assert_eq!(
        attempts.len(),
        2,
        "a retried task shows two attempt spans: {spans:#?}"
    );
    for (n, attempt) in attempts.iter().enumerate() {
        assert_eq!(attempt.service, "orch-flow");
        assert_eq!(attempt.parent_span_id, root.span_id, "{attempt:#?}");
        assert_eq!(
            attempt.attribute("orch.task_run.attempt"),
            (n + 1).to_string()
        );
        assert!(root.start_unix_nano <= attempt.start_unix_nano);
        assert!(attempt.end_unix_nano <= root.end_unix_nano);
        assert!(
            attempt
                .attribute("orch.task_run.cpu_seconds")
                .parse::<f64>()
                .is_ok_and(|cpu| cpu >= 0.0),
            "the attempt's CPU time: {attempt:#?}"
        );
    }
    assert_eq!(attempts[0].status_code, 2, "the failed attempt is an error");
    assert_eq!(attempts[0].attribute("orch.task_run.state"), "Failed");
    assert_ne!(attempts[1].status_code, 2);
    assert_eq!(
        attempts[0].attribute("orch.task_run.id"),
        attempts[1].attribute("orch.task_run.id"),
        "two attempts of one task run"
    );
}

#[tokio::test]
async fn runs_tasks_and_callers_share_one_trace_per_run() {
    let collector = OtlpCollector::start();
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    let server = TestServer::start_with_env("", &[], &env);
    let _dir = deploy(&server);
    let worker = worker(&server, &env);
    assert!(has_exporter_thread(server.pid().unwrap()));
    assert!(has_exporter_thread(worker.pid()));

    // A run created by the CLI under a caller's TRACEPARENT.
    let cli_run = run_as_caller(&server, "web/flaky");
    // A shell flow created the same way shows what its process got.
    let shown_run = run_as_caller(&server, "web/show-trace");
    // One created through the REST API with a traceparent header.
    let response = reqwest::Client::new()
        .post(format!("{}/api/deployments/web/flaky/runs", server.url()))
        .bearer_auth(server.admin_key())
        .header("content-type", "application/json")
        .header("traceparent", REST_CALLER)
        .header("tracestate", REST_STATE)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let rest_run = created["id"].as_str().unwrap().to_owned();
    // And one without: it has a trace of its own.
    let own_run = server.run_deployment("web/show-trace", &[]);

    for run in [&cli_run, &rest_run, &own_run, &shown_run] {
        let detail = server.wait_for_state(run, &["COMPLETED", "FAILED", "CRASHED"], WAIT);
        assert_eq!(orch_e2e::state_type(&detail), "COMPLETED", "{detail:#}");
    }
    let cli_trace = trace_id(&server, &cli_run);
    let rest_trace = trace_id(&server, &rest_run);
    let own_trace = trace_id(&server, &own_run);
    assert_eq!(cli_trace, CLI_CALLER.split('-').nth(1).unwrap());
    assert_eq!(rest_trace, REST_CALLER.split('-').nth(1).unwrap());
    assert_eq!(own_trace, own_run.replace('-', ""));
    assert_eq!(
        created["trace_id"],
        rest_trace.as_str(),
        "the REST record has it"
    );

    // The flow process got TRACEPARENT naming its run's trace.
    let messages = server.log_messages(&own_run);
    let seen = messages
        .iter()
        .find_map(|m| m.strip_prefix("traceparent="))
        .unwrap_or_else(|| panic!("{messages:?}"));
    assert!(seen.starts_with(&format!("00-{own_trace}-")), "{seen}");
    assert!(
        messages.iter().any(|m| m == "tracestate="),
        "no caller, no TRACESTATE"
    );
    // With a caller's context, TRACESTATE is the caller's, unchanged.
    let messages = server.log_messages(&shown_run);
    assert!(
        messages.contains(&format!("tracestate={CLI_STATE}")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with(&format!("traceparent=00-{cli_trace}-"))),
        "{messages:?}"
    );

    let spans = collector.wait_for("every span of the three runs", WAIT, |spans| {
        let flaky_done = |trace: &str| {
            let spans = of_trace(spans, trace);
            spans.iter().any(|s| s.name.starts_with("flow-run "))
                && spans.iter().any(|s| s.service == "orch-worker")
                && spans.iter().filter(|s| s.name == "task flaky-step").count() >= 2
        };
        flaky_done(&cli_trace) && flaky_done(&rest_trace) && of_trace(spans, &own_trace).len() >= 2
    });
    let cli_spans: Vec<ReceivedSpan> = spans
        .iter()
        .filter(|s| s.attribute("orch.flow_run.id") != shown_run)
        .cloned()
        .collect();
    assert_flaky_trace(&cli_spans, &cli_run, &cli_trace, CLI_CALLER, CLI_STATE);
    assert_flaky_trace(&spans, &rest_run, &rest_trace, REST_CALLER, REST_STATE);
    let own = of_trace(&spans, &own_trace);
    let root = own
        .iter()
        .find(|s| s.name == "flow-run web/show-trace")
        .unwrap();
    assert_eq!(root.parent_span_id, "", "a run without a caller is a root");
    assert!(
        seen.contains(&root.span_id),
        "TRACEPARENT names the run's span: {seen}"
    );
    // The worker's JSON log lines about a run carry its trace and its span.
    let worker_span = cli_spans
        .iter()
        .find(|s| s.trace_id == cli_trace && s.service == "orch-worker")
        .unwrap();
    let output = worker.output();
    let line = output
        .lines()
        .find(|line| line.contains(&cli_run) && line.contains("\"span\""))
        .unwrap_or_else(|| panic!("no JSON line of run {cli_run} in its span:\n{output}"));
    assert!(
        line.contains(&format!("\"trace_id\":\"{cli_trace}\"")),
        "{line}"
    );
    assert!(
        line.contains(&format!("\"span_id\":\"{}\"", worker_span.span_id)),
        "{line}"
    );
    // Every span received belongs to one of the runs.
    for span in &spans {
        assert!(
            [&cli_trace, &rest_trace, &own_trace].contains(&&span.trace_id),
            "{span:#?}"
        );
    }
}

#[tokio::test]
async fn a_bad_traceparent_is_refused_with_what_is_wrong() {
    let server = TestServer::start();
    let _dir = deploy(&server);
    let output = server
        .command(&["deployment", "run", "web/flaky"])
        .env("TRACEPARENT", "00-not-a-trace-01")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("TRACEPARENT") && stderr.contains("invalid traceparent"),
        "{stderr}"
    );
    let response = reqwest::Client::new()
        .post(format!("{}/api/deployments/web/flaky/runs", server.url()))
        .bearer_auth(server.admin_key())
        .header("content-type", "application/json")
        .header(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
        )
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("invalid traceparent"), "{error}");
    // A good traceparent with a tracestate that is not W3C's.
    let output = server
        .command(&["deployment", "run", "web/flaky"])
        .env("TRACEPARENT", CLI_CALLER)
        .env("TRACESTATE", "Vendor=1")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("invalid tracestate key"), "{stderr}");
    let response = reqwest::Client::new()
        .post(format!("{}/api/deployments/web/flaky/runs", server.url()))
        .bearer_auth(server.admin_key())
        .header("content-type", "application/json")
        .header("traceparent", REST_CALLER)
        .header("tracestate", "rojo=1,rojo=2")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("appears twice"), "{error}");
    // Nothing was created by either.
    let runs = server.json(&["flow-run", "ls"]);
    assert_eq!(runs.as_array().map(Vec::len), Some(0), "{runs}");
}

/// The collector named in the config file's `[telemetry]` (not in the
/// environment), speaking OTLP/gRPC, gets the spans of the server, the
/// worker and the flow (which the worker passes the address on to).
#[test]
fn spans_reach_a_grpc_collector_named_in_the_config_file() {
    let collector = OtlpCollector::start_grpc();
    let mut server = TestServer::start();
    assert!(!has_exporter_thread(server.pid().unwrap()));
    std::fs::write(
        server.home().join("config.toml"),
        format!(
            "[telemetry]\nendpoint = \"{}\"\nprotocol = \"grpc\"\n",
            collector.url()
        ),
    )
    .unwrap();
    server.restart();
    assert!(has_exporter_thread(server.pid().unwrap()));
    let env = [("OTEL_BSP_SCHEDULE_DELAY", "100")];
    let _dir = deploy(&server);
    let _worker = worker(&server, &env);
    let run = server.run_deployment("web/flaky", &[]);
    let detail = server.wait_for_state(&run, &["COMPLETED", "FAILED", "CRASHED"], WAIT);
    assert_eq!(orch_e2e::state_type(&detail), "COMPLETED", "{detail:#}");
    let trace = trace_id(&server, &run);
    let spans = collector.wait_for("the run's spans over gRPC", WAIT, |spans| {
        let spans = of_trace(spans, &trace);
        spans.iter().any(|s| s.name == "flow-run web/flaky")
            && spans.iter().any(|s| s.service == "orch-worker")
            && spans.iter().filter(|s| s.name == "task flaky-step").count() >= 2
    });
    let spans = of_trace(&spans, &trace);
    let root = spans
        .iter()
        .find(|s| s.name == "flow-run web/flaky")
        .unwrap();
    assert_eq!(root.service, "orch-server");
    assert_eq!(root.parent_span_id, "");
    for child in spans.iter().filter(|s| s.span_id != root.span_id) {
        assert_eq!(child.parent_span_id, root.span_id, "{child:#?}");
    }
    assert!(collector.requests() > 0);
}

#[test]
fn with_the_variables_unset_no_exporter_runs_and_nothing_is_sent() {
    // An exporter started by mistake would send to the default endpoint.
    let default_endpoint = std::net::TcpListener::bind("127.0.0.1:4318").ok();
    let collector = default_endpoint.map(|listener| {
        drop(listener);
        OtlpCollector::start_on("127.0.0.1:4318")
    });
    let mut server = TestServer::start();
    let _dir = deploy(&server);
    let mut worker = worker(&server, &[]);
    let run = server.run_deployment("web/flaky", &[]);
    let detail = server.wait_for_state(&run, &["COMPLETED", "FAILED", "CRASHED"], WAIT);
    assert_eq!(orch_e2e::state_type(&detail), "COMPLETED", "{detail:#}");
    assert!(!has_exporter_thread(server.pid().unwrap()));
    assert!(!has_exporter_thread(worker.pid()));
    assert!(!server.daemon_output().contains("exporting traces"));
    // The run still has its trace id (for a flow's own instrumentation).
    assert_eq!(detail["trace_id"], run.replace('-', "").as_str());
    worker.terminate(Duration::from_secs(15));
    server.stop();
    if let Some(collector) = collector {
        assert_eq!(collector.requests(), 0, "{:#?}", collector.spans());
    }
}

/// A subflow is a child of its parent's task (issue 23): the subflow run's
/// span is a child of the span of the parent's task run standing for the
/// call, in the parent's trace, and the subflow's task spans are children
/// of the subflow run's span (nested subflows alike).
#[test]
fn a_subflow_runs_span_is_a_child_of_the_call_and_its_tasks_spans_children_of_it() {
    let collector = OtlpCollector::start();
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    let server = TestServer::start_with_env("", &[], &env);
    let toml = deployment_toml("web", "parent", "pool", &[TESTFLOWS, "parent"], "");
    let _dir = server.deploy("pool", &toml);
    let _worker = worker(&server, &env);
    let run = server.run_deployment("web/parent", &[]);
    let detail = server.wait_for_state(&run, &["COMPLETED", "FAILED", "CRASHED"], WAIT);
    assert_eq!(orch_e2e::state_type(&detail), "COMPLETED", "{detail:#}");
    let trace = trace_id(&server, &run);
    let child = detail["subflow_runs"][0]["id"].as_str().unwrap().to_owned();
    let grandchild = server.inspect(&child)["subflow_runs"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let spans = collector.wait_for("the spans of the runs and their tasks", WAIT, |spans| {
        let spans = of_trace(spans, &trace);
        spans
            .iter()
            .filter(|s| s.name.starts_with("flow-run "))
            .count()
            == 3
            && spans.iter().filter(|s| s.name == "task step").count() == 3
            && spans.iter().any(|s| s.name == "task grandchild")
    });
    let spans = of_trace(&spans, &trace);
    let run_span = |id: &str| {
        spans
            .iter()
            .find(|s| s.name.starts_with("flow-run ") && s.attribute("orch.flow_run.id") == id)
            .unwrap_or_else(|| panic!("no span of run {id}: {spans:#?}"))
    };
    let named = |name: &str, parent: &str| {
        spans
            .iter()
            .find(|s| s.name == name && s.parent_span_id == parent)
            .unwrap_or_else(|| panic!("no span {name} under {parent}: {spans:#?}"))
    };
    let root = run_span(&run);
    assert_eq!(root.name, "flow-run web/parent");
    let call = named("task child", &root.span_id);
    let child_span = run_span(&child);
    assert_eq!(child_span.name, "flow-run child");
    assert_eq!(
        child_span.parent_span_id, call.span_id,
        "the subflow run's span is a child of the call's task span"
    );
    named("task step", &root.span_id);
    named("task step", &child_span.span_id);
    let nested_call = named("task grandchild", &child_span.span_id);
    let grandchild_span = run_span(&grandchild);
    assert_eq!(grandchild_span.parent_span_id, nested_call.span_id);
    named("task step", &grandchild_span.span_id);
    assert_eq!(child_span.attribute("orch.flow_run.state"), "COMPLETED");
}
