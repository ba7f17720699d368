//! The server as a service: structured logs, upgrades of an older database,
//! systemd units, and `orch up` in the background.

use super::*;

#[test]
fn log_format_json_writes_one_json_object_per_line() {
    let server = TestServer::start_with(&["--log-format", "json"]);
    server.ok(&["work-pool", "create", "default"]);
    let worker = server.start_worker("default", &["--log-format", "json"]);
    let server_output = || server.daemon_output();
    let worker_output = || worker.output();
    let sources: [(&dyn Fn() -> String, &str); 2] = [
        (&server_output, "orch server started"),
        (&worker_output, "started on pool default"),
    ];
    for (read, expected) in sources {
        // stderr is read by its own thread: wait for the line to arrive.
        let mut output = read();
        wait_until(expected, WAIT, || {
            output = read();
            output.contains(expected)
        });
        let lines: Vec<&str> = output
            .lines()
            .filter_map(|line| line.strip_prefix("[err] "))
            .collect();
        assert!(!lines.is_empty(), "{output}");
        for line in &lines {
            let event: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            assert!(
                event["level"].is_string() && event["timestamp"].is_string(),
                "{line}"
            );
        }
        assert!(lines.iter().any(|line| line.contains(expected)), "{output}");
    }
}

#[test]
fn a_database_of_the_previous_schema_is_upgraded_by_the_server() {
    let home = tempfile::tempdir().unwrap();
    let database = home.path().join("old.db");
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/orch-store/tests/fixtures/schema-v4.db");
    std::fs::copy(&fixture, &database).unwrap();
    let server = TestServer::start_on(&format!("sqlite://{}", database.display()), &[]);
    let status = server.json(&["server", "status"]);
    assert_eq!(
        status["schema_version"], status["schema_latest"],
        "{status}"
    );
    // The fixture's 20 runs, beside any its schedule made since.
    let listed = ids(&server.json(&["flow-run", "ls", "--limit", "500"]));
    for n in 1..=20 {
        assert!(
            listed.contains(&format!("run-{n}")),
            "run-{n} is missing: {listed:?}"
        );
    }
    assert_eq!(
        server.log_messages("run-4"),
        [
            "run 4 line 1",
            "run 4 line 2",
            "run 4 line 3",
            "run 4 line 4",
            "run 4 line 5"
        ]
    );
    assert_eq!(state_type(&server.inspect("run-4")), "FAILED");
}

#[test]
fn the_systemd_units_pass_systemd_analyze_verify() {
    let Ok(which) = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
    else {
        eprintln!(
            "systemd-analyze is not installed; skipping the unit check (.ci/run installs it)"
        );
        return;
    };
    assert!(which.status.success());
    let units = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/systemd");
    let dir = tempfile::tempdir().unwrap();
    let orch = binary("orch");
    for name in ["orch-server.service", "orch-worker@.service"] {
        let text = std::fs::read_to_string(units.join(name)).unwrap();
        assert!(text.contains("ExecStart=/usr/local/bin/orch "), "{name}");
        // verify checks that the program exists: point it at the built binary.
        let text = text.replace("/usr/local/bin/orch", &orch.display().to_string());
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let output = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(dir.path().join("orch-server.service"))
        .arg(dir.path().join("orch-worker@sentinel-pool.service"))
        .env("SYSTEMD_LOG_LEVEL", "warning")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let complaints: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("orch-server") || line.contains("orch-worker"))
        .collect();
    assert!(
        output.status.success() && complaints.is_empty(),
        "systemd-analyze verify: {stderr}"
    );
}

#[test]
fn up_in_the_background_runs_the_deploy_file_until_down() {
    let home = tempfile::tempdir().unwrap();
    let file = orch_e2e::write_deploy_file(
        home.path(),
        "orch.toml",
        &deployment_toml("etl", "hello", "up-pool", &[&flow_program("echo.sh")], ""),
    );
    let database = format!("sqlite://{}/orch.db", home.path().display());
    let up = [
        "up",
        file.to_str().unwrap(),
        "--no-build",
        "--background",
        "--port",
        "0",
        "--database-url",
        &database,
    ];
    let (stdout, url) = start_in_background(home.path(), &up);
    assert!(
        stdout.contains("orch up is running in the background"),
        "{stdout}"
    );
    let server = TestServer::background(home, &url);
    // The deployment is registered and its pool has a worker: a run completes.
    let run = server.run_deployment("etl/hello", &[]);
    server.wait_for_state(&run, &["COMPLETED"], WAIT);

    let down = server.ok(&["down"]);
    assert!(down.contains("Stopped orch up"), "{down}");
    assert!(!server.home().join("up.pid").exists());
    assert!(std::net::TcpStream::connect(url.trim_start_matches("http://")).is_err());
}
