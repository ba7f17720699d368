//! Runs that fail, crash, are cancelled, or lose their worker.

use std::time::{Duration, Instant};

use orch_e2e::{TestServer, deployment_toml, flow_program, state_type};

const WAIT: Duration = Duration::from_secs(60);

fn state_message(detail: &serde_json::Value) -> String {
    let run = detail.get("run").unwrap_or(detail);
    run["state"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_failing_entrypoint_ends_failed_with_its_exit_code_and_stderr() {
    let server = TestServer::start();
    let _dir = server.deploy(
        "pool",
        &deployment_toml("f", "fails", "pool", &[&flow_program("fail.sh")], ""),
    );
    let _worker = server.start_worker("pool", &[]);

    let output = server.run(&["deployment", "run", "f/fails", "--watch"]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "--watch exits 1 when the run does not complete"
    );
    let run_id = server.json(&["flow-run", "ls"])[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let detail = server.inspect(&run_id);
    assert_eq!(state_type(&detail), "FAILED");
    let run = detail.get("run").unwrap_or(&detail);
    assert_eq!(run["exit_code"], 3);
    let message = state_message(&detail);
    assert!(message.contains("exit code 3"), "{message}");
    assert!(message.contains("cannot reach the price feed"), "{message}");
}

#[test]
fn a_process_killed_by_a_signal_ends_crashed() {
    let server = TestServer::start();
    let _dir = server.deploy(
        "pool",
        &deployment_toml("f", "crash", "pool", &[&flow_program("crash.sh")], ""),
    );
    let _worker = server.start_worker("pool", &[]);

    let run_id = server.run_deployment("f/crash", &[]);
    let detail = server.wait_for_state(&run_id, &["CRASHED", "COMPLETED", "FAILED"], WAIT);
    assert_eq!(state_type(&detail), "CRASHED");
    assert!(
        state_message(&detail).contains("SIGKILL"),
        "{}",
        state_message(&detail)
    );
}

#[test]
fn cancel_kills_the_sleeping_process_group_and_ends_cancelled() {
    let server = TestServer::start();
    let pid_dir = tempfile::tempdir().unwrap();
    let pid_file = pid_dir.path().join("pid");
    let toml = deployment_toml(
        "f",
        "sleepy",
        "pool",
        &[&flow_program("pid.sh"), pid_file.to_str().unwrap()],
        "",
    );
    let _dir = server.deploy("pool", &toml);
    let _worker = server.start_worker("pool", &[]);

    let run_id = server.run_deployment("f/sleepy", &[]);
    server.wait_for_state(&run_id, &["RUNNING"], WAIT);
    let pid = wait_for_pid(&pid_file);

    server.ok(&["flow-run", "cancel", &run_id]);
    let detail = server.wait_for_state(
        &run_id,
        &["CANCELLED", "COMPLETED", "FAILED", "CRASHED"],
        WAIT,
    );
    assert_eq!(state_type(&detail), "CANCELLED");
    let alive = std::process::Command::new("kill")
        .args(["-0", &pid])
        .status()
        .unwrap()
        .success();
    assert!(!alive, "the flow process {pid} was killed");
}

#[test]
fn an_entrypoint_that_does_not_exist_ends_failed_with_a_clear_message() {
    let server = TestServer::start();
    let _dir = server.deploy(
        "pool",
        &deployment_toml("f", "missing", "pool", &["./no-such-program"], ""),
    );
    let _worker = server.start_worker("pool", &[]);

    let run_id = server.run_deployment("f/missing", &[]);
    let detail = server.wait_for_state(&run_id, &["FAILED", "CRASHED", "COMPLETED"], WAIT);
    assert_eq!(state_type(&detail), "FAILED");
    let message = state_message(&detail);
    assert!(
        message.contains("no-such-program"),
        "names the program: {message}"
    );
}

#[test]
fn flow_retries_reschedule_a_failed_run_until_they_are_used_up() {
    let server = TestServer::start();
    let toml = deployment_toml(
        "f",
        "retry",
        "pool",
        &[&flow_program("fail.sh")],
        "retries = 2\nretry_delay_seconds = 0",
    );
    let _dir = server.deploy("pool", &toml);
    let _worker = server.start_worker("pool", &[]);

    let run_id = server.run_deployment("f/retry", &[]);
    let detail = server.wait_for_state(&run_id, &["FAILED"], WAIT);
    let run = detail.get("run").unwrap_or(&detail);
    assert_eq!(run["run_count"], 3, "one run and two retries: {detail:#}");
    let history = detail["history"].to_string();
    assert_eq!(history.matches("AwaitingRetry").count(), 2, "{history}");
}

#[test]
fn a_run_whose_worker_is_killed_becomes_crashed_when_its_lease_expires() {
    let server = TestServer::start_with(&["--worker-lease-seconds", "3"]);
    let pid_dir = tempfile::tempdir().unwrap();
    let pid_file = pid_dir.path().join("pid");
    let toml = deployment_toml(
        "f",
        "orphan",
        "pool",
        &[&flow_program("pid.sh"), pid_file.to_str().unwrap()],
        "",
    );
    let _dir = server.deploy("pool", &toml);
    let mut worker = server.start_worker("pool", &["--heartbeat-seconds", "1"]);

    let run_id = server.run_deployment("f/orphan", &[]);
    server.wait_for_state(&run_id, &["RUNNING"], WAIT);
    worker.kill();
    let detail = server.wait_for_state(
        &run_id,
        &["CRASHED", "COMPLETED", "FAILED", "CANCELLED"],
        WAIT,
    );
    assert_eq!(state_type(&detail), "CRASHED");
    assert!(
        state_message(&detail).contains("lease"),
        "{}",
        state_message(&detail)
    );
    // The flow wrote the pid it has in its own PID namespace.
    if let Ok(pid) = std::fs::read_to_string(&pid_file)
        && let Ok(pid) = pid.trim().parse::<u32>()
        && let Some(pid) = orch_e2e::host_pid(pid, &pid_file.display().to_string())
    {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
}

/// Reads the pid a flow wrote to `file` (bounded wait), as this test sees
/// it: the flow wrote the pid it has in its own PID namespace.
fn wait_for_pid(file: &std::path::Path) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let pid = std::fs::read_to_string(file).unwrap_or_default();
        if let Ok(pid) = pid.trim().parse::<u32>()
            && let Some(host) = orch_e2e::host_pid(pid, &file.display().to_string())
        {
            return host.to_string();
        }
        assert!(Instant::now() < deadline, "the flow never wrote its pid");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_run_whose_worker_is_sigkilled_is_crashed_by_its_lease_and_retried() {
    let server = TestServer::start_with(&["--worker-lease-seconds", "3"]);
    let pid_dir = tempfile::tempdir().unwrap();
    let pid_file = pid_dir.path().join("pid");
    let toml = deployment_toml(
        "f",
        "orphan",
        "pool",
        &[&flow_program("pid.sh"), pid_file.to_str().unwrap()],
        "retries = 1\nretry_delay_seconds = 0",
    );
    let _dir = server.deploy("pool", &toml);
    let mut worker = server.start_worker("pool", &["--heartbeat-seconds", "1"]);

    let run_id = server.run_deployment("f/orphan", &[]);
    server.wait_for_state(&run_id, &["RUNNING"], WAIT);
    let first_pid = wait_for_pid(&pid_file);
    std::fs::remove_file(&pid_file).unwrap();
    worker.kill();

    // The server Crashes it when the lease expires, and the retry makes it wait again.
    let deadline = Instant::now() + WAIT;
    let detail = loop {
        let detail = server.inspect(&run_id);
        let history = detail["history"].to_string();
        if history.contains("Crashed") {
            break detail;
        }
        assert!(
            Instant::now() < deadline,
            "not crashed after {WAIT:?}: {detail:#}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let history = detail["history"].to_string();
    assert!(
        history.contains("its lease on the run expired"),
        "{history}"
    );
    assert!(history.contains("AwaitingRetry"), "{history}");
    let workers = server.json(&["worker", "ls"]);
    assert_eq!(workers[0]["status"], "offline", "{workers:#}");

    // A new worker picks the retry up.
    let _rescuer = server.start_worker("pool", &["--heartbeat-seconds", "1"]);
    let deadline = Instant::now() + WAIT;
    loop {
        let detail = server.wait_for_state(&run_id, &["RUNNING"], WAIT);
        let run = detail.get("run").unwrap_or(&detail);
        if run["run_count"] == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "not retried: {detail:#}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let second_pid = wait_for_pid(&pid_file);
    assert_ne!(first_pid, second_pid, "a new process runs the retry");

    let _ = std::process::Command::new("kill")
        .args(["-KILL", &first_pid])
        .status();
    server.ok(&["flow-run", "cancel", &run_id]);
    server.wait_for_state(&run_id, &["CANCELLED", "CRASHED", "FAILED"], WAIT);
}
