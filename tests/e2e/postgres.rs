//! orch on PostgreSQL, driven as a user would: one server, then several
//! replicas sharing one database (each test gets a fresh database on a
//! private PostgreSQL server; see `orch_testkit`).

use std::collections::BTreeSet;
use std::time::Duration;

use orch_e2e::{TestServer, assert_each_executed_once, deployment_toml, flow_program, state_type};
use orch_testkit::fresh_database;

const WAIT: Duration = Duration::from_secs(60);
/// Workers that claim only when pushed to (the fallback poll is an hour), so
/// a run reaches them only if the wake-up crosses replicas.
const PUSH_ONLY: [&str; 2] = ["--poll-seconds", "3600"];

fn state_names(detail: &serde_json::Value) -> Vec<String> {
    detail["history"]
        .as_array()
        .expect("a history")
        .iter()
        .map(|state| state["type"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn the_core_loop_runs_on_postgresql_and_survives_a_server_restart() {
    let database = fresh_database();
    let mut server = TestServer::start_on(database.url(), &[]);
    let toml = deployment_toml(
        "trading-flow",
        "trading-production",
        "sentinel-pool",
        &[&flow_program("echo.sh")],
        "parameters = { force = false, symbol = \"GOOG\" }",
    );
    let _dir = server.deploy("sentinel-pool", &toml);
    let _worker = server.start_worker("sentinel-pool", &[]);

    let run_id = server.run_deployment(
        "trading-flow/trading-production",
        &["--param", "force=true"],
    );
    server.wait_for_state(&run_id, &["COMPLETED"], WAIT);
    let status = server.json(&["server", "status"]);
    assert_eq!(status["database_backend"], "postgres", "{status}");

    server.restart();
    let detail = server.inspect(&run_id);
    assert_eq!(state_type(&detail), "COMPLETED");
    assert_eq!(
        state_names(&detail),
        ["SCHEDULED", "PENDING", "RUNNING", "COMPLETED"]
    );
    assert_eq!(
        server.echo_flow_parameters(&run_id),
        serde_json::json!({"force": true, "symbol": "GOOG"})
    );
}

#[test]
fn a_worker_on_one_replica_is_woken_by_runs_created_through_another() {
    let database = fresh_database();
    let creator = TestServer::start_on(database.url(), &[]);
    let executor = TestServer::start_on(database.url(), &[]);
    let _dir = creator.deploy(
        "pool",
        &deployment_toml("etl", "nightly", "pool", &[&flow_program("echo.sh")], ""),
    );
    let _worker = executor.start_worker("pool", &PUSH_ONLY);

    let runs: Vec<String> = (0..5)
        .map(|_| creator.run_deployment("etl/nightly", &[]))
        .collect();
    for run in &runs {
        creator.wait_for_state(run, &["COMPLETED"], WAIT);
    }

    // --watch on one replica follows a run that another replica's worker executes.
    let output = creator.run(&["deployment", "run", "etl/nightly", "--watch"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "watch did not exit 0:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("hello from"), "live logs: {stdout}");
}

#[test]
fn runs_created_through_two_replicas_are_each_executed_exactly_once() {
    let database = fresh_database();
    let first = TestServer::start_on(database.url(), &[]);
    let second = TestServer::start_on(database.url(), &[]);
    let record_dir = tempfile::tempdir().unwrap();
    let record_file = record_dir.path().join("runs.txt");
    let toml = deployment_toml(
        "batch",
        "many",
        "pool",
        &[&flow_program("record.sh"), record_file.to_str().unwrap()],
        "",
    );
    let _dir = first.deploy("pool", &toml);
    let _worker_on_first = first.start_worker("pool", &PUSH_ONLY);
    let _worker_on_second = second.start_worker("pool", &PUSH_ONLY);

    let ids: Vec<String> = (0..40)
        .map(|i| {
            let through = if i % 2 == 0 { &first } else { &second };
            through.run_deployment("batch/many", &[])
        })
        .collect();
    for id in &ids {
        second.wait_for_state(id, &["COMPLETED"], WAIT);
    }

    assert_each_executed_once(&record_file, &ids);
}

#[test]
fn a_cancel_through_one_replica_stops_a_run_executing_under_another() {
    // Heartbeats (which also carry cancels) every 5 minutes: the cancel can
    // only arrive in time as a notification relayed between the replicas.
    let lease = ["--worker-lease-seconds", "900"];
    let database = fresh_database();
    let front = TestServer::start_on(database.url(), &lease);
    let back = TestServer::start_on(database.url(), &lease);
    let _dir = front.deploy(
        "pool",
        &deployment_toml("f", "sleepy", "pool", &[&flow_program("sleep.sh")], ""),
    );
    let _worker = back.start_worker(
        "pool",
        &["--heartbeat-seconds", "300", "--kill-grace-seconds", "2"],
    );

    let run_id = front.run_deployment("f/sleepy", &[]);
    front.wait_for_state(&run_id, &["RUNNING"], WAIT);
    front.ok(&["flow-run", "cancel", &run_id]);

    let detail = back.wait_for_state(&run_id, &["CANCELLED"], WAIT);
    assert_eq!(
        state_names(&detail).last().map(String::as_str),
        Some("CANCELLED")
    );
    assert!(
        !back.log_messages(&run_id).contains(&"woke up".to_string()),
        "the flow was killed before it finished"
    );
}

#[test]
fn each_background_duty_runs_on_one_replica_and_moves_when_its_holder_is_killed() {
    let database = fresh_database();
    let first = TestServer::start_on(database.url(), &[]);
    let second = TestServer::start_on(database.url(), &[]);
    let first_name = first.json(&["server", "status"])["replica"]
        .as_str()
        .unwrap()
        .to_owned();
    // The first server took every duty before the second started; the
    // second's status says so.
    let held = second.duty_holders();
    let duties: BTreeSet<&str> = held.iter().map(|(d, _, _)| d.as_str()).collect();
    assert_eq!(
        duties,
        BTreeSet::from([
            "automation-conditions",
            "backup",
            "prune",
            "scheduler",
            "sweep"
        ])
    );
    assert!(
        held.iter()
            .all(|(_, holder, mine)| !mine && *holder == first_name),
        "{held:?}"
    );
    let text = second.ok(&["server", "status"]);
    assert!(text.contains(&format!("scheduler: {first_name}")), "{text}");

    // The first server's machine is lost: the second takes every duty over
    // once the leases lapse (10 s), without a restart.
    let mut first = first;
    first.kill();
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let held = second.duty_holders();
        if held.len() == 5 && held.iter().all(|(_, _, mine)| *mine) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the duties did not move: {held:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let text = second.ok(&["server", "status"]);
    assert!(text.contains("scheduler: this replica"), "{text}");
}
