//! Triggers other than a failure: a flow's custom event (e-mail over SMTP)
//! and a completed upstream run starting the next deployment.

use std::time::Duration;

use orch_e2e::receivers::SmtpSink;
use orch_e2e::{TestServer, deployment_toml, flow_program};

use super::{TESTFLOWS, WAIT, wait_for_automation};

#[test]
fn a_no_data_event_sends_an_email() {
    let sink = SmtpSink::start();
    let smtp_url = sink.url();
    // ALERT_TO is a variable of the server's environment that automations
    // may read because the server allows it.
    let server = TestServer::start_with_env(
        "",
        &["--automation-env", "ALERT_TO"],
        &[
            ("ORCH_SMTP_URL", &smtp_url),
            ("ORCH_SMTP_FROM", "orch@example.test"),
            ("ALERT_TO", "trader@example.test"),
        ],
    );
    let toml = format!(
        "{}\n{}",
        deployment_toml(
            "refresh",
            "prod",
            "pool",
            &[TESTFLOWS, "emit"],
            "parameters = { event = \"no-data\", payload = { symbol = \"AAPL\" } }"
        ),
        r#"[[automations]]
name = "no-data"
trigger = { type = "event", name = "no-data" }
actions = [ { type = "email", to = ["${ALERT_TO}"] } ]
"#
    );
    let _dir = server.deploy("pool", &toml);
    let _worker = server.start_worker("pool", &[]);
    let run = server.run_deployment("refresh/prod", &[]);
    server.wait_for_state(&run, &["COMPLETED"], WAIT);

    let mails = sink.wait_for(1, WAIT);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(sink.wait_for(1, WAIT).len(), 1, "one event, one e-mail");
    let mail = &mails[0];
    assert_eq!(mail.from, "orch@example.test");
    assert_eq!(mail.to, ["trader@example.test"]);
    assert!(
        mail.data.contains("Subject: [orch] no-data"),
        "{}",
        mail.data
    );
    for expected in [
        "emitted event \"no-data\"",
        "AAPL",
        &format!("/flow-runs/{run}"),
    ] {
        assert!(
            mail.data.contains(expected),
            "{expected:?} missing: {}",
            mail.data
        );
    }
    let automation = wait_for_automation(&server, "no-data", |a| a["delivered"] == 1);
    assert_eq!(automation["firings"], 1);
}

#[test]
fn a_completed_upstream_run_starts_the_chained_deployment_exactly_once_with_its_parameters() {
    let server = TestServer::start();
    let echo = flow_program("echo.sh");
    let toml = format!(
        "{}\n{}\n{}",
        deployment_toml(
            "collect",
            "crypto",
            "pool",
            &[&echo],
            "parameters = { symbol = \"BTC-USD\", days = 3 }"
        ),
        deployment_toml(
            "retrain",
            "prod",
            "pool",
            &[&echo],
            "parameters = { symbol = \"GOOG\", epochs = 1 }"
        ),
        r#"[[automations]]
name = "retrain-after-collection"
trigger = { type = "run-state", states = ["Completed"], deployments = ["collect/crypto"] }
actions = [ { type = "run-deployment", deployment = "retrain/prod", parameters = { epochs = 5 } } ]
"#
    );
    let _dir = server.deploy("pool", &toml);
    let _worker = server.start_worker("pool", &[]);
    let upstream = server.run_deployment("collect/crypto", &[]);
    server.wait_for_state(&upstream, &["COMPLETED"], WAIT);

    wait_for_automation(&server, "retrain-after-collection", |a| a["delivered"] == 1);
    let runs = server.json(&["flow-run", "ls", "--deployment", "retrain/prod"]);
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 1, "{runs:#?}");
    let downstream = runs[0]["id"].as_str().unwrap().to_owned();
    server.wait_for_state(&downstream, &["COMPLETED"], WAIT);
    let parameters = server.echo_flow_parameters(&downstream);
    // The upstream's `symbol` (the target declares it), the action's `epochs`.
    assert_eq!(parameters["symbol"], "BTC-USD", "{parameters}");
    assert_eq!(parameters["epochs"], 5, "{parameters}");
    // The downstream's completion fires nothing more.
    std::thread::sleep(Duration::from_secs(2));
    let runs = server.json(&["flow-run", "ls", "--deployment", "retrain/prod"]);
    assert_eq!(runs.as_array().unwrap().len(), 1);
}
