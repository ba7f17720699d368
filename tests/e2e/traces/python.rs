//! Task spans of Python flows (sdks/python), through the Rust SDK's
//! exporter in the extension: with the worker's collector address a
//! Python flow's task attempts are spans under its run's span (a retried
//! task shows two, the failed one an error), a subflow run's span is a
//! child of the call's task span and its tasks children of it; without
//! the variables the flow process runs no exporter thread.

use orch_e2e::otlp::OtlpCollector;
use orch_e2e::{TestServer, deployment_toml, fixtures};

use super::{WAIT, of_trace, python_setup, trace_id, worker};

/// Deploys the Python flows `flows` of tests/fixtures/python/flows.py as
/// `py/FLOW` on pool `pool`, each with its `parameters` line.
fn deploy_python(server: &TestServer, flows: &[(&str, &str)]) -> tempfile::TempDir {
    let python = python_setup::python().display().to_string();
    let file = fixtures().join("python/flows.py").display().to_string();
    let toml: String = flows
        .iter()
        .map(|(flow, parameters)| {
            let target = format!("{file}:{flow}");
            let argv = [python.as_str(), "-m", "orch", "run", target.as_str()];
            deployment_toml("py", flow, "pool", &argv, parameters)
        })
        .collect();
    server.deploy("pool", &toml)
}

/// Runs `deployment` to its end, Completed; its trace id.
fn completed_run(server: &TestServer, deployment: &str) -> (String, String) {
    let run = server.run_deployment(deployment, &[]);
    let detail = server.wait_for_state(&run, &["COMPLETED", "FAILED", "CRASHED"], WAIT);
    assert_eq!(orch_e2e::state_type(&detail), "COMPLETED", "{detail:#}");
    let trace = trace_id(server, &run);
    (run, trace)
}

#[test]
fn a_python_flows_task_attempts_and_subflows_are_spans_of_its_runs_trace() {
    let collector = OtlpCollector::start();
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    let server = TestServer::start_with_env("", &[], &env);
    let _dir = deploy_python(
        &server,
        &[
            ("flaky", "parameters = { fail_times = 1, delays_ms = [50] }"),
            ("parent", ""),
            ("exporter_threads", ""),
        ],
    );
    let _worker = worker(&server, &env);

    // A task that fails once: two attempt spans under the run's span.
    let (run, trace) = completed_run(&server, "py/flaky");
    let spans = collector.wait_for("the Python flow's task spans", WAIT, |spans| {
        let spans = of_trace(spans, &trace);
        spans.iter().any(|s| s.name == "flow-run py/flaky")
            && spans.iter().filter(|s| s.name == "task flaky-step").count() >= 2
    });
    let spans = of_trace(&spans, &trace);
    let root = spans
        .iter()
        .find(|s| s.name == "flow-run py/flaky")
        .unwrap();
    assert_eq!(root.attribute("orch.flow_run.id"), run);
    let mut attempts: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "task flaky-step")
        .collect();
    attempts.sort_by_key(|s| s.attribute("orch.task_run.attempt").to_owned());
    assert_eq!(attempts.len(), 2, "{spans:#?}");
    for (n, attempt) in attempts.iter().enumerate() {
        assert_eq!(attempt.service, "orch-flow");
        assert_eq!(attempt.parent_span_id, root.span_id, "{attempt:#?}");
        assert_eq!(
            attempt.attribute("orch.task_run.attempt"),
            (n + 1).to_string()
        );
        assert!(
            !attempt.attribute("orch.task_run.cpu_seconds").is_empty(),
            "a sync task's attempt carries its CPU time: {attempt:#?}"
        );
    }
    assert_eq!(attempts[0].status_code, 2, "the failed attempt is an error");
    assert_eq!(attempts[0].attribute("orch.task_run.state"), "Failed");
    assert_eq!(attempts[1].attribute("orch.task_run.state"), "Completed");
    assert_ne!(attempts[1].status_code, 2);
    assert_eq!(
        attempts[0].attribute("orch.task_run.id"),
        attempts[1].attribute("orch.task_run.id")
    );

    // A subflow: its run's span is a child of the call's task span, and
    // its task's span a child of its run's span.
    let (run, trace) = completed_run(&server, "py/parent");
    let detail = server.inspect(&run);
    let child = detail["subflow_runs"][0]["id"].as_str().unwrap().to_owned();
    let spans = collector.wait_for("the subflow's spans", WAIT, |spans| {
        let spans = of_trace(spans, &trace);
        spans
            .iter()
            .filter(|s| s.name.starts_with("flow-run "))
            .count()
            == 2
            && spans.iter().filter(|s| s.name == "task step").count() == 2
            && spans.iter().any(|s| s.name == "task child")
    });
    let spans = of_trace(&spans, &trace);
    let root = spans
        .iter()
        .find(|s| s.name == "flow-run py/parent")
        .unwrap_or_else(|| panic!("{spans:#?}"));
    let call = spans.iter().find(|s| s.name == "task child").unwrap();
    assert_eq!(call.parent_span_id, root.span_id, "{call:#?}");
    let child_span = spans
        .iter()
        .find(|s| s.name == "flow-run child")
        .unwrap_or_else(|| panic!("{spans:#?}"));
    assert_eq!(child_span.attribute("orch.flow_run.id"), child);
    assert_eq!(child_span.parent_span_id, call.span_id, "{child_span:#?}");
    let mut steps: Vec<&str> = spans
        .iter()
        .filter(|s| s.name == "task step")
        .map(|s| s.parent_span_id.as_str())
        .collect();
    steps.sort_unstable();
    let mut expected = vec![root.span_id.as_str(), child_span.span_id.as_str()];
    expected.sort_unstable();
    assert_eq!(steps, expected, "one step in each run: {spans:#?}");

    // The flow process runs the exporter's thread.
    let (run, _) = completed_run(&server, "py/exporter_threads");
    let messages = server.log_messages(&run);
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("exporter threads: ['OpenTelemetry")),
        "{messages:?}"
    );
}

#[test]
fn without_the_variables_a_python_flow_runs_no_exporter() {
    let server = TestServer::start();
    let _dir = deploy_python(&server, &[("exporter_threads", "")]);
    let _worker = worker(&server, &[]);
    let (run, _) = completed_run(&server, "py/exporter_threads");
    let messages = server.log_messages(&run);
    assert!(
        messages.iter().any(|m| m == "exporter threads: []"),
        "{messages:?}"
    );
}
