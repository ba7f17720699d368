//! The `orch` binary as a user runs it, without a server.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};

/// `orch` with a clean environment: no settings leak in from the machine running the tests.
fn orch(home: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_orch"));
    for variable in [
        "ORCH_API_URL",
        "ORCH_HOST",
        "ORCH_PORT",
        "ORCH_DATABASE_URL",
        "ORCH_LOG",
    ] {
        command.env_remove(variable);
    }
    command.env("ORCH_HOME", home).env("NO_COLOR", "1");
    command
}

fn run(command: &mut Command) -> (Output, String, String) {
    let output = command.output().expect("orch runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stdout, stderr)
}

/// A loopback URL where nothing listens.
fn closed_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let port = listener.local_addr().expect("local address").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

#[test]
fn help_lists_the_command_groups() {
    let home = tempfile::tempdir().unwrap();
    let (output, stdout, _) = run(orch(home.path()).arg("--help"));
    assert!(output.status.success());
    for group in [
        "server",
        "worker",
        "work-pool",
        "deploy",
        "deployment",
        "flow",
        "flow-run",
        "config",
    ] {
        assert!(
            stdout
                .lines()
                .any(|line| line.trim_start().starts_with(group)),
            "`{group}` missing from:\n{stdout}"
        );
    }
}

#[test]
fn deployment_run_help_documents_param() {
    let home = tempfile::tempdir().unwrap();
    let (output, stdout, _) = run(orch(home.path()).args(["deployment", "run", "--help"]));
    assert!(output.status.success());
    assert!(stdout.contains("--param <KEY=VALUE>"), "{stdout}");
    assert!(stdout.contains("--params <JSON>"), "{stdout}");
    assert!(stdout.contains("--watch"), "{stdout}");
}

#[test]
fn a_malformed_param_fails_before_contacting_the_server() {
    let home = tempfile::tempdir().unwrap();
    let url = closed_url();
    let (output, _, stderr) = run(orch(home.path()).args([
        "deployment",
        "run",
        "a/b",
        "--param",
        "nokey",
        "--api-url",
        &url,
    ]));
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains("KEY=VALUE"), "{stderr}");
    assert!(!stderr.contains("cannot reach"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn malformed_params_json_fails_with_usage_exit_code() {
    let home = tempfile::tempdir().unwrap();
    let url = closed_url();
    let (output, _, stderr) = run(orch(home.path()).args([
        "deployment",
        "run",
        "a/b",
        "--params",
        "[1, 2]",
        "--api-url",
        &url,
    ]));
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--params"), "{stderr}");
    assert!(!stderr.contains("cannot reach"), "{stderr}");
}

#[test]
fn a_deploy_file_error_names_the_file_line_and_field() {
    let home = tempfile::tempdir().unwrap();
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("bad.toml");
    std::fs::write(
        &file,
        "[[deployments]]\n\
         flow = \"etl\"\n\
         name = \"daily\"\n\
         entripoint = [\"python\", \"etl.py\"]\n\
         work_pool = \"default\"\n",
    )
    .unwrap();
    let url = closed_url();
    let (output, _, stderr) = run(orch(home.path())
        .args(["deploy", "--api-url", &url])
        .arg(&file));
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains("bad.toml:4:"), "{stderr}");
    assert!(stderr.contains("entripoint"), "{stderr}");
    assert!(!stderr.contains("cannot reach"), "{stderr}");
}

#[test]
fn a_missing_deploy_file_is_one_clear_line() {
    let home = tempfile::tempdir().unwrap();
    let folder = tempfile::tempdir().unwrap();
    let (output, _, stderr) = run(orch(home.path()).current_dir(folder.path()).arg("deploy"));
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error: cannot read deploy/orch.toml: no such file"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn client_commands_report_an_unreachable_server_in_one_line() {
    let home = tempfile::tempdir().unwrap();
    let url = closed_url();
    let commands: &[&[&str]] = &[
        &["server", "status"],
        &["work-pool", "ls"],
        &["work-pool", "create", "default", "--type", "process"],
        &["deployment", "ls"],
        &["deployment", "run", "etl/daily", "--param", "n=1"],
        &["flow", "ls"],
        &["flow-run", "ls"],
        &["flow-run", "logs", "0199"],
        &["worker", "ls"],
    ];
    for args in commands {
        let (output, _, stderr) = run(orch(home.path()).args(*args).args(["--api-url", &url]));
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        let expected = format!("error: cannot reach the orch server at {url}: ");
        assert!(stderr.starts_with(&expected), "{args:?}: {stderr}");
        assert!(
            stderr.contains("Start it with 'orch server start' or set --api-url / ORCH_API_URL"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn the_api_url_can_come_from_the_environment() {
    let home = tempfile::tempdir().unwrap();
    let url = closed_url();
    let (output, _, stderr) = run(orch(home.path())
        .env("ORCH_API_URL", &url)
        .args(["flow", "ls"]));
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot reach the orch server at {url}")),
        "{stderr}"
    );
}

#[test]
fn several_api_urls_are_tried_in_turn_and_each_named_when_none_answers() {
    let home = tempfile::tempdir().unwrap();
    let first = closed_url();
    let second = std::iter::repeat_with(closed_url)
        .find(|url| *url != first)
        .unwrap();
    let (output, _, stderr) =
        run(orch(home.path()).args(["flow", "ls", "--api-url", &first, "--api-url", &second]));
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "error: cannot reach any of the orch servers: {first}: connection refused; \
             {second}: connection refused. Start one with 'orch server start' or fix \
             --api-url / ORCH_API_URL"
        )),
        "{stderr}"
    );
    // A repeated flag and a comma-separated list are the same setting.
    let (output, stdout, stderr) = run(orch(home.path()).args([
        "config",
        "view",
        "--output",
        "json",
        "--api-url",
        "a:1,b:2",
        "--api-url",
        "http://c:3/",
    ]));
    assert!(output.status.success(), "{stderr}");
    let view: serde_json::Value = serde_json::from_str(&stdout).expect("JSON output");
    assert_eq!(view["api_url"]["value"], "http://a:1,http://b:2,http://c:3");
    assert_eq!(view["api_url"]["source"], "flag");
}

#[test]
fn config_view_reports_where_each_setting_came_from() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("config.toml"), "port = 5555\n").unwrap();
    let (output, stdout, stderr) = run(orch(home.path())
        .env("ORCH_API_URL", "http://10.1.2.3:4200")
        .args(["config", "view", "--output", "json"]));
    assert!(output.status.success(), "{stderr}");
    let view: serde_json::Value = serde_json::from_str(&stdout).expect("JSON output");
    assert_eq!(view["api_url"]["value"], "http://10.1.2.3:4200");
    assert_eq!(view["api_url"]["source"], "env");
    assert_eq!(view["port"]["value"], 5555);
    assert_eq!(view["port"]["source"], "config file");
    assert_eq!(view["host"]["value"], "127.0.0.1");
    assert_eq!(view["host"]["source"], "default");
    assert_eq!(view["database_url"]["source"], "default");
    assert_eq!(view["config_file"]["exists"], true);
}

#[test]
fn config_view_reports_the_server_worker_and_client_settings_with_their_defaults() {
    let home = tempfile::tempdir().unwrap();
    let file = "[worker]\npoll_seconds = 0.5\n[server]\nworker_lease_seconds = 60\n";
    std::fs::write(home.path().join("config.toml"), file).unwrap();
    let (output, stdout, stderr) = run(orch(home.path())
        .env("ORCH_WORKER_HEARTBEAT_SECONDS", "2")
        .args(["config", "view", "--output", "json"]));
    assert!(output.status.success(), "{stderr}");
    let view: serde_json::Value = serde_json::from_str(&stdout).expect("JSON output");
    let expected = serde_json::json!([
        ["worker.poll_seconds", 0.5, "config file"],
        ["worker.heartbeat_seconds", 2, "env"],
        ["server.worker_lease_seconds", 60, "config file"],
        ["server.late_after_seconds", 15, "default"],
        ["server.token_cache_seconds", 10, "default"],
        ["worker.kill_grace_seconds", 10, "default"],
        ["client.request_timeout_seconds", 30, "default"],
    ]);
    for row in expected.as_array().unwrap() {
        let name = row[0].as_str().unwrap();
        assert_eq!(view[name]["value"], row[1], "{name}: {stdout}");
        assert_eq!(view[name]["source"], row[2], "{name}: {stdout}");
    }
}

#[test]
fn a_flag_beats_the_environment_in_config_view() {
    let home = tempfile::tempdir().unwrap();
    let (output, stdout, stderr) = run(orch(home.path())
        .env("ORCH_API_URL", "http://from-env:1")
        .args(["config", "view", "--api-url", "http://from-flag:2"]));
    assert!(output.status.success(), "{stderr}");
    let api_url = stdout
        .lines()
        .find(|line| line.starts_with("api_url"))
        .expect("an api_url row");
    assert!(api_url.contains("http://from-flag:2"), "{stdout}");
    assert!(api_url.trim_end().ends_with("flag"), "{stdout}");
}

#[test]
fn a_broken_config_file_points_at_its_line() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("config.toml"), "port = 5555\nprot = 1\n").unwrap();
    let (output, _, stderr) = run(orch(home.path()).args(["config", "view"]));
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("config.toml:2:1: unknown field `prot`"),
        "{stderr}"
    );
}

#[test]
fn a_deployment_without_a_slash_is_a_usage_error() {
    let home = tempfile::tempdir().unwrap();
    let (output, _, stderr) = run(orch(home.path()).args(["deployment", "inspect", "etl"]));
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("expected FLOW/NAME"), "{stderr}");
}

#[test]
fn a_bad_schedule_is_refused_before_any_server_is_contacted() {
    let home = tempfile::tempdir().unwrap();
    let url = closed_url();
    let (output, _, stderr) = run(orch(home.path()).args([
        "--api-url",
        &url,
        "deployment",
        "schedule",
        "create",
        "trading-flow/trading-production",
        "--cron",
        "*/15 9-15 * * 1-5",
        "--timezone",
        "America/NewYork",
    ]));
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with("error: `timezone` \"America/NewYork\" is not an IANA time zone"),
        "{stderr}"
    );
    assert!(
        stderr.contains("did you mean \"America/New_York\""),
        "{stderr}"
    );
    assert!(!stderr.contains("cannot reach"), "{stderr}");

    let (output, _, stderr) = run(orch(home.path()).args([
        "--api-url",
        &url,
        "deployment",
        "schedule",
        "create",
        "trading-flow/trading-production",
    ]));
    assert_eq!(
        output.status.code(),
        Some(2),
        "a kind is required: {stderr}"
    );
}
