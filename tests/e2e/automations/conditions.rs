//! Condition triggers: a run past its duration, a missed slot (and its
//! "resolved"), a worker killed with SIGKILL.

use std::time::{Duration, Instant};

use orch_e2e::receivers::HttpReceiver;
use orch_e2e::{TestServer, deployment_toml, flow_program};

use super::{WAIT, wait_for_automation};

fn hook(name: &str, trigger: &str, url: &str) -> String {
    format!(
        "[[automations]]\nname = \"{name}\"\ntrigger = {trigger}\nactions = [ {{ type = \"webhook\", url = \"{url}/{name}\" }} ]\n"
    )
}

#[test]
fn a_run_past_its_duration_alerts_once_while_it_keeps_running() {
    let receiver = HttpReceiver::start();
    let server = TestServer::start();
    let toml = format!(
        "{}\n{}",
        deployment_toml("trade", "prod", "pool", &[&flow_program("sleep.sh")], ""),
        hook(
            "slow",
            "{ type = \"run-duration\", seconds = 2, deployments = [\"trade/prod\"] }",
            receiver.url()
        ),
    );
    let _dir = server.deploy("pool", &toml);
    let _worker = server.start_worker("pool", &[]);
    let run = server.run_deployment("trade/prod", &[]);
    server.wait_for_state(&run, &["RUNNING"], WAIT);

    let requests = receiver.wait_for(1, WAIT);
    let body = requests[0].json();
    assert_eq!(body["flow_run"]["id"], run.as_str());
    assert_eq!(body["trigger"], "run-duration");
    assert!(
        body["summary"]
            .as_str()
            .unwrap()
            .contains("has been running for"),
        "{body:#}"
    );
    assert_eq!(
        orch_e2e::state_type(&server.inspect(&run)),
        "RUNNING",
        "alerted while it runs"
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        receiver.requests().len(),
        1,
        "alerted more than once for one run"
    );
    server.ok(&["flow-run", "cancel", &run]);
}

#[test]
fn a_missed_slot_alerts_within_five_seconds_and_resolves_when_the_run_starts() {
    let receiver = HttpReceiver::start();
    let server = TestServer::start();
    let toml = format!(
        "{}\n{}",
        deployment_toml("trade", "decide", "pool", &[&flow_program("echo.sh")], ""),
        hook(
            "missed",
            "{ type = \"deadline\", late_seconds = 2, deployments = [\"trade/decide\"] }",
            receiver.url()
        ),
    );
    let _dir = server.deploy("pool", &toml);
    // No worker: the run cannot start.
    let run = server.run_deployment("trade/decide", &[]);
    let slot = Instant::now();
    let requests = receiver.wait_for(1, WAIT);
    let deadline = slot + Duration::from_secs(2);
    let after = requests[0].at.saturating_duration_since(deadline);
    assert!(
        after < Duration::from_secs(5),
        "alerted {after:?} after the deadline"
    );
    let opened = requests[0].json();
    assert_eq!(opened["kind"], "fired");
    assert_eq!(opened["flow_run"]["id"], run.as_str());
    assert!(
        opened["summary"]
            .as_str()
            .unwrap()
            .contains("has not started"),
        "{opened:#}"
    );

    let _worker = server.start_worker("pool", &[]);
    server.wait_for_state(&run, &["COMPLETED"], WAIT);
    let requests = receiver.wait_for(2, WAIT);
    let resolved = requests[1].json();
    assert_eq!(resolved["kind"], "resolved", "{resolved:#}");
    assert_eq!(resolved["flow_run"]["id"], run.as_str());
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(receiver.requests().len(), 2, "one alert, one resolved");
}

#[test]
fn a_worker_killed_with_sigkill_triggers_the_offline_alert() {
    let receiver = HttpReceiver::start();
    let server = TestServer::start_with(&["--worker-lease-seconds", "3"]);
    let toml = format!(
        "{}\n{}",
        deployment_toml("f", "d", "pool", &[&flow_program("echo.sh")], ""),
        hook(
            "offline",
            "{ type = \"worker-offline\", pools = [\"pool\"] }",
            receiver.url()
        ),
    );
    let _dir = server.deploy("pool", &toml);
    let mut worker = server.start_worker("pool", &["--heartbeat-seconds", "1"]);
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        receiver.requests().is_empty(),
        "alerted while the worker was online"
    );
    worker.kill();
    let requests = receiver.wait_for(1, WAIT);
    let body = requests[0].json();
    assert_eq!(body["trigger"], "worker-offline");
    assert_eq!(body["worker"]["work_pool"], "pool");
    assert!(
        body["summary"].as_str().unwrap().contains("is offline"),
        "{body:#}"
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(receiver.requests().len(), 1, "one alert per incident");
    let automation = wait_for_automation(&server, "offline", |a| a["delivered"] == 1);
    assert_eq!(automation["firings"], 1);
}
