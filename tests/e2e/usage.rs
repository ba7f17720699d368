//! Resource usage per run with the real server and worker: a flow that
//! allocates (and touches) 300 MiB and burns 2 s of CPU shows a peak RSS
//! and a CPU time within 10% of that in the REST run record, in
//! `flow-run inspect` (JSON and table) and in the Prometheus histograms,
//! whether the worker starts flows in the namespace sandbox or not; and the
//! Rust SDK's task runs report their own CPU time (a task burning 0.5 s of
//! CPU, one sleeping as long).

mod web;

/// The database every server of this binary runs on.
const BACKEND: orch_e2e::Backend = orch_e2e::Backend::Sqlite;

use orch_e2e::deployment_toml;
use serde_json::Value;
use web::{Api, TESTFLOWS};

const MIB: f64 = 1024.0 * 1024.0;
const EXPECTED_RSS: f64 = 300.0 * MIB;
const EXPECTED_CPU: f64 = 2.0;

/// Whether `actual` is within 10% of `expected`.
fn within_ten_percent(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() <= expected * 0.10
}

/// Checks a run record's `usage` (REST or `inspect --output json`).
fn assert_usage(record: &Value, what: &str) {
    let usage = &record["usage"];
    let rss = usage["max_rss_bytes"]
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: no usage in {record:#}"));
    let cpu = usage["cpu_seconds"].as_f64().unwrap();
    let user = usage["cpu_user_seconds"].as_f64().unwrap();
    let system = usage["cpu_system_seconds"].as_f64().unwrap();
    let wall = usage["wall_seconds"].as_f64().unwrap();
    assert!(
        within_ten_percent(rss, EXPECTED_RSS),
        "{what}: peak RSS {:.1} MiB is not within 10% of 300 MiB: {usage:#}",
        rss / MIB
    );
    assert!(
        within_ten_percent(cpu, EXPECTED_CPU),
        "{what}: CPU {cpu:.3} s is not within 10% of 2 s: {usage:#}"
    );
    assert!((user + system - cpu).abs() < 1e-3, "{what}: {usage:#}");
    assert!(
        wall >= cpu * 0.9,
        "{what}: wall time below CPU time: {usage:#}"
    );
}

/// The value of the OpenMetrics sample named exactly `key`.
fn sample(metrics: &str, key: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let (name, value) = line.rsplit_once(' ')?;
        (name == key).then(|| value.parse().ok())?
    })
}

#[tokio::test]
async fn a_runs_cpu_and_memory_show_in_the_api_inspect_and_metrics() {
    let server = orch_e2e::TestServer::start_for(BACKEND);
    // One pool whose worker isolates flows as the host allows (namespaces
    // where it can), one whose worker runs them directly.
    let sandboxed = deployment_toml("web", "burn", "pool", &[TESTFLOWS, "burn"], "");
    let _dir = server.deploy("pool", &sandboxed);
    let plain = deployment_toml("web", "burn-plain", "plain", &[TESTFLOWS, "burn"], "");
    let _plain_dir = server.deploy("plain", &plain);
    let _worker = server.start_worker("pool", &[]);
    let _plain_worker = server.start_worker("plain", &["--isolation", "none"]);
    let api = Api::new(&server);

    for deployment in ["burn", "burn-plain"] {
        let created = api
            .post(&format!("/api/deployments/web/{deployment}/runs"), "")
            .await;
        assert_eq!(created.status, 201, "{}", created.text);
        let run = created.body["id"].as_str().unwrap().to_owned();
        let detail = api
            .wait_for_state(&run, &["COMPLETED", "FAILED", "CRASHED"])
            .await;
        assert_eq!(detail["state"]["type"], "COMPLETED", "{detail:#}");

        // The REST run record, and the same from the CLI.
        assert_usage(&detail, &format!("REST record of web/{deployment}"));
        let inspected = server.inspect(&run);
        assert_usage(
            &inspected,
            &format!("inspect --output json of web/{deployment}"),
        );
        assert_eq!(inspected["usage"], detail["usage"]);
        let table = server.ok(&["flow-run", "inspect", &run]);
        let line = table
            .lines()
            .find(|line| line.contains("Resources"))
            .unwrap_or_else(|| panic!("no Resources line in:\n{table}"));
        let cpu = detail["usage"]["cpu_seconds"].as_f64().unwrap();
        assert!(line.contains(&format!("CPU {cpu:.2} s")), "{line}");
        assert!(
            line.contains("peak RSS 3") && line.contains(" MiB"),
            "{line}"
        );
    }

    // The histograms, by deployment: one observation each, within 10%.
    let metrics = api.get("/metrics").await.text;
    for deployment in ["web/burn", "web/burn-plain"] {
        let key = |name: &str| format!("{name}{{deployment=\"{deployment}\"}}");
        let count = sample(&metrics, &key("orch_flow_run_cpu_seconds_count"));
        assert_eq!(count, Some(1.0), "{deployment}:\n{metrics}");
        let cpu = sample(&metrics, &key("orch_flow_run_cpu_seconds_sum")).unwrap();
        assert!(within_ten_percent(cpu, EXPECTED_CPU), "{deployment}: {cpu}");
        let rss = sample(&metrics, &key("orch_flow_run_max_rss_bytes_sum")).unwrap();
        assert!(within_ten_percent(rss, EXPECTED_RSS), "{deployment}: {rss}");
        let count = sample(&metrics, &key("orch_flow_run_max_rss_bytes_count"));
        assert_eq!(count, Some(1.0), "{deployment}:\n{metrics}");
    }
}

#[tokio::test]
async fn a_run_that_never_started_has_no_usage() {
    let server = orch_e2e::TestServer::start_for(BACKEND);
    let toml = deployment_toml("web", "burn", "idle", &[TESTFLOWS, "burn"], "");
    let _dir = server.deploy("idle", &toml);
    let api = Api::new(&server);
    let created = api.post("/api/deployments/web/burn/runs", "").await;
    assert_eq!(created.status, 201, "{}", created.text);
    let run = created.body["id"].as_str().unwrap().to_owned();
    // No worker: the run stays Scheduled, and its usage is null.
    let detail = api.ok(&format!("/api/flow-runs/{run}")).await;
    assert!(
        detail.as_object().unwrap().contains_key("usage"),
        "{detail:#}"
    );
    assert_eq!(detail["usage"], Value::Null);
    let table = server.ok(&["flow-run", "inspect", &run]);
    assert!(
        table
            .lines()
            .any(|line| line.contains("Resources") && line.trim_end().ends_with('-')),
        "{table}"
    );
}

/// The `cpu_seconds` of task run `name` in a REST run record.
fn task_cpu(detail: &Value, name: &str) -> f64 {
    let task = detail["task_runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|task| task["name"] == name)
        .unwrap_or_else(|| panic!("no task run {name}: {detail:#}"));
    task["cpu_seconds"]
        .as_f64()
        .unwrap_or_else(|| panic!("task run {name} has no cpu_seconds: {task:#}"))
}

#[tokio::test]
async fn a_rust_sdk_task_reports_the_cpu_time_it_burnt_and_a_sleeping_one_almost_none() {
    let server = orch_e2e::TestServer::start_for(BACKEND);
    let toml = deployment_toml("web", "task-cpu", "pool", &[TESTFLOWS, "task-cpu"], "");
    let _dir = server.deploy("pool", &toml);
    let _worker = server.start_worker("pool", &[]);
    let api = Api::new(&server);
    let created = api.post("/api/deployments/web/task-cpu/runs", "").await;
    assert_eq!(created.status, 201, "{}", created.text);
    let run = created.body["id"].as_str().unwrap().to_owned();
    let detail = api
        .wait_for_state(&run, &["COMPLETED", "FAILED", "CRASHED"])
        .await;
    assert_eq!(detail["state"]["type"], "COMPLETED", "{detail:#}");
    let burnt = task_cpu(&detail, "burns-cpu");
    assert!((0.3..=1.5).contains(&burnt), "burns-cpu: {burnt} s");
    let slept = task_cpu(&detail, "sleeps-a-while");
    assert!(slept < 0.1, "sleeps-a-while: {slept} s");
    // The CLI's task table shows it; its JSON is the REST record's.
    let table = server.ok(&["task-run", "ls", "--flow-run", &run]);
    assert!(table.lines().next().unwrap().contains("CPU"), "{table}");
    let shown = format!("{burnt:.2}s").replace(".00s", "s");
    assert!(
        table
            .lines()
            .any(|line| line.contains("burns-cpu") && line.contains(&shown)),
        "{shown} not in\n{table}"
    );
    let inspected = server.inspect(&run);
    assert_eq!(inspected["task_runs"], detail["task_runs"]);
}
