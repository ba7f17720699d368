//! Automations under careless or hostile input: a chain that triggers
//! itself stops, a receiver that never answers delays no other, and
//! placeholders read only secrets and the server variables it allows.

use std::io::Read;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use orch_e2e::receivers::HttpReceiver;
use orch_e2e::{TestServer, deployment_toml, flow_program, write_deploy_file};

use super::{TESTFLOWS, WAIT, history, wait_for_automation};

pub(super) fn runs_of(server: &TestServer, deployment: &str) -> usize {
    server
        .json(&[
            "flow-run",
            "ls",
            "--deployment",
            deployment,
            "--limit",
            "1000",
        ])
        .as_array()
        .map_or(0, Vec::len)
}

#[test]
fn an_automation_running_its_own_deployment_stops_at_its_first_repeat() {
    let server = TestServer::start();
    let toml = format!(
        "{}\n{}",
        deployment_toml("loop", "self", "pool", &[&flow_program("echo.sh")], ""),
        r#"[[automations]]
name = "again"
trigger = { type = "run-state", states = ["Completed"], deployments = ["loop/self"] }
actions = [ { type = "run-deployment", deployment = "loop/self" } ]
"#
    );
    let _dir = server.deploy("pool", &toml);
    let _worker = server.start_worker("pool", &[]);
    server.run_deployment("loop/self", &[]);

    // The first run fires it: one run is made. That run fires it again, on
    // a run it led to: suppressed, with the reason.
    let automation = wait_for_automation(&server, "again", |a| a["loop_suppressed"] == 1);
    let message = automation["loop_message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with(
            "automation loop stopped: \"again\" would fire again on a run it led to (chain again -> again)"
        ) && message.contains("narrow its trigger"),
        "{automation:#}"
    );
    assert!(
        automation["loop_suppressed_at"].is_string(),
        "{automation:#}"
    );
    assert_eq!(
        (&automation["delivered"], &automation["failed"]),
        (&serde_json::json!(1), &serde_json::json!(0)),
        "{automation:#}"
    );
    let stopped: Vec<_> = history(&server, "again")
        .into_iter()
        .filter(|entry| entry["outcome"] == "loop-suppressed")
        .collect();
    assert_eq!(stopped.len(), 1);
    assert_eq!(stopped[0]["error"].as_str(), Some(message));
    // The first run and the one the automation made; nothing after the stop.
    assert_eq!(runs_of(&server, "loop/self"), 2);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(runs_of(&server, "loop/self"), 2);
    assert_eq!(super::inspect(&server, "again")["loop_suppressed"], 1);
}

/// A port that accepts connections and never answers; counts them.
pub(super) fn silent_receiver() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for mut stream in listener.incoming().flatten() {
            let mut first = [0u8; 1];
            let _ = stream.read(&mut first);
            counter.fetch_add(1, Ordering::SeqCst);
            held.push(stream);
        }
    });
    (url, accepted)
}

#[test]
fn a_receiver_that_never_answers_delays_no_other_automation() {
    let (silent, accepted) = silent_receiver();
    let receiver = HttpReceiver::start();
    let server = TestServer::start();
    let emit = |deployment: &str| {
        deployment_toml(
            "events",
            deployment,
            "pool",
            &[TESTFLOWS, "emit"],
            &format!("parameters = {{ event = \"{deployment}\" }}"),
        )
    };
    let toml = format!(
        "{}\n{}\n[[automations]]\nname = \"stuck\"\ntrigger = {{ type = \"event\", name = \"first\" }}\nactions = [ {{ type = \"webhook\", url = \"{silent}/hook\" }} ]\n\n[[automations]]\nname = \"quick\"\ntrigger = {{ type = \"event\", name = \"second\" }}\nactions = [ {{ type = \"webhook\", url = \"{}/hook\" }} ]\n",
        emit("first"),
        emit("second"),
        receiver.url()
    );
    let _dir = server.deploy("pool", &toml);
    let _worker = server.start_worker("pool", &[]);

    let first = server.run_deployment("events/first", &[]);
    server.wait_for_state(&first, &["COMPLETED"], WAIT);
    let deadline = Instant::now() + WAIT;
    while accepted.load(Ordering::SeqCst) == 0 {
        assert!(
            Instant::now() < deadline,
            "the stuck webhook was never called"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The stuck attempt is in flight (it waits up to its 10 s timeout);
    // the other automation's delivery goes through meanwhile.
    let second = server.run_deployment("events/second", &[]);
    server.wait_for_state(&second, &["COMPLETED"], WAIT);
    receiver.wait_for(1, WAIT);
    let stuck = super::inspect(&server, "stuck");
    assert!(
        history(&server, "stuck").is_empty(),
        "the other delivery waited for the stuck attempt to end: {stuck:#}"
    );
    // The stuck attempt ends by its timeout, to be retried.
    let deadline = Instant::now() + WAIT;
    let entries = loop {
        let entries = history(&server, "stuck");
        if !entries.is_empty() {
            break entries;
        }
        assert!(Instant::now() < deadline, "the stuck attempt never ended");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(entries[0]["outcome"], "retrying", "{entries:#?}");
    let error = entries[0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("timed out") || error.contains("longer than"),
        "{error}"
    );
}

#[test]
fn placeholders_read_secrets_and_allowed_server_variables_only() {
    let receiver = HttpReceiver::start();
    let hook = format!("{}/hook", receiver.url());
    let server = TestServer::start_with_env(
        "",
        &["--automation-env", "HOOK_PATH"],
        &[("HOOK_PATH", "allowed"), ("CANARY_I28", "canary-value-i28")],
    );
    server.ok(&["work-pool", "create", "pool", "--type", "process"]);
    let dir = tempfile::tempdir().unwrap();
    let file = |url: &str| {
        format!(
            "{}\n[[automations]]\nname = \"hook\"\ntrigger = {{ type = \"event\", name = \"ping\" }}\nactions = [ {{ type = \"webhook\", url = \"{url}\" }} ]\n",
            deployment_toml(
                "events",
                "ping",
                "pool",
                &[TESTFLOWS, "emit"],
                "parameters = { event = \"ping\" }"
            )
        )
    };
    for (url, name) in [
        (format!("{hook}/${{HOOK_PATH}}?home=${{HOME}}"), "HOME"),
        (format!("{hook}?c=${{CANARY_I28}}"), "CANARY_I28"),
    ] {
        let path = write_deploy_file(dir.path(), "orch.toml", &file(&url));
        let output = server.run(&["deploy", path.to_str().unwrap()]);
        let error = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "accepted: {url}");
        assert!(
            error.contains(&format!("`${{{name}}}`"))
                && error.contains(&format!("--automation-env {name}"))
                && error.contains(&format!("orch secret set {name}")),
            "{error}"
        );
        assert_eq!(server.json(&["automation", "ls"]), serde_json::json!([]));
    }
    // Unterminated: refused by `orch deploy` at its line.
    let path = write_deploy_file(
        dir.path(),
        "orch.toml",
        &file(&format!("{hook}/${{HOOK_PATH")),
    );
    let output = server.run(&["deploy", path.to_str().unwrap()]);
    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(error.contains("never closed"), "{error}");

    // An allowed variable and a secret work end to end.
    server.set_secret("HOOK_KEY", "k-i28");
    let path = write_deploy_file(
        dir.path(),
        "orch.toml",
        &file(&format!("{hook}/${{HOOK_PATH}}?key=${{HOOK_KEY}}")),
    );
    server.ok(&["deploy", path.to_str().unwrap()]);
    let _worker = server.start_worker("pool", &[]);
    let run = server.run_deployment("events/ping", &[]);
    server.wait_for_state(&run, &["COMPLETED"], WAIT);
    let requests = receiver.wait_for(1, WAIT);
    assert_eq!(requests[0].path, "/hook/allowed?key=k-i28");
    assert!(!requests[0].body.contains("canary-value-i28"));
}
