//! No automation storm: a loop through several automations, each making
//! more than one run, ends at its first repeat, and says so everywhere a
//! person or a program looks: the event `orch.automation.loop-suppressed`
//! (which an automation can forward), the automation's record, history and
//! page, the CLI, and the metrics.

use std::time::Duration;

use orch_e2e::browser::Browser;
use orch_e2e::receivers::HttpReceiver;
use orch_e2e::{TestServer, deployment_toml, flow_program};
use serde_json::json;

use super::hardening::runs_of;
use super::{WAIT, history, wait_for_automation};

/// `loop/ping` and `loop/pong`; `ping` runs pong twice when a ping run
/// completes, `pong` runs ping when a pong run completes: a loop through
/// two automations that doubles at every turn. `loop-alert` forwards the
/// loop events to `alerts`.
fn ping_pong(alerts: &str) -> String {
    let echo = flow_program("echo.sh");
    format!(
        r#"{}
{}
[[automations]]
name = "ping"
trigger = {{ type = "run-state", states = ["Completed"], deployments = ["loop/ping"] }}
actions = [ {{ type = "run-deployment", deployment = "loop/pong" }}, {{ type = "run-deployment", deployment = "loop/pong" }} ]

[[automations]]
name = "pong"
trigger = {{ type = "run-state", states = ["Completed"], deployments = ["loop/pong"] }}
actions = [ {{ type = "run-deployment", deployment = "loop/ping" }} ]

[[automations]]
name = "loop-alert"
trigger = {{ type = "event", name = "orch.automation.loop-suppressed" }}
actions = [ {{ type = "webhook", url = "{alerts}/loops" }} ]
"#,
        deployment_toml("loop", "ping", "pool", &[&echo], ""),
        deployment_toml("loop", "pong", "pool", &[&echo], ""),
    )
}

#[test]
fn a_loop_through_two_automations_that_fans_out_stops_at_its_first_repeat() {
    let alerts = HttpReceiver::start();
    let server = TestServer::start();
    let _dir = server.deploy("pool", &ping_pong(alerts.url()));
    let _worker = server.start_worker("pool", &[]);
    server.run_deployment("loop/ping", &[]);

    // ping -> 2 pong runs -> pong twice -> 2 ping runs -> ping again: it is
    // in their chain (ping -> pong), so both firings are suppressed.
    let ping = wait_for_automation(&server, "ping", |a| a["loop_suppressed"] == 2);
    let message = ping["loop_message"].as_str().unwrap_or_default().to_owned();
    assert!(
        message.starts_with(
            "automation loop stopped: \"ping\" would fire again on a run it led to (chain ping -> pong -> ping)"
        ),
        "{ping:#}"
    );
    assert_eq!(ping["firings"], 1, "{ping:#}");
    let pong = super::inspect(&server, "pong");
    assert_eq!(
        (&pong["firings"], &pong["loop_suppressed"]),
        (&json!(2), &json!(0))
    );

    // The event, forwarded by an automation watching for it: one per stop.
    let forwarded = alerts.wait_for(2, WAIT);
    for request in &forwarded {
        let body = request.json();
        assert_eq!(body["event"]["name"], "orch.automation.loop-suppressed");
        let payload = &body["event"]["payload"];
        assert_eq!(payload["automation"], "ping", "{body:#}");
        assert_eq!(payload["automation_chain"], json!(["ping", "pong", "ping"]));
        assert_eq!(payload["reason"].as_str(), Some(message.as_str()));
    }

    // The history and the CLI say why.
    let stopped: Vec<_> = history(&server, "ping")
        .into_iter()
        .filter(|entry| entry["outcome"] == "loop-suppressed")
        .collect();
    assert_eq!(stopped.len(), 2);
    assert!(
        stopped
            .iter()
            .all(|entry| entry["error"].as_str() == Some(message.as_str()))
    );
    let shown = server.ok(&["automation", "inspect", "ping", "--output", "table"]);
    assert!(
        shown.contains("Suppressed (loop)")
            && shown.contains("2 (last at")
            && shown.contains("chain ping -> pong -> ping"),
        "{shown}"
    );

    // Metrics count them.
    let (status, metrics) = server.http_get("/metrics");
    assert_eq!(status, 200);
    assert!(
        metrics.contains(
            "orch_automation_firings_total{automation=\"ping\",outcome=\"loop-suppressed\"} 2"
        ),
        "{metrics}"
    );

    // Three ping runs (the first, two made by pong) and two pong runs; no more.
    assert_eq!(
        (runs_of(&server, "loop/ping"), runs_of(&server, "loop/pong")),
        (3, 2)
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        (runs_of(&server, "loop/ping"), runs_of(&server, "loop/pong")),
        (3, 2)
    );
}

#[test]
fn the_automations_page_says_a_loop_was_stopped_and_why() {
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
    wait_for_automation(&server, "again", |a| a["loop_suppressed"] == 1);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let browser = Browser::start().await;
        browser.login(server.url(), &server.admin_key()).await;
        browser
            .client
            .goto(&format!("{}/automations", server.url()))
            .await
            .unwrap();
        let note = browser
            .wait_for_text(
                "[data-loop=again]",
                "chain again -> again",
                Duration::from_secs(20),
            )
            .await;
        assert!(
            note.contains("Loop stopped: 1 firing suppressed")
                && note.contains("narrow its trigger"),
            "{note}"
        );
        browser.screenshot("automations-loop-stopped").await;
        browser.close().await;
    });
}
