//! Delivery: Slack and webhook formats, retries while the receiver is down,
//! the cooldown, unset receivers, signatures, and the CLI over it all.

use std::collections::BTreeSet;
use std::time::Duration;

use orch_e2e::receivers::HttpReceiver;
use orch_e2e::{TestServer, deployment_toml, flow_program};
use serde_json::Value;

use super::{WAIT, history, inspect, wait_for_automation};

/// A deployment `f/fails` (exit 3, "cannot reach the price feed") with
/// `retries` flow retries, plus `automations`.
fn failing(retries: u32, automations: &str) -> String {
    let deployment = deployment_toml(
        "f",
        "fails",
        "pool",
        &[&flow_program("fail.sh")],
        &format!("retries = {retries}\nretry_delay_seconds = 0\n"),
    );
    format!("{deployment}\n{automations}")
}

fn failures_to(url: &str, cooldown: u64) -> String {
    format!(
        r#"[[automations]]
name = "failures"
trigger = {{ type = "run-state", states = ["Failed", "Crashed"], after_retries = true, deployments = ["f/fails"] }}
actions = [ {{ type = "slack", webhook_url = "{url}/slack" }} ]
cooldown_seconds = {cooldown}
"#
    )
}

#[test]
fn a_flow_failing_after_two_retries_sends_exactly_one_slack_message() {
    let receiver = HttpReceiver::start();
    let server = TestServer::start();
    let _dir = server.deploy("pool", &failing(2, &failures_to(receiver.url(), 0)));
    let _worker = server.start_worker("pool", &[]);

    let run = server.run_deployment("f/fails", &[]);
    let detail = server.wait_for_state(&run, &["FAILED"], WAIT);
    let name = detail["run"]["name"]
        .as_str()
        .unwrap_or_else(|| detail["name"].as_str().unwrap())
        .to_owned();
    receiver.wait_for(1, WAIT);
    // Two failed attempts were retried (AwaitingRetry): only the final
    // failure fires. Give a duplicate time to show up.
    std::thread::sleep(Duration::from_secs(2));
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    let message = &requests[0];
    assert_eq!(message.path, "/slack");
    assert_eq!(message.header("content-type"), Some("application/json"));
    assert!(
        message
            .header("idempotency-key")
            .is_some_and(|k| !k.is_empty())
    );
    let body = message.json();
    assert!(
        body["text"].is_string(),
        "Slack needs a text fallback: {body:#}"
    );
    assert!(body["blocks"].is_array(), "{body:#}");
    let text = body.to_string();
    for expected in [
        "failures",
        "f/fails",
        &name,
        "Failed",
        "cannot reach the price feed",
        &format!("/flow-runs/{run}"),
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from the Slack message: {body:#}"
        );
    }
    let automation = wait_for_automation(&server, "failures", |a| a["delivered"] == 1);
    assert_eq!(automation["firings"], 1);
    let entries = history(&server, "failures");
    assert_eq!(entries.len(), 1, "{entries:#?}");
    assert_eq!(entries[0]["outcome"], "delivered");
    assert_eq!(entries[0]["status_code"], 200);
    assert_eq!(entries[0]["flow_run_id"], run.as_str());
}

#[test]
fn an_automation_made_after_a_failure_fires_on_the_next_failure_only() {
    let receiver = HttpReceiver::start();
    let server = TestServer::start();
    let dir = server.deploy("pool", &failing(0, ""));
    let _worker = server.start_worker("pool", &[]);
    let before = server.run_deployment("f/fails", &[]);
    server.wait_for_state(&before, &["FAILED"], WAIT);
    // The engine has passes with no automation (it reads nothing then).
    std::thread::sleep(Duration::from_millis(1500));

    let path = orch_e2e::write_deploy_file(
        dir.path(),
        "orch.toml",
        &failing(0, &failures_to(receiver.url(), 0)),
    );
    server.ok(&["deploy", path.to_str().expect("UTF-8 path")]);
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        receiver.requests().is_empty(),
        "a failure from before the automation fired: {:#?}",
        receiver.requests()
    );

    let after = server.run_deployment("f/fails", &[]);
    server.wait_for_state(&after, &["FAILED"], WAIT);
    receiver.wait_for(1, WAIT);
    std::thread::sleep(Duration::from_secs(1));
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    let text = requests[0].json().to_string();
    assert!(text.contains(&format!("/flow-runs/{after}")), "{text}");
    assert!(!text.contains(&before), "{text}");
}

#[test]
fn a_receiver_down_for_two_attempts_still_receives_the_message_exactly_once() {
    let receiver = HttpReceiver::refusing_first(2);
    let server = TestServer::start();
    let _dir = server.deploy("pool", &failing(0, &failures_to(receiver.url(), 0)));
    let _worker = server.start_worker("pool", &[]);

    server.run_deployment("f/fails", &[]);
    receiver.wait_for(3, WAIT);
    // Backoff 1 s then 2 s; a fourth request would come within seconds.
    std::thread::sleep(Duration::from_secs(3));
    let requests: Vec<_> = receiver
        .requests()
        .into_iter()
        .filter(|r| r.path == "/slack")
        .collect();
    assert_eq!(requests.len(), 3, "{requests:#?}");
    let statuses: Vec<u16> = requests.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 503, 200]);
    let keys: BTreeSet<&str> = requests
        .iter()
        .filter_map(|r| r.header("idempotency-key"))
        .collect();
    assert_eq!(
        keys.len(),
        1,
        "every attempt carries the same idempotency key: {requests:#?}"
    );
    assert!(
        requests[1].at - requests[0].at >= Duration::from_millis(900),
        "no backoff before the second attempt"
    );
    assert!(
        requests[2].at - requests[1].at >= Duration::from_millis(1900),
        "the backoff doubles"
    );

    wait_for_automation(&server, "failures", |a| a["delivered"] == 1);
    let outcomes: Vec<String> = history(&server, "failures")
        .iter()
        .map(|e| format!("{}:{}", e["outcome"].as_str().unwrap(), e["status_code"]))
        .collect();
    assert_eq!(outcomes, ["delivered:200", "retrying:503", "retrying:503"]);
}

#[test]
fn the_cooldown_suppresses_a_second_alert_and_counts_it() {
    let receiver = HttpReceiver::start();
    let server = TestServer::start();
    let _dir = server.deploy("pool", &failing(0, &failures_to(receiver.url(), 3600)));
    let _worker = server.start_worker("pool", &[]);

    let first = server.run_deployment("f/fails", &[]);
    server.wait_for_state(&first, &["FAILED"], WAIT);
    receiver.wait_for(1, WAIT);
    let second = server.run_deployment("f/fails", &[]);
    server.wait_for_state(&second, &["FAILED"], WAIT);
    let automation = wait_for_automation(&server, "failures", |a| a["suppressed"] == 1);
    assert_eq!(automation["firings"], 1);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        receiver.requests().len(),
        1,
        "the second failure was delivered despite the cooldown"
    );
    let entries = history(&server, "failures");
    let suppressed: Vec<&Value> = entries
        .iter()
        .filter(|e| e["outcome"] == "suppressed")
        .collect();
    assert_eq!(suppressed.len(), 1, "{entries:#?}");
    assert_eq!(suppressed[0]["flow_run_id"], second.as_str());
    let table = server.ok(&["automation", "ls"]);
    assert!(table.contains("failures"), "{table}");
}

#[test]
fn webhooks_are_signed_and_unset_receivers_are_skipped_visibly() {
    let receiver = HttpReceiver::start();
    let server = TestServer::start();
    // The signing key is an orch secret: `${HOOK_SECRET}` reads it when the action runs.
    server.set_secret("HOOK_SECRET", "s3cret-key");
    let automations = format!(
        r#"[[automations]]
name = "signed"
trigger = {{ type = "run-state", states = ["Failed"], deployments = ["f/fails"] }}
actions = [
  {{ type = "webhook", url = "{}/hook", secret = "${{HOOK_SECRET}}" }},
  {{ type = "slack", webhook_url = "${{ORCH_TEST_UNSET_SLACK_URL}}" }},
]
"#,
        receiver.url()
    );
    let _dir = server.deploy("pool", &failing(0, &automations));
    let listed = inspect(&server, "signed");
    assert_eq!(
        listed["unset_variables"],
        serde_json::json!(["ORCH_TEST_UNSET_SLACK_URL"])
    );
    let _worker = server.start_worker("pool", &[]);

    let run = server.run_deployment("f/fails", &[]);
    let requests = receiver.wait_for(1, WAIT);
    let hook = &requests[0];
    let body = hook.json();
    assert_eq!(body["flow_run"]["id"], run.as_str());
    assert_eq!(body["flow_run"]["state"]["name"], "Failed");
    assert_eq!(
        body["idempotency_key"].as_str(),
        hook.header("idempotency-key")
    );
    // The delivery carries the run's trace: its id in the body, its
    // traceparent as the header a traced receiver continues.
    let trace_id = server.inspect(&run)["trace_id"]
        .as_str()
        .expect("the run record has a trace id")
        .to_owned();
    assert_eq!(trace_id.len(), 32, "{trace_id}");
    assert_eq!(body["flow_run"]["trace_id"], trace_id.as_str());
    let traceparent = hook.header("traceparent").expect("a traceparent header");
    assert!(
        traceparent.starts_with(&format!("00-{trace_id}-")),
        "{traceparent}"
    );
    assert_eq!(body["flow_run"]["traceparent"], traceparent);
    let expected = {
        use hmac::{KeyInit, Mac};
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"s3cret-key").unwrap();
        mac.update(hook.body.as_bytes());
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    };
    assert_eq!(hook.header("x-orch-signature"), Some(expected.as_str()));

    wait_for_automation(&server, "signed", |a| {
        a["skipped"] == 1 && a["delivered"] == 1
    });
    let skipped: Vec<Value> = history(&server, "signed")
        .into_iter()
        .filter(|e| e["outcome"] == "skipped")
        .collect();
    assert_eq!(skipped.len(), 1);
    let reason = skipped[0]["error"].as_str().unwrap();
    assert!(
        reason.contains("ORCH_TEST_UNSET_SLACK_URL not set"),
        "{reason}"
    );
    // The secret is never shown.
    let shown = server.ok(&["automation", "inspect", "signed"])
        + &server.ok(&["automation", "history", "signed"]);
    assert!(!shown.contains("s3cret-key"), "{shown}");
}

#[test]
fn automations_are_paused_resumed_and_deleted_from_the_cli_and_rest_agrees() {
    let receiver = HttpReceiver::start();
    let server = TestServer::start();
    let _dir = server.deploy("pool", &failing(0, &failures_to(receiver.url(), 0)));
    let out = server.ok(&["automation", "pause", "failures"]);
    assert!(out.contains("Paused automation failures"), "{out}");
    assert_eq!(inspect(&server, "failures")["paused"], true);
    let _worker = server.start_worker("pool", &[]);
    let run = server.run_deployment("f/fails", &[]);
    server.wait_for_state(&run, &["FAILED"], WAIT);
    std::thread::sleep(Duration::from_secs(2));
    assert!(receiver.requests().is_empty(), "a paused automation fired");

    server.ok(&["automation", "resume", "failures"]);
    // Compare once nothing is in flight: a delivery finishing between the
    // two reads changes the counters, not the shape.
    wait_for_automation(&server, "failures", |a| a["pending"] == 0);
    let cli = inspect(&server, "failures");
    let (status, body) = server.http_get("/api/automations/failures");
    assert_eq!(status, 200, "{body}");
    let rest: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(rest, cli, "REST and --output json disagree");
    let (_, listed) = server.http_get("/api/automations");
    let listed: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed["automations"][0]["name"], "failures");

    server.ok(&["automation", "delete", "failures"]);
    let missing = server.run(&["automation", "inspect", "failures"]);
    assert!(!missing.status.success());
    let error = String::from_utf8_lossy(&missing.stderr);
    assert!(
        error.contains("automation \"failures\" not found"),
        "{error}"
    );
}
