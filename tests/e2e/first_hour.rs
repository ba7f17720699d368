//! The first hour of a new user, end to end with the real binary: the
//! one-time dashboard login link (`orch server start`, `orch ui`), the
//! versioned REST API, `orch --version`, shell completions, and the flow-run
//! commands a Prefect user expects (`retry`, `delete` by id and by filter).

use std::time::Duration;

use orch_e2e::{TestServer, deployment_toml, flow_program, http_get_with, http_post};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);

/// `(status, body, set-cookie)` of `POST /api/session` with `body`.
fn log_in(server: &TestServer, body: &str) -> (u16, String) {
    http_post(server.url(), "/api/session", body, None)
}

/// The one-time login link the server printed at start (just after the
/// line `TestServer` waits for).
fn printed_link(server: &TestServer) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let output = server.daemon_output();
        let link = output
            .split_whitespace()
            .find(|word| word.contains("/login?code="));
        if let Some(link) = link {
            return link.to_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no login link in the server's output:\n{output}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn code_of(link: &str) -> &str {
    link.split("code=").nth(1).expect("a code")
}

#[test]
fn the_printed_link_logs_in_once_and_orch_ui_prints_fresh_ones() {
    let server = TestServer::start();
    let link = printed_link(&server);
    assert!(
        link.starts_with(server.url()),
        "{link} is not on {}",
        server.url()
    );
    let key = server.admin_key();
    assert!(!link.contains(&key), "the link must not carry the key");
    // The login page itself is a page (it logs in with the code from the URL).
    let (status, page) = http_get_with(server.url(), "/login", None);
    assert_eq!(status, 200);
    assert!(page.contains("code"), "{page}");

    let (status, body) = log_in(&server, &format!(r#"{{"code": "{}"}}"#, code_of(&link)));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"scope\":\"admin\""), "{body}");
    // Once only.
    let (status, body) = log_in(&server, &format!(r#"{{"code": "{}"}}"#, code_of(&link)));
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("orch ui"), "{body}");
    // A token still logs in.
    let (status, body) = log_in(&server, &format!(r#"{{"token": "{key}"}}"#));
    assert_eq!(status, 200, "{body}");

    // `orch ui` makes a fresh link for the CLI's own token.
    let printed = server.ok(&["ui"]);
    let fresh = printed
        .split_whitespace()
        .find(|word| word.contains("/login?code="))
        .unwrap_or_else(|| panic!("no link in {printed}"))
        .to_owned();
    assert!(fresh.starts_with(server.url()), "{fresh}");
    assert_ne!(code_of(&fresh), code_of(&link));
    let (status, body) = log_in(&server, &format!(r#"{{"code": "{}"}}"#, code_of(&fresh)));
    assert_eq!(status, 200, "{body}");
    // A read token gets a link for itself, not for the admin.
    let reader = server.ok(&["token", "create", "viewer", "--scope", "read"]);
    let reader_key = reader
        .split_whitespace()
        .find(|word| word.starts_with("orch_"))
        .unwrap_or_else(|| panic!("no key in {reader}"))
        .to_owned();
    let output = server
        .command(&["ui"])
        .env("ORCH_API_KEY", &reader_key)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8_lossy(&output.stdout);
    let code = text
        .split("code=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    let (status, body) = log_in(&server, &format!(r#"{{"code": "{code}"}}"#));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"name\":\"viewer\""), "{body}");
    // Making a link is in the audit trail.
    let audit = server.json(&["audit", "ls"]);
    assert!(audit.to_string().contains("login-link.create"), "{audit:#}");
}

#[test]
fn the_versioned_api_answers_as_the_old_paths_do() {
    let server = TestServer::start();
    let key = server.admin_key();
    let dir = server.deploy(
        "pool",
        &deployment_toml("etl", "nightly", "pool", &[&flow_program("echo.sh")], ""),
    );
    let run = server.run_deployment("etl/nightly", &[]);
    for path in [
        "/api/flow-runs".to_owned(),
        format!("/api/flow-runs/{run}"),
        "/api/deployments/etl/nightly".to_owned(),
        "/api/work-pools".to_owned(),
        "/api/no-such-thing".to_owned(),
    ] {
        let old = http_get_with(server.url(), &path, Some(&key));
        let new = http_get_with(
            server.url(),
            &path.replacen("/api/", "/api/v1/", 1),
            Some(&key),
        );
        assert_eq!(old, new, "{path}");
    }
    let (status, body) = http_get_with(server.url(), "/api/v1/version", None);
    assert_eq!(status, 200, "{body}");
    drop(dir);
}

#[test]
fn orch_version_names_the_release_and_the_commit() {
    let output = std::process::Command::new(orch_e2e::binary("orch"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        text.starts_with(&format!("orch {version} (commit ")),
        "{text}"
    );
    let commit = text
        .trim()
        .rsplit("commit ")
        .next()
        .unwrap()
        .trim_end_matches(')');
    // Built from this git checkout: a hexadecimal commit id.
    assert!(
        commit.len() == 12 && commit.chars().all(|c| c.is_ascii_hexdigit()),
        "{text}"
    );
}

#[test]
fn completion_scripts_load_in_their_shells() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let script = server.ok(&["completions", shell]);
        assert!(script.contains("flow-run"), "{shell}: {script}");
        std::fs::write(dir.path().join(shell), &script).unwrap();
    }
    // bash: the script defines the completion, and completing `orch flow-r`
    // and `orch flow-run de` offers the commands.
    let file = dir.path().join("bash");
    let check = format!(
        "source {file} && complete -p orch && \
         COMP_WORDS=(orch flow-r) COMP_CWORD=1 COMP_LINE='orch flow-r' COMP_POINT=11 && _orch orch flow-r orch && \
         echo \"first: ${{COMPREPLY[*]}}\" && \
         COMP_WORDS=(orch flow-run de) COMP_CWORD=2 COMP_LINE='orch flow-run de' COMP_POINT=16 && _orch orch de flow-run && \
         echo \"second: ${{COMPREPLY[*]}}\"",
        file = file.display()
    );
    let output = std::process::Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &check])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        text.contains("-F _orch") && text.contains(" orch\n"),
        "{text}"
    );
    assert!(text.contains("first: flow-run"), "{text}");
    assert!(text.contains("second: delete"), "{text}");
    let bad = server.run(&["completions", "tcsh"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("bash"));
}

fn run_to_end(server: &TestServer, deployment: &str, end: &str) -> String {
    let run = server.run_deployment(deployment, &[]);
    server.wait_for_state(&run, &[end], WAIT);
    run
}

#[test]
fn flow_runs_are_retried_and_deleted_by_id_and_by_filter() {
    let server = TestServer::start();
    // Pool `idle` has no worker: its runs stay Scheduled.
    server.ok(&["work-pool", "create", "idle", "--type", "process"]);
    let toml = format!(
        "{}{}{}",
        deployment_toml(
            "etl",
            "ok",
            "pool",
            &[&flow_program("echo.sh")],
            "parameters = { day = \"mon\" }"
        ),
        deployment_toml("etl", "broken", "pool", &[&flow_program("fail.sh")], ""),
        deployment_toml("etl", "waiting", "idle", &[&flow_program("echo.sh")], ""),
    );
    let _dir = server.deploy("pool", &toml);
    let _worker = server.start_worker("pool", &[]);
    let done = run_to_end(&server, "etl/ok", "completed");

    // retry: a new run of the same deployment with the same parameters.
    let retried = server.json(&["flow-run", "retry", &done]);
    let retried_id = retried["id"].as_str().unwrap().to_owned();
    assert_ne!(retried_id, done);
    assert_eq!(retried["deployment"], "etl/ok");
    assert_eq!(retried["parameters"]["day"], "mon");
    server.wait_for_state(&retried_id, &["completed"], WAIT);
    let text = server.ok(&["flow-run", "retry", &done]);
    assert!(text.contains("Created flow run"), "{text}");

    // A run that has not finished is neither retried nor deleted.
    let scheduled = server.run_deployment("etl/waiting", &[]);
    for args in [
        vec!["flow-run", "retry", scheduled.as_str()],
        vec!["flow-run", "delete", scheduled.as_str()],
    ] {
        let output = server.run(&args);
        assert!(!output.status.success(), "{args:?}");
        let error = String::from_utf8_lossy(&output.stderr);
        assert!(error.contains("cancel it first"), "{args:?}: {error}");
    }
    // ... and deleting it with a finished one deletes neither (all or none).
    let output = server.run(&["flow-run", "delete", &done, &scheduled]);
    assert!(!output.status.success());
    server.inspect(&done);

    // delete by id.
    let deleted = server.json(&["flow-run", "delete", &done]);
    assert_eq!(deleted["runs"], 1, "{deleted:#}");
    assert_eq!(deleted["flow_runs"][0]["id"], done.as_str());
    assert!(deleted["log_lines"].is_u64(), "{deleted:#}");
    let gone = server.run(&["flow-run", "inspect", &done]);
    assert!(!gone.status.success());

    // delete by filter: failed runs older than a second; a dry run first.
    let failed: Vec<String> = (0..2)
        .map(|_| run_to_end(&server, "etl/broken", "failed"))
        .collect();
    std::thread::sleep(Duration::from_millis(1100));
    let dry = server.json(&[
        "flow-run",
        "delete",
        "--state",
        "failed",
        "--before",
        "1s",
        "--dry-run",
    ]);
    assert_eq!(dry["runs"], 2, "{dry:#}");
    assert_eq!(dry["dry_run"], true);
    for run in &failed {
        server.inspect(run);
    }
    let text = server.ok(&["flow-run", "delete", "--state", "failed", "--before", "1s"]);
    assert!(text.contains("Deleted 2 flow run(s)"), "{text}");
    assert_eq!(
        server.json(&["flow-run", "ls", "--state", "failed"]),
        Value::Array(vec![])
    );

    // Bad filters are refused with the fix, before anything is deleted.
    for (args, wanted) in [
        (
            vec!["flow-run", "delete", "--state", "running", "--before", "1d"],
            "only finished runs",
        ),
        (
            vec![
                "flow-run", "delete", "--state", "failed", "--before", "soon",
            ],
            "e.g. 30d",
        ),
        (vec!["flow-run", "delete", "--state", "failed"], "--before"),
        (vec!["flow-run", "delete"], "<ID>"),
    ] {
        let output = server.run(&args);
        assert!(!output.status.success(), "{args:?}");
        let error = String::from_utf8_lossy(&output.stderr);
        assert!(error.contains(wanted), "{args:?}: {error}");
    }
    // Deleting is for admins, and it is audited.
    let reader = server.ok(&["token", "create", "viewer", "--scope", "operate"]);
    let reader_key = reader
        .split_whitespace()
        .find(|word| word.starts_with("orch_"))
        .unwrap()
        .to_owned();
    let output = server
        .command(&["flow-run", "delete", &retried_id])
        .env("ORCH_API_KEY", &reader_key)
        .output()
        .unwrap();
    assert!(!output.status.success());
    server.inspect(&retried_id);
    let audit = server.json(&["audit", "ls"]).to_string();
    assert!(audit.contains("flow-run.delete"), "{audit}");
    assert!(audit.contains("flow-run.retry"), "{audit}");
}
