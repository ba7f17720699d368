//! Bad input gets a clear error and a non-zero exit, and changes nothing.

use orch_e2e::{TestServer, deployment_toml, flow_program};

#[path = "bad_input/hardening.rs"]
mod hardening;

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).to_string()
}

#[test]
fn a_malformed_deploy_file_is_refused_with_file_line_and_reason() {
    let server = TestServer::start();
    server.ok(&["work-pool", "create", "pool", "--type", "process"]);
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "unknown-key.toml",
            "[[deployments]]\nflow = \"f\"\nname = \"d\"\nwork_pool = \"pool\"\nentripoint = [\"x\"]\n",
            ":5:",
            "entripoint",
        ),
        (
            "wrong-type.toml",
            "[[deployments]]\nflow = \"f\"\nname = \"d\"\nwork_pool = \"pool\"\nentrypoint = [\"x\"]\nretries = \"three\"\n",
            ":6:",
            "retries",
        ),
        (
            "no-entrypoint.toml",
            "[[deployments]]\nflow = \"f\"\nname = \"d\"\nwork_pool = \"pool\"\n",
            ":1:",
            "entrypoint",
        ),
        (
            "unknown-calendar.toml",
            "[[deployments]]\nflow = \"f\"\nname = \"d\"\nwork_pool = \"pool\"\nentrypoint = [\"x\"]\n\
             [[deployments.schedules]]\ncron = \"0 9 * * 1-5\"\ncalendar = \"NYSE\"\n",
            ":8:",
            "unknown calendar \"NYSE\"",
        ),
        (
            "bad-calendar-date.toml",
            "[[calendars]]\nname = \"plant\"\nclosed = [\"2026-02-30\"]\n\
             [[deployments]]\nflow = \"f\"\nname = \"d\"\nwork_pool = \"pool\"\nentrypoint = [\"x\"]\n",
            ":3:",
            "\"2026-02-30\" is not a date; write dates as YYYY-MM-DD",
        ),
    ];
    for (file, text, line, reason) in cases {
        let path = orch_e2e::write_deploy_file(dir.path(), file, text);
        let output = server.run(&["deploy", path.to_str().unwrap()]);
        let message = stderr(&output);
        assert!(!output.status.success(), "{file} was accepted");
        assert!(
            message.contains(&format!("{file}{line}")),
            "{file}: names file and line: {message}"
        );
        assert!(
            message.contains(reason),
            "{file}: gives the reason: {message}"
        );
    }
    let deployments = server.json(&["deployment", "ls"]);
    assert_eq!(
        deployments.as_array().map(Vec::len),
        Some(0),
        "nothing was deployed"
    );
}

#[test]
fn a_deploy_file_naming_a_missing_pool_is_refused_with_a_hint() {
    let server = TestServer::start();
    server.ok(&["work-pool", "create", "sentinel-pool", "--type", "process"]);
    let dir = tempfile::tempdir().unwrap();
    let path = orch_e2e::write_deploy_file(
        dir.path(),
        "orch.toml",
        &deployment_toml("f", "d", "sentinel-pol", &["x"], ""),
    );
    let output = server.run(&["deploy", path.to_str().unwrap()]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("sentinel-pool"),
        "suggests the close match: {}",
        stderr(&output)
    );
}

#[test]
fn a_bad_param_is_refused_with_the_reason() {
    let server = TestServer::start();
    let _dir = server.deploy(
        "pool",
        &deployment_toml("f", "d", "pool", &[&flow_program("echo.sh")], ""),
    );
    let output = server.run(&["deployment", "run", "f/d", "--param", "force"]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("KEY=VALUE"), "{}", stderr(&output));
    let output = server.run(&["deployment", "run", "f/d", "--params", "[1, 2]"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).to_lowercase().contains("object"),
        "{}",
        stderr(&output)
    );
    let runs = server.json(&["flow-run", "ls"]);
    assert_eq!(runs.as_array().map(Vec::len), Some(0), "no run was created");
}

#[test]
fn unknown_deployments_and_pools_are_named_with_close_matches() {
    let server = TestServer::start();
    let _dir = server.deploy(
        "sentinel-pool",
        &deployment_toml(
            "trading-flow",
            "trading-production",
            "sentinel-pool",
            &["x"],
            "",
        ),
    );

    let output = server.run(&["deployment", "run", "trading-flow/trading-prod"]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("trading-flow/trading-prod"), "{message}");
    assert!(
        message.contains("trading-flow/trading-production"),
        "did you mean: {message}"
    );

    let output = server.run(&["work-pool", "inspect", "sentinel-pol"]);
    assert!(
        stderr(&output).contains("sentinel-pool"),
        "{}",
        stderr(&output)
    );

    let output = server.run(&["worker", "start", "--pool", "nope"]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("nope"), "{}", stderr(&output));
}

#[test]
fn a_server_that_cannot_be_reached_is_one_clear_line() {
    let server = TestServer::start();
    let url = server.url().to_string();
    let mut server = server;
    server.stop();
    let output = server.run(&["flow-run", "ls"]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert_eq!(message.trim().lines().count(), 1, "{message}");
    assert!(
        message.contains(&format!("cannot reach the orch server at {url}")),
        "{message}"
    );
}

#[test]
fn a_second_server_on_the_same_sqlite_file_is_refused_and_the_first_keeps_serving() {
    let server = TestServer::start();
    server.ok(&["work-pool", "create", "kept", "--type", "process"]);
    let database = format!("sqlite://{}/orch.db", server.home().display());

    let output = server.run(&[
        "server",
        "start",
        "--port",
        "0",
        "--database-url",
        &database,
    ]);

    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("another orch server is already using")
            && message.contains("orch.db")
            && message.contains("PostgreSQL"),
        "{message}"
    );
    let pools = server.json(&["work-pool", "ls"]);
    assert_eq!(
        pools[0]["name"], "kept",
        "the first server still serves: {pools}"
    );
}
