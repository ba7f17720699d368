//! Authentication end to end, with the real binaries: zero set-up on one
//! machine, worker tokens held to their pools, per-run credentials held to
//! their run and its lifetime, revocation seen at once by a second replica.

use std::path::Path;
use std::time::{Duration, Instant};

use orch_e2e::{Daemon, TestServer, deployment_toml};
use orch_proto::v1 as pb;
use orch_proto::v1::flow_run_service_client::FlowRunServiceClient;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);

/// `orch token create NAME ARGS.. --output json` on `server`; returns the key.
fn create_token(server: &TestServer, name: &str, args: &[&str]) -> String {
    let mut all = vec!["token", "create", name];
    all.extend_from_slice(args);
    let created = server.json(&all);
    let key = created["api_key"].as_str().expect("a key").to_string();
    assert!(key.starts_with("orch_"), "{created}");
    key
}

/// Runs `orch ARGS` on `server` with `key` instead of the credentials file.
fn with_key(server: &TestServer, key: &str, args: &[&str]) -> std::process::Output {
    server
        .command(args)
        .env("ORCH_API_KEY", key)
        .output()
        .expect("run orch")
}

fn text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn the_server_writes_an_admin_key_on_first_start_and_refuses_callers_without_one() {
    let server = TestServer::start();
    let file = server.home().join("credentials");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "the credentials file is private");
    assert!(
        server.daemon_output().contains("created the admin API key"),
        "{}",
        server.daemon_output()
    );
    // The CLI of the same home needs no flag.
    server.ok(&["work-pool", "ls"]);
    // Another home (another user) has no key: refused, with what to do.
    let home = tempfile::tempdir().unwrap();
    let output = server
        .command(&["work-pool", "ls"])
        .env("ORCH_HOME", home.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        text(&output).contains("authentication required"),
        "{}",
        text(&output)
    );
    // Probes stay open; the API and metrics do not.
    assert_eq!(orch_e2e::http_get(server.url(), "/healthz").0, 200);
    assert_eq!(orch_e2e::http_get(server.url(), "/api/flow-runs").0, 401);
    assert_eq!(orch_e2e::http_get(server.url(), "/metrics").0, 401);
    assert_eq!(server.http_get("/metrics").0, 200);
}

#[test]
fn a_worker_token_for_pool_a_cannot_register_or_claim_for_pool_b() {
    let server = TestServer::start();
    let dir = server.deploy(
        "pool-a",
        &deployment_toml("f", "a", "pool-a", &["true"], ""),
    );
    server.ok(&["work-pool", "create", "pool-b", "--type", "process"]);
    let key = create_token(
        &server,
        "worker-a",
        &["--scope", "worker", "--pool", "pool-a"],
    );

    // For pool B it is refused at registration, with a message saying why.
    let mut command = server.command(&["worker", "start", "--pool", "pool-b"]);
    command.env("ORCH_API_KEY", &key);
    let output = command.output().expect("run the worker");
    assert!(!output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains("serves pool(s) pool-a only"),
        "{}",
        text(&output)
    );

    // For pool A it works: it claims and finishes a run there.
    let _worker = server.start_worker_with_env("pool-a", &[], &[("ORCH_API_KEY", &key)]);
    let run = server.run_deployment("f/a", &[]);
    server.wait_for_state(&run, &["COMPLETED"], WAIT);

    // A worker token reads nothing else.
    let output = with_key(&server, &key, &["flow-run", "ls"]);
    assert!(!output.status.success());
    assert!(
        text(&output).contains("needs the read scope"),
        "{}",
        text(&output)
    );
    drop(dir);
}

/// Waits (bounded) until `path` exists; returns its trimmed content.
fn wait_for_file(path: &Path) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && text.ends_with('\n')
        {
            return text.trim().to_string();
        }
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn write_log(url: &str, key: &str, run_id: &str) -> Result<(), tonic::Status> {
    let channel = tonic::transport::Endpoint::from_shared(url.to_string())
        .unwrap()
        .connect()
        .await
        .expect("connect");
    let channel = orch_proto::credentials::with_credentials(channel, url, Some(key));
    let line = pb::LogLine {
        flow_run_id: run_id.to_string(),
        emitter: "intruder".into(),
        seq: 1,
        timestamp_micros: chrono::Utc::now().timestamp_micros(),
        stream: "stdout".into(),
        level: "info".into(),
        message: "planted".into(),
        ..Default::default()
    };
    FlowRunServiceClient::new(channel)
        .write_logs(pb::WriteLogsRequest { lines: vec![line] })
        .await
        .map(|_| ())
}

#[test]
fn a_run_credential_writes_to_its_own_run_only_and_stops_when_the_run_ends() {
    let server = TestServer::start();
    let shared = tempfile::tempdir().unwrap();
    let key_file = shared.path().join("key");
    let go = shared.path().join("go");
    let script = format!(
        "printf '%s\\n' \"$ORCH_API_KEY\" > {}; while [ ! -e {} ]; do sleep 0.05; done",
        key_file.display(),
        go.display()
    );
    let _dir = server.deploy(
        "pool",
        &(deployment_toml("f", "holder", "pool", &["sh", "-c", &script], "")
            + &deployment_toml("f", "other", "pool", &["true"], "")),
    );
    let other = server.run_deployment("f/other", &[]);
    let _worker: Daemon = server.start_worker("pool", &[]);
    server.wait_for_state(&other, &["COMPLETED"], WAIT);
    let run = server.run_deployment("f/holder", &[]);
    let key = wait_for_file(&key_file);
    assert!(
        key.starts_with("orch_"),
        "the flow got its own credential: {key:?}"
    );
    assert_ne!(key, server.admin_key(), "never the worker's key");

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime
        .block_on(write_log(server.url(), &key, &run))
        .expect("a run may write its own logs");
    let refused = runtime
        .block_on(write_log(server.url(), &key, &other))
        .expect_err("not another run's");
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused:?}");
    let output = with_key(&server, &key, &["flow-run", "ls"]);
    assert!(!output.status.success(), "nor read other runs");

    std::fs::write(&go, "").unwrap();
    server.wait_for_state(&run, &["COMPLETED"], WAIT);
    let ended = runtime
        .block_on(write_log(server.url(), &key, &run))
        .expect_err("refused once the run has ended");
    assert_eq!(ended.code(), tonic::Code::Unauthenticated, "{ended:?}");
    assert!(ended.message().contains("run has ended"), "{ended:?}");
    let logs: Value = server.json(&["flow-run", "logs", &other]);
    assert!(!logs.to_string().contains("planted"), "{logs}");
}

#[test]
fn a_revoked_token_is_refused_at_once_with_the_token_cache_on_or_off() {
    for seconds in ["3600", "0"] {
        let server = TestServer::start_with(&["--token-cache-seconds", seconds]);
        let key = create_token(&server, "ci", &["--scope", "read"]);
        for _ in 0..2 {
            let output = with_key(&server, &key, &["flow-run", "ls"]);
            assert!(output.status.success(), "{}", text(&output));
        }
        server.ok(&["token", "revoke", "ci"]);
        let output = with_key(&server, &key, &["flow-run", "ls"]);
        assert!(
            !output.status.success(),
            "refused at once (cache {seconds} s)"
        );
        assert!(text(&output).contains("was revoked"), "{}", text(&output));
    }
}

/// With a token cache that would keep the key an hour: only the revocation's
/// notification, sent by the revoking transaction, can end the other
/// replica's entry.
#[test]
fn a_revoked_token_is_refused_at_once_also_by_a_second_replica_on_postgresql() {
    let database = orch_testkit::TestDatabase::postgres();
    let cache = ["--token-cache-seconds", "3600"];
    let first = TestServer::start_on(database.url(), &cache);
    let second = TestServer::start_on(database.url(), &cache);
    let key = create_token(&first, "ci", &["--scope", "read", "--expires", "30d"]);
    for server in [&first, &second] {
        let output = with_key(server, &key, &["flow-run", "ls"]);
        assert!(output.status.success(), "{}", text(&output));
    }
    let listed = first.json(&["token", "ls"]);
    let ci = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "ci")
        .expect("listed");
    assert_eq!(ci["scope"], "read");
    assert!(ci["expires_at"].is_string(), "{ci}");
    assert!(!listed.to_string().contains(&key), "ls never shows a key");

    first.ok(&["token", "revoke", "ci"]);
    for server in [&second, &first] {
        let output = with_key(server, &key, &["flow-run", "ls"]);
        assert!(!output.status.success(), "refused at once");
        assert!(text(&output).contains("was revoked"), "{}", text(&output));
    }
    // A read token may read but not operate.
    let reader = create_token(&second, "reader", &["--scope", "read"]);
    let output = with_key(
        &first,
        &reader,
        &["work-pool", "create", "x", "--type", "process"],
    );
    assert!(
        text(&output).contains("needs the admin scope"),
        "{}",
        text(&output)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_trades_a_token_for_a_session_hides_what_it_may_not_do_and_logs_out() {
    use fantoccini::Locator;
    use orch_e2e::browser::Browser;
    const PAGE: Duration = Duration::from_secs(15);
    let server = TestServer::start();
    let _dir = server.deploy("pool", &deployment_toml("f", "d", "pool", &["true"], ""));
    let reader = create_token(&server, "viewer", &["--scope", "read"]);
    let base = server.url().to_string();
    let browser = Browser::start().await;
    let client = &browser.client;

    // No session: the page sends the visitor to log in.
    client.goto(&format!("{base}/deployments")).await.unwrap();
    browser
        .wait_until(
            "the login page",
            "return location.pathname === '/login';",
            PAGE,
        )
        .await;
    client
        .find(Locator::Css("#token"))
        .await
        .unwrap()
        .send_keys("orch_0123456789abcdef_wrong")
        .await
        .unwrap();
    browser.click("#login-submit", "the login button").await;
    browser
        .wait_for_text("#login-error", "not valid", PAGE)
        .await;
    browser.screenshot("login-refused").await;

    // A read session sees deployments but no Run or Pause button.
    browser.login(&base, &reader).await;
    client.goto(&format!("{base}/deployments")).await.unwrap();
    browser
        .wait_for_text("[data-deployment]", "f/d", PAGE)
        .await;
    browser
        .wait_until(
            "the Run button hidden from a read session",
            "const b = document.querySelector('[data-run]'); return !!b && getComputedStyle(b).display === 'none';",
            PAGE,
        )
        .await;
    browser
        .wait_for_text("#whoami", "viewer (read)", PAGE)
        .await;
    browser.screenshot("read-session").await;

    // The cookie is HttpOnly and SameSite=Strict; a cross-site POST with it is refused.
    let cookie = client
        .get_named_cookie("orch_session")
        .await
        .expect("a session cookie");
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(
        format!("{:?}", cookie.same_site()),
        "Some(Strict)",
        "SameSite=Strict"
    );
    let host = base.trim_start_matches("http://");
    let forged = reqwest::Client::new()
        .post(format!("{base}/api/deployments/f/d/runs"))
        .header("cookie", format!("orch_session={}", cookie.value()))
        .header("origin", "http://evil.example")
        // JSON, so that the cross-origin check (not the JSON-only one) refuses it.
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403, "{}", forged.text().await.unwrap());
    let same_origin_but_read = reqwest::Client::new()
        .post(format!("{base}/api/deployments/f/d/runs"))
        .header("cookie", format!("orch_session={}", cookie.value()))
        .header("origin", format!("http://{host}"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(
        same_origin_but_read.status(),
        403,
        "a read session may not run"
    );

    // Logging out ends the session: the pages ask to log in again.
    browser.click("#logout", "the logout button").await;
    browser
        .wait_until(
            "back at the login page",
            "return location.pathname === '/login';",
            PAGE,
        )
        .await;
    let after = reqwest::Client::new()
        .get(format!("{base}/api/flow-runs"))
        .header("cookie", format!("orch_session={}", cookie.value()))
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 401, "the old cookie is dead");
    browser.close().await;
}
