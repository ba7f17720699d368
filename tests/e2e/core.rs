//! The core loop as a user drives it: server, pool, deploy, workers, runs, logs.

use std::collections::BTreeSet;
use std::time::Duration;

use orch_e2e::{TestServer, deployment_toml, flow_program, state_type};

const WAIT: Duration = Duration::from_secs(60);

#[test]
fn a_deployment_run_with_watch_completes_with_merged_parameters_and_its_logs() {
    let server = TestServer::start();
    let echo = flow_program("echo.sh");
    let toml = deployment_toml(
        "trading-flow",
        "trading-production",
        "sentinel-pool",
        &[&echo],
        "parameters = { force = false, symbol = \"GOOG\" }",
    );
    let _dir = server.deploy("sentinel-pool", &toml);
    let _first = server.start_worker("sentinel-pool", &[]);
    let _second = server.start_worker("sentinel-pool", &[]);

    let output = server.run(&[
        "deployment",
        "run",
        "trading-flow/trading-production",
        "--param",
        "force=true",
        "--watch",
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "watch did not exit 0:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("hello from"),
        "watch shows live logs: {stdout}"
    );

    let run_id = stdout
        .lines()
        .find_map(|line| line.strip_prefix("Created flow run "))
        .and_then(|rest| {
            rest.rsplit_once('(')
                .map(|(_, id)| id.trim_end_matches(')').to_string())
        })
        .unwrap_or_else(|| panic!("no 'Created flow run' line in {stdout}"));
    let detail = server.inspect(&run_id);
    assert_eq!(state_type(&detail), "COMPLETED");

    assert_eq!(
        server.echo_flow_parameters(&run_id),
        serde_json::json!({"force": true, "symbol": "GOOG"})
    );
}

#[test]
fn fifty_runs_over_two_workers_each_execute_exactly_once() {
    let server = TestServer::start();
    let record_dir = tempfile::tempdir().unwrap();
    let record_file = record_dir.path().join("runs.txt");
    let record = flow_program("record.sh");
    let toml = deployment_toml(
        "batch",
        "many",
        "pool",
        &[&record, record_file.to_str().unwrap()],
        "",
    );
    let _dir = server.deploy("pool", &toml);
    let _first = server.start_worker("pool", &[]);
    let _second = server.start_worker("pool", &[]);

    let ids: Vec<String> = (0..50)
        .map(|_| server.run_deployment("batch/many", &[]))
        .collect();
    for id in &ids {
        server.wait_for_state(id, &["COMPLETED"], WAIT);
    }
    let recorded = std::fs::read_to_string(&record_file).unwrap();
    let lines: Vec<&str> = recorded.lines().collect();
    let distinct: BTreeSet<&str> = lines.iter().copied().collect();
    assert_eq!(
        lines.len(),
        50,
        "each run executed exactly once: {recorded}"
    );
    assert_eq!(
        distinct,
        ids.iter().map(String::as_str).collect::<BTreeSet<_>>()
    );

    let runs = server.json(&["flow-run", "ls", "--limit", "100"]);
    let workers: BTreeSet<String> = runs
        .as_array()
        .expect("a list")
        .iter()
        .map(|run| run["worker_name"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(workers.len(), 2, "both workers took runs: {workers:?}");
}

#[test]
fn a_server_restart_mid_run_loses_no_run_and_no_log_line() {
    let mut server = TestServer::start();
    let count = flow_program("count.sh");
    let toml = deployment_toml("slow", "lines", "pool", &[&count, "30", "0.05"], "");
    let _dir = server.deploy("pool", &toml);
    let _worker = server.start_worker("pool", &[]);

    let run_id = server.run_deployment("slow/lines", &[]);
    server.wait_for_state(&run_id, &["RUNNING"], WAIT);
    server.restart();
    server.wait_for_state(&run_id, &["COMPLETED"], WAIT);

    let messages = server.log_messages(&run_id);
    let expected: Vec<String> = (1..=30).map(|i| format!("line {i}")).collect();
    assert_eq!(messages, expected, "every line exactly once, in order");
}

#[test]
fn a_paused_pool_holds_its_runs_until_resumed() {
    let server = TestServer::start();
    let echo = flow_program("echo.sh");
    let _dir = server.deploy("pool", &deployment_toml("f", "d", "pool", &[&echo], ""));
    server.ok(&["work-pool", "pause", "pool"]);
    let _worker = server.start_worker("pool", &[]);

    let run_id = server.run_deployment("f/d", &[]);
    // Give the worker ample chances (it is woken on every new run and polls every 2 s).
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(state_type(&server.inspect(&run_id)), "SCHEDULED");

    server.ok(&["work-pool", "resume", "pool"]);
    server.wait_for_state(&run_id, &["COMPLETED"], WAIT);
}

#[test]
fn a_paused_deployment_holds_its_runs_until_resumed() {
    let server = TestServer::start();
    let echo = flow_program("echo.sh");
    let _dir = server.deploy("pool", &deployment_toml("f", "d", "pool", &[&echo], ""));
    server.ok(&["deployment", "pause", "f/d"]);
    let _worker = server.start_worker("pool", &[]);

    let run_id = server.run_deployment("f/d", &[]);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(state_type(&server.inspect(&run_id)), "SCHEDULED");

    server.ok(&["deployment", "resume", "f/d"]);
    server.wait_for_state(&run_id, &["COMPLETED"], WAIT);
}

#[test]
fn a_relative_entrypoint_is_resolved_against_the_deploy_file_folder() {
    let server = TestServer::start();
    server.ok(&["work-pool", "create", "pool", "--type", "process"]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(flow_program("echo.sh"), dir.path().join("echo.sh")).unwrap();
    let path = orch_e2e::write_deploy_file(
        dir.path(),
        "orch.toml",
        &deployment_toml("f", "d", "pool", &["./echo.sh"], ""),
    );
    server.ok(&["deploy", path.to_str().unwrap()]);
    let _worker = server.start_worker("pool", &[]);

    let run_id = server.run_deployment("f/d", &[]);
    server.wait_for_state(&run_id, &["COMPLETED"], WAIT);
    assert!(
        server
            .log_messages(&run_id)
            .contains(&"goodbye".to_string())
    );
}

#[test]
fn deploy_is_idempotent_and_reports_what_changed() {
    let server = TestServer::start();
    let echo = flow_program("echo.sh");
    server.ok(&["work-pool", "create", "pool", "--type", "process"]);
    let dir = tempfile::tempdir().unwrap();
    let path = orch_e2e::write_deploy_file(
        dir.path(),
        "orch.toml",
        &deployment_toml("f", "d", "pool", &[&echo], "retries = 1"),
    );
    let path = path.to_str().unwrap();

    let first = server.json(&["deploy", path]);
    let second = server.json(&["deploy", path]);
    orch_e2e::write_deploy_file(
        dir.path(),
        "orch.toml",
        &deployment_toml("f", "d", "pool", &[&echo], "retries = 2"),
    );
    let third = server.json(&["deploy", path]);

    let kind = |report: &serde_json::Value| report.to_string().to_lowercase();
    assert!(kind(&first).contains("created"), "{first}");
    assert!(kind(&second).contains("unchanged"), "{second}");
    assert!(
        kind(&third).contains("updated") && kind(&third).contains("retries"),
        "{third}"
    );
    let deployments = server.json(&["deployment", "ls"]);
    assert_eq!(deployments.as_array().map(Vec::len), Some(1));
}

#[test]
fn the_server_answers_health_and_a_real_404_on_its_one_port() {
    let server = TestServer::start();
    let (status, body) = orch_e2e::http_get(server.url(), "/api/health");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"status\":\"ok\""), "{body}");
    // With a credential (without one, an unknown page sends a browser to /login).
    let (status, _) = server.http_get("/no/such/page");
    assert_eq!(status, 404);
    let status_json = server.json(&["server", "status"]);
    assert!(status_json.to_string().contains("sqlite"), "{status_json}");
}

#[test]
fn watch_survives_a_server_restart_and_shows_every_line_once() {
    let mut server = TestServer::start();
    let count = flow_program("count.sh");
    let _dir = server.deploy(
        "pool",
        &deployment_toml("slow", "lines", "pool", &[&count, "40", "0.05"], ""),
    );
    let _worker = server.start_worker("pool", &[]);

    let mut watch = server.command(&["deployment", "run", "slow/lines", "--watch"]);
    watch
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let watcher = watch.spawn().expect("start watch");
    let run_id = server.wait_for_any_run(WAIT);
    server.wait_for_state(&run_id, &["RUNNING"], WAIT);
    server.restart();

    let output = watcher.wait_with_output().expect("watch ends");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "watch exits 0 once the run completes: {stdout}"
    );
    for i in 1..=40 {
        let needle = format!("[stdout] line {i}");
        assert_eq!(
            stdout.lines().filter(|l| l.ends_with(&needle)).count(),
            1,
            "{needle} exactly once:\n{stdout}"
        );
    }
}

#[test]
fn orch_up_starts_server_pools_deployments_and_workers_in_one_command() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let toml = deployment_toml(
        "f",
        "d",
        "up-pool",
        &[&flow_program("echo.sh")],
        "parameters = { force = false }",
    );
    let path = orch_e2e::write_deploy_file(dir.path(), "orch.toml", &toml);
    let mut command = std::process::Command::new(orch_e2e::binary("orch"));
    command
        .args(["up", "--no-build", path.to_str().unwrap(), "--port", "0"])
        .env("ORCH_HOME", home.path())
        .env("NO_COLOR", "1");
    let mut up = orch_e2e::Daemon::spawn("up", command, home.path());
    let line = up.wait_for_line("orch is up: dashboard ", WAIT);
    let url = line
        .split("dashboard ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .map(|url| url.trim_end_matches('/').to_string())
        .expect("a dashboard URL");

    let output = std::process::Command::new(orch_e2e::binary("orch"))
        .args([
            "deployment",
            "run",
            "f/d",
            "--param",
            "force=true",
            "--watch",
        ])
        .env("ORCH_API_URL", &url)
        .env("ORCH_HOME", home.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains(r#"parameters: {"force":true}"#), "{stdout}");
    assert!(
        up.output().contains("Created work pool up-pool"),
        "{}",
        up.output()
    );
}
