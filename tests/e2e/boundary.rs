//! The boundary between clients (issue 21), with the real binaries: a flood
//! of bad keys locks nobody out, gRPC answers only for known host names
//! (over HTTP/1.1 and h2c), refusals and an admin's state change are in
//! `orch audit ls`, and the dashboard's buttons work over TLS with HTTP/2.

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use orch_e2e::{TestServer, deployment_toml};
use orch_proto::v1 as pb;
use orch_proto::v1::deployment_service_client::DeploymentServiceClient;
use orch_proto::v1::flow_run_service_client::FlowRunServiceClient;

const WAIT: Duration = Duration::from_secs(60);

/// Sends `head` (request line and headers) and `body` over a new HTTP/1.1
/// connection; returns the whole answer.
fn raw_http1(address: &str, head: &str, body: &[u8]) -> String {
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "{head}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

/// One gRPC frame: no compression, the length, the message.
fn grpc_frame(message: &impl prost::Message) -> Vec<u8> {
    let body = message.encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    frame
}

/// A deployment running `sh -c SCRIPT`, as a request would register it.
fn shell_deployment(script: &str) -> pb::ApplyDeploymentsRequest {
    pb::ApplyDeploymentsRequest {
        deployments: vec![pb::DeploymentSpec {
            flow: "rebound".into(),
            name: "shell".into(),
            entrypoint: vec!["sh".into(), "-c".into(), script.into()],
            work_pool: "default".into(),
            base_dir: "/tmp".into(),
            ..Default::default()
        }],
    }
}

/// A gRPC channel over h2c to `url` whose requests name `authority`.
async fn channel(url: &str, authority: &str) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(url.to_owned())
        .unwrap()
        .origin(format!("http://{authority}").parse().unwrap())
        .connect()
        .await
        .expect("connect over h2c")
}

#[test]
fn a_foreign_host_is_refused_for_grpc_on_a_no_auth_server_over_http1_and_h2c() {
    let server = TestServer::start_with(&["--no-auth"]);
    server.ok(&["work-pool", "create", "default", "--type", "process"]);
    let address = server.url().trim_start_matches("http://").to_owned();
    let path = "/orch.v1.DeploymentService/ApplyDeployments";
    let body = grpc_frame(&shell_deployment("echo pwned"));

    let answer = raw_http1(
        &address,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: evil.example:4200\r\nContent-Type: application/grpc\r\nTE: trailers"
        ),
        &body,
    );
    assert!(answer.starts_with("HTTP/1.1 421"), "{answer}");
    assert!(answer.contains("--allowed-host evil.example"), "{answer}");

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let url = server.url().to_owned();
    let (refused, allowed) = runtime.block_on(async {
        let refused = DeploymentServiceClient::new(channel(&url, "evil.example:4200").await)
            .apply_deployments(shell_deployment("echo pwned"))
            .await;
        // The same call naming the server's own address is answered: the
        // refusal above is the host's doing.
        let allowed = DeploymentServiceClient::new(channel(&url, &address).await)
            .apply_deployments(shell_deployment("true"))
            .await;
        (refused, allowed)
    });
    let refused = refused.expect_err("a foreign :authority over h2c is refused");
    assert!(refused.message().contains("421"), "{refused:?}");
    allowed.expect("the server's own address is answered");
    let deployments = server.json(&["deployment", "ls"]);
    let commands: Vec<String> = deployments
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["entrypoint"].to_string())
        .collect();
    assert!(
        commands.iter().all(|c| !c.contains("pwned")),
        "no deployment came from the foreign host: {deployments:#}"
    );
}

/// The id part of an orch key.
fn key_id(key: &str) -> &str {
    orch_store::key_id(key).expect("an orch key")
}

/// Bad keys from 127.0.0.1 for `within`, on `threads` connections: keys
/// with the admin key's id and a wrong secret, keys of unknown ids, and
/// text that is no key, over REST and gRPC paths. Returns how many were sent.
fn flood(base: &str, admin_key: &str, within: Duration, threads: usize) -> usize {
    let sent = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let id = key_id(admin_key).to_owned();
    let tasks: Vec<_> = (0..threads)
        .map(|thread| {
            let (sent, stop, base, id) = (sent.clone(), stop.clone(), base.to_owned(), id.clone());
            runtime.spawn(async move {
                let client = reqwest::Client::new();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let key = match n % 3 {
                        0 => format!("orch_{id}_guess{thread}x{n}"),
                        1 => format!("orch_{:016x}_nope", n * 16 + thread as u64),
                        _ => "not-a-key".to_owned(),
                    };
                    let request = if n.is_multiple_of(2) {
                        client.get(format!("{base}/api/flow-runs"))
                    } else {
                        client
                            .post(format!("{base}/orch.v1.WorkerService/Heartbeat"))
                            .header("content-type", "application/grpc")
                            .body(vec![0u8; 5])
                    };
                    if request
                        .header("authorization", format!("Bearer {key}"))
                        .send()
                        .await
                        .is_ok()
                    {
                        sent.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(within);
    stop.store(true, Ordering::Relaxed);
    runtime.block_on(async {
        for task in tasks {
            task.await.unwrap();
        }
    });
    sent.load(Ordering::Relaxed)
}

#[test]
fn a_60_s_flood_of_bad_keys_leaves_a_50_s_run_completed_and_the_admin_cli_answering() {
    let server = TestServer::start();
    let _deployed = server.deploy(
        "p",
        &deployment_toml("f", "sleeper", "p", &["sh", "-c", "sleep 50"], ""),
    );
    let _worker = server.start_worker("p", &[]);
    let run = server.run_deployment("f/sleeper", &[]);
    server.wait_for_state(&run, &["RUNNING"], WAIT);

    let base = server.url().to_owned();
    let admin = server.admin_key();
    let flooding = std::thread::spawn(move || flood(&base, &admin, Duration::from_secs(60), 4));
    // The admin CLI answers every call during the flood.
    let started = Instant::now();
    let mut calls = 0;
    while !flooding.is_finished() {
        let output = server.run(&["flow-run", "ls"]);
        assert!(
            output.status.success(),
            "the admin CLI was refused after {:?} of flood: {}",
            started.elapsed(),
            String::from_utf8_lossy(&output.stderr)
        );
        calls += 1;
        std::thread::sleep(Duration::from_secs(2));
    }
    let sent = flooding.join().unwrap();
    assert!(sent > 1000, "the flood sent only {sent} requests");
    assert!(calls > 10, "only {calls} CLI calls during the flood");
    let detail = server.wait_for_state(&run, &["COMPLETED", "CRASHED", "FAILED"], WAIT);
    assert_eq!(
        orch_e2e::state_type(&detail).to_uppercase(),
        "COMPLETED",
        "{detail:#}"
    );
    // The flood is in the audit trail, coalesced.
    let records = server.json(&["audit", "ls", "--since", "1h", "--limit", "1000"]);
    let refused = records
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "request.refused")
        .count();
    eprintln!(
        "flood: {sent} bad-key requests in 60 s, {calls} admin CLI calls answered, \
         {refused} audit records of refusals"
    );
    assert!(refused > 0, "{records:#}");
    assert!(
        refused < sent / 10,
        "{sent} refusals made {refused} audit records"
    );
}

#[test]
fn refusals_and_an_admin_state_change_appear_in_orch_audit_ls() {
    let server = TestServer::start();
    let _deployed = server.deploy("p", &deployment_toml("f", "d", "p", &["true"], ""));
    let run = server.run_deployment("f/d", &[]);
    // A bad key, and a read token asking for an admin call.
    let bad = "orch_0123456789abcdef_wrong";
    let output = server
        .command(&["flow-run", "ls"])
        .env("ORCH_API_KEY", bad)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let created = server.json(&["token", "create", "viewer", "--scope", "read"]);
    let read_key = created["api_key"].as_str().expect("the new key").to_owned();
    let output = server
        .command(&["token", "ls"])
        .env("ORCH_API_KEY", &read_key)
        .output()
        .unwrap();
    assert!(!output.status.success());
    // An admin marks the run Cancelled by hand (the runtime protocol's call).
    let url = server.url().to_owned();
    let admin = server.admin_key();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime
        .block_on(async {
            let channel = tonic::transport::Endpoint::from_shared(url.clone())
                .unwrap()
                .connect()
                .await
                .expect("connect");
            let channel = orch_proto::credentials::with_credentials(channel, &url, Some(&admin));
            FlowRunServiceClient::new(channel)
                .set_flow_run_state(pb::SetFlowRunStateRequest {
                    flow_run_id: run.clone(),
                    state: Some(pb::State {
                        r#type: pb::StateType::Cancelled as i32,
                        message: "by hand".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .await
        })
        .expect("the admin sets the state");

    let deadline = Instant::now() + WAIT;
    let records = loop {
        let records = server.json(&["audit", "ls", "--since", "1h"]);
        let list = records.as_array().unwrap().clone();
        let has = |f: &dyn Fn(&serde_json::Value) -> bool| list.iter().any(f);
        if has(&|r| r["caller"] == format!("key {}", key_id(bad)))
            && has(&|r| r["caller"] == "viewer" && r["outcome"] == "permission_denied")
            && has(&|r| r["action"] == "flow-run.set-state")
        {
            break list;
        }
        assert!(Instant::now() < deadline, "not all recorded: {records:#}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let find =
        |f: &dyn Fn(&serde_json::Value) -> bool| records.iter().find(|r| f(r)).cloned().unwrap();
    let bad_key = find(&|r| r["caller"] == format!("key {}", key_id(bad)));
    assert_eq!(bad_key["action"], "request.refused", "{bad_key}");
    assert_eq!(bad_key["outcome"], "unauthenticated", "{bad_key}");
    assert_eq!(bad_key["address"], "127.0.0.1", "{bad_key}");
    assert!(
        bad_key["target"].as_str().unwrap().contains("ListFlowRuns"),
        "{bad_key}"
    );
    let by_hand = find(&|r| r["action"] == "flow-run.set-state");
    assert_eq!(by_hand["caller"], "admin", "{by_hand}");
    assert_eq!(
        by_hand["target"],
        format!("{run} -> CANCELLED"),
        "{by_hand}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_run_button_works_over_tls_with_http2() {
    use fantoccini::Locator;
    use orch_e2e::browser::Browser;
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = orch_e2e::self_signed_certificate(dir.path());
    let server = TestServer::start_with(&["--tls-cert", &cert, "--tls-key", &key]);
    let base = server.url().to_string();
    assert!(base.starts_with("https://"), "{base}");
    let with_ca = |args: &[&str]| {
        let output = server
            .command(args)
            .env("ORCH_TLS_CA", &cert)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    with_ca(&["work-pool", "create", "web", "--type", "process"]);
    let deploy = orch_e2e::write_deploy_file(
        dir.path(),
        "orch.toml",
        &deployment_toml("f", "d", "web", &["true"], ""),
    );
    with_ca(&["deploy", &deploy.display().to_string()]);
    let _worker = server.start_worker_with_env("web", &[], &[("ORCH_TLS_CA", &cert)]);

    let browser = Browser::start_with(&["--ignore-certificate-errors"]).await;
    browser.login(&base, &server.admin_key()).await;
    let client = &browser.client;
    client.goto(&format!("{base}/deployments")).await.unwrap();
    browser
        .wait_for_text("[data-deployment='f/d'] h2", "f/d", WAIT)
        .await;
    browser
        .wait_until(
            "the page to be served over HTTP/2",
            "return performance.getEntriesByType('navigation')[0].nextHopProtocol === 'h2';",
            WAIT,
        )
        .await;
    browser.click("[data-run='f/d']", "Run button").await;
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("#run-submit"))
        .await
        .expect("the run form")
        .click()
        .await
        .expect("submit the form");
    browser
        .wait_until(
            "navigation to the new run's page",
            "return location.pathname.startsWith('/flow-runs/');",
            WAIT,
        )
        .await;
    browser
        .wait_for_text("#run-state .badge", "Completed", WAIT)
        .await;
    browser.screenshot("run-over-tls-http2").await;
    browser.close().await;
}
