//! Security end to end with the real binaries: TLS on the one port (with a
//! certificate made here by rcgen), secrets hidden in logs and never stored
//! in clear, the defined flow environment, browser safety and the audit trail.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use orch_e2e::{Daemon, TestServer, deployment_toml, write_deploy_file};

const WAIT: Duration = Duration::from_secs(60);
const SECRET: &str = "nk-51f0c3a9e7-live";

/// A flow script printing a secret, the worker's variables and the deployment's.
fn printing_flow(dir: &Path) -> String {
    let path = dir.join("print-env.sh");
    std::fs::write(
        &path,
        "#!/bin/sh\n\
         echo \"key=$NEWSAPI_KEY\"\n\
         echo \"worker-only=${WORKER_ONLY:-unset}\"\n\
         echo \"passed=${PASSED_VAR:-unset}\"\n\
         echo \"level=${LOG_LEVEL:-unset}\"\n\
         echo \"failing with $NEWSAPI_KEY\" >&2\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

/// `orch secret set NAME` with `value` on stdin.
fn set_secret(server: &TestServer, name: &str, value: &str) {
    let mut child = server
        .command(&["secret", "set", name])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{value}").unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("Created secret"), "{stdout}");
    assert!(!stdout.contains(value), "{stdout}");
}

/// A worker on `pool` with `env`, passing only `pass_env` names to flows.
fn worker(server: &TestServer, pool: &str, env: &[(&str, &str)], pass_env: &[&str]) -> Daemon {
    let mut args = vec!["worker", "start", "--pool", pool];
    for name in pass_env {
        args.extend(["--pass-env", name]);
    }
    let mut command = server.command(&args);
    command.envs(env.iter().copied());
    let mut daemon = Daemon::spawn("worker", command, server.home());
    daemon.wait_for_line("polling pool", Duration::from_secs(30));
    daemon
}

/// The text of the run's page in the dashboard, in headless Chromium, once
/// its logs are shown.
fn dashboard_run_page(server: &TestServer, run: &str) -> String {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let browser = orch_e2e::browser::Browser::start().await;
        let base = server.url().to_string();
        browser.login(&base, &server.admin_key()).await;
        browser
            .client
            .goto(&format!("{base}/flow-runs/{run}"))
            .await
            .expect("open the run page");
        browser.wait_for_text("#logs .line", "key=***", WAIT).await;
        browser.screenshot("secret-hidden-in-run-logs").await;
        let text = browser.page_text().await;
        browser.close().await;
        text
    })
}

#[test]
fn a_secret_printed_by_a_flow_is_hidden_everywhere_and_flows_get_a_defined_environment() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let flow = printing_flow(dir.path());
    set_secret(&server, "NEWSAPI_KEY", SECRET);
    let toml = deployment_toml(
        "news",
        "prod",
        "secure-pool",
        &[&flow],
        "env = { LOG_LEVEL = \"info\" }\nsecrets = [\"NEWSAPI_KEY\"]",
    );
    let _deployed = server.deploy("secure-pool", &toml);
    let _worker = worker(
        &server,
        "secure-pool",
        &[("WORKER_ONLY", "worker-credential"), ("PASSED_VAR", "yes")],
        &["PASSED_VAR"],
    );
    let run = server.run_deployment("news/prod", &[]);
    let detail = server.wait_for_state(&run, &["COMPLETED"], WAIT);

    let messages = server.log_messages(&run);
    for expected in [
        "key=***",
        "worker-only=unset",
        "passed=yes",
        "level=info",
        "failing with ***",
    ] {
        assert!(
            messages.iter().any(|m| m == expected),
            "{expected}: {messages:?}"
        );
    }
    let text = server.ok(&["flow-run", "logs", &run]);
    assert!(text.contains("key=***") && !text.contains(SECRET), "{text}");
    let (status, body) = server.http_get(&format!("/api/flow-runs/{run}/logs"));
    assert_eq!(status, 200);
    assert!(body.contains("key=***") && !body.contains(SECRET), "{body}");
    assert!(!detail.to_string().contains(SECRET), "{detail}");
    let page = dashboard_run_page(&server, &run);
    assert!(
        page.contains("key=***") && !page.contains(SECRET),
        "the run page in the dashboard: {page}"
    );

    let inspect = server.json(&["deployment", "inspect", "news/prod"]);
    assert_eq!(inspect["secrets"][0], "NEWSAPI_KEY", "{inspect}");
    assert_eq!(inspect["env"]["LOG_LEVEL"], "info", "{inspect}");
    for shown in [
        inspect.to_string(),
        server.ok(&["deployment", "inspect", "news/prod", "--output", "table"]),
        server.ok(&["config", "view"]),
        server.ok(&["secret", "ls"]),
        server.ok(&["secret", "ls", "--output", "json"]),
        server.http_get("/api/secrets").1,
        server.http_get("/api/deployments/news/prod").1,
    ] {
        assert!(!shown.contains(SECRET), "{shown}");
    }
    assert!(server.ok(&["secret", "ls"]).contains("NEWSAPI_KEY"));

    // The database (and its write-ahead log) holds only the sealed value.
    let mut database = Vec::new();
    for file in ["orch.db", "orch.db-wal"] {
        database.extend(std::fs::read(server.home().join(file)).unwrap_or_default());
    }
    assert!(!database.is_empty());
    assert!(
        !database
            .windows(SECRET.len())
            .any(|w| w == SECRET.as_bytes()),
        "the secret is in the database file in clear"
    );
    let key = std::fs::read_to_string(server.home().join("secret.key")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(server.home().join("secret.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!((key.trim().len(), mode & 0o777), (64, 0o600));

    // Deleted: the next run fails, saying which secret to set.
    server.ok(&["secret", "delete", "NEWSAPI_KEY"]);
    let failed = server.run_deployment("news/prod", &[]);
    let detail = server.wait_for_state(&failed, &["FAILED"], WAIT);
    let message = detail["state"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("orch secret set NAME") && message.contains("NEWSAPI_KEY"),
        "{detail}"
    );
}

#[test]
fn every_line_of_a_multi_line_secret_is_hidden_in_logs() {
    const PEM: &str = "-----BEGIN PRIVATE KEY-----\n\
                       MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n\
                       -----END PRIVATE KEY-----\n";
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("key.pem");
    std::fs::write(&key_file, PEM).unwrap();
    server.ok(&[
        "secret",
        "set",
        "SIGNING_KEY",
        "--from-file",
        key_file.to_str().unwrap(),
    ]);
    set_secret(&server, "NEWSAPI_KEY", SECRET);
    let flow = dir.path().join("print-key.sh");
    std::fs::write(
        &flow,
        "#!/bin/sh\nprintf '%s\\n' \"$SIGNING_KEY\"\necho \"one-line: $NEWSAPI_KEY\"\necho done\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&flow, std::fs::Permissions::from_mode(0o755)).unwrap();
    let toml = deployment_toml(
        "keys",
        "prod",
        "key-pool",
        &[flow.to_str().unwrap()],
        "secrets = [\"SIGNING_KEY\", \"NEWSAPI_KEY\"]",
    );
    let _deployed = server.deploy("key-pool", &toml);
    let _worker = worker(&server, "key-pool", &[], &[]);
    let run = server.run_deployment("keys/prod", &[]);
    server.wait_for_state(&run, &["COMPLETED"], WAIT);

    let messages = server.log_messages(&run);
    assert_eq!(
        messages,
        ["***", "***", "***", "one-line: ***", "done"],
        "each line of the PEM key and the one-line secret are hidden"
    );
    let text = server.ok(&["flow-run", "logs", &run]);
    for line in PEM.lines().chain([SECRET]) {
        assert!(!text.contains(line), "{line:?} shown in: {text}");
    }
}

#[test]
fn deploying_a_deployment_with_an_unset_secret_says_how_to_set_it() {
    let server = TestServer::start();
    server.ok(&["work-pool", "create", "p", "--type", "process"]);
    let dir = tempfile::tempdir().unwrap();
    let toml = deployment_toml(
        "news",
        "prod",
        "p",
        &["true"],
        "secrets = [\"NEWSAPI_KEY\"]",
    );
    let path = write_deploy_file(dir.path(), "orch.toml", &toml);
    let output = server.run(&["deploy", path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("orch secret set NEWSAPI_KEY"), "{stderr}");
}

#[test]
fn forged_cross_origin_posts_and_unknown_host_names_are_refused() {
    let server = TestServer::start();
    let _deployed = server.deploy("p", &deployment_toml("f", "d", "p", &["true"], ""));
    let address = server.url().trim_start_matches("http://").to_owned();
    let raw = |head: &str, body: &str| -> String {
        use std::io::Read;
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        write!(
            stream,
            "{head}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    };
    let forged = raw(
        &format!(
            "POST /api/deployments/f/d/runs HTTP/1.1\r\nHost: {address}\r\n\
             Origin: http://evil.example\r\nContent-Type: text/plain"
        ),
        "{}",
    );
    assert!(forged.starts_with("HTTP/1.1 415"), "{forged}");
    assert!(forged.contains("application/json"), "{forged}");
    let cross = raw(
        &format!(
            "POST /api/deployments/f/d/runs HTTP/1.1\r\nHost: {address}\r\n\
             Origin: http://evil.example\r\nContent-Type: application/json"
        ),
        "{}",
    );
    assert!(cross.starts_with("HTTP/1.1 403"), "{cross}");
    let rebound = raw(
        "GET /api/flow-runs HTTP/1.1\r\nHost: rebound.evil.example:4200",
        "",
    );
    assert!(rebound.starts_with("HTTP/1.1 421"), "{rebound}");
    assert!(
        rebound.contains("--allowed-host rebound.evil.example"),
        "{rebound}"
    );
    assert!(
        server
            .json(&["flow-run", "ls"])
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn runs_and_cancels_are_audited_with_caller_and_address() {
    let server = TestServer::start();
    let _deployed = server.deploy("p", &deployment_toml("f", "d", "p", &["true"], ""));
    let run = server.run_deployment("f/d", &[]);
    server.ok(&["flow-run", "cancel", &run]);
    let records = server.json(&["audit", "ls", "--since", "1h"]);
    let actions: Vec<(&str, &str)> = records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["action"].as_str().unwrap(), r["target"].as_str().unwrap()))
        .collect();
    assert_eq!(
        &actions[..3],
        [
            ("flow-run.cancel", run.as_str()),
            ("deployment.run", "f/d"),
            ("deployment.apply", "f/d")
        ],
        "{records:#}"
    );
    for record in &records.as_array().unwrap()[..2] {
        // The CLI sends the admin key the server wrote on first start.
        assert_eq!(record["caller"], "admin", "{record}");
        assert_eq!(record["outcome"], "ok");
        assert!(
            record["address"]
                .as_str()
                .unwrap()
                .starts_with("127.0.0.1:"),
            "{record}"
        );
    }
    let (status, body) = server.http_get("/api/audit");
    assert_eq!(status, 200);
    assert!(body.contains("flow-run.cancel"), "{body}");
}

#[test]
fn tls_serves_the_cli_and_workers_and_plaintext_clients_are_told_to_use_https() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = orch_e2e::self_signed_certificate(dir.path());
    let server = TestServer::start_with(&["--tls-cert", &cert, "--tls-key", &key]);
    assert!(
        server.url().starts_with("https://127.0.0.1:"),
        "{}",
        server.url()
    );
    let with_ca = |args: &[&str]| {
        let mut command = server.command(args);
        command.env("ORCH_TLS_CA", &cert);
        command.output().unwrap()
    };
    let created = with_ca(&["work-pool", "create", "tls-pool", "--type", "process"]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let file = write_deploy_file(
        dir.path(),
        "orch.toml",
        &deployment_toml(
            "f",
            "d",
            "tls-pool",
            &[&orch_e2e::flow_program("echo.sh")],
            "",
        ),
    );
    assert!(
        with_ca(&["deploy", file.to_str().unwrap()])
            .status
            .success()
    );
    let _worker = worker(&server, "tls-pool", &[("ORCH_TLS_CA", &cert)], &[]);
    let ran = with_ca(&["deployment", "run", "f/d", "--output", "json"]);
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let run: serde_json::Value = serde_json::from_slice(&ran.stdout).unwrap();
    let run = run["id"]
        .as_str()
        .or(run["run"]["id"].as_str())
        .unwrap()
        .to_owned();
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let shown = with_ca(&["flow-run", "inspect", &run, "--output", "json"]);
        let detail: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap_or_default();
        if orch_e2e::state_type(&detail) == "COMPLETED" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{detail:#}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Without the CA: refused, saying how to trust it.
    let untrusted = server.run(&["work-pool", "ls"]);
    let stderr = String::from_utf8_lossy(&untrusted.stderr);
    assert!(!untrusted.status.success());
    assert!(stderr.contains("--tls-ca"), "{stderr}");
    // Plaintext against TLS: told to use https.
    let plain_url = server.url().replace("https://", "http://");
    let plain = server.run(&["work-pool", "ls", "--api-url", &plain_url]);
    let stderr = String::from_utf8_lossy(&plain.stderr);
    assert!(!plain.status.success());
    assert!(
        stderr.contains("takes TLS connections only: use https://"),
        "{stderr}"
    );
}

#[test]
fn a_network_bind_without_tls_is_refused_with_how_to_fix_it() {
    let home = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(orch_e2e::binary("orch"))
        .args(["server", "start", "--host", "0.0.0.0", "--port", "0"])
        .env("ORCH_HOME", home.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("--tls-cert FILE --tls-key FILE") && stderr.contains("--allow-plaintext"),
        "{stderr}"
    );
}
