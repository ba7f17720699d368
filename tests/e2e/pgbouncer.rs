//! orch on PostgreSQL behind PgBouncer in transaction mode: two servers
//! reach the database through one PgBouncer (a few server connections shared
//! by both servers' pools, so consecutive transactions of one client land on
//! different server connections), with `--database-direct-url` for
//! migrations and listening (docs/operations.md "PgBouncer").

use std::collections::BTreeSet;
use std::time::Duration;

use orch_e2e::{TestServer, deployment_toml, flow_program};
use orch_testkit::{PgBouncer, fresh_database};

const WAIT: Duration = Duration::from_secs(60);
/// Workers that claim only when pushed to (the fallback poll is an hour), so
/// a run reaches them only if the wake-up crosses replicas over `LISTEN`.
const PUSH_ONLY: [&str; 2] = ["--poll-seconds", "3600"];
/// PgBouncer's server connections: far fewer than the two servers' pools.
const SERVER_CONNECTIONS: u32 = 3;

fn through_bouncer(bouncer: &PgBouncer, direct: &str) -> TestServer {
    TestServer::start_on(bouncer.url(), &["--database-direct-url", direct])
}

#[test]
fn two_servers_behind_pgbouncer_in_transaction_mode_execute_each_run_once() {
    let database = fresh_database();
    let bouncer = PgBouncer::transaction_mode(database.url(), SERVER_CONNECTIONS);
    let first = through_bouncer(&bouncer, database.url());
    let second = through_bouncer(&bouncer, database.url());
    let record_dir = tempfile::tempdir().unwrap();
    let record_file = record_dir.path().join("runs.txt");
    let _dir = first.deploy(
        "pool",
        &deployment_toml(
            "batch",
            "many",
            "pool",
            &[&flow_program("record.sh"), record_file.to_str().unwrap()],
            "",
        ),
    );
    let _worker_on_first = first.start_worker("pool", &PUSH_ONLY);
    let _worker_on_second = second.start_worker("pool", &PUSH_ONLY);

    let ids: Vec<String> = (0..30)
        .map(|i| {
            let through = if i % 2 == 0 { &first } else { &second };
            through.run_deployment("batch/many", &[])
        })
        .collect();
    for id in &ids {
        second.wait_for_state(id, &["COMPLETED"], WAIT);
    }

    let recorded = std::fs::read_to_string(&record_file).unwrap();
    let lines: Vec<&str> = recorded.lines().collect();
    assert_eq!(
        lines.len(),
        30,
        "each run executed exactly once: {recorded}"
    );
    assert_eq!(
        lines.iter().copied().collect::<BTreeSet<_>>(),
        ids.iter().map(String::as_str).collect::<BTreeSet<_>>()
    );
    // Log lines written through one server are read through the other.
    assert!(
        !first.log_messages(&ids[1]).is_empty(),
        "no log lines for {}",
        ids[1]
    );

    // Each duty is held by one replica, and both say which.
    let holders = |server: &TestServer| -> Vec<(String, String)> {
        let status = server.json(&["server", "status"]);
        status["duties"]
            .as_array()
            .unwrap_or_else(|| panic!("no duties in {status}"))
            .iter()
            .map(|d| {
                (
                    d["duty"].as_str().unwrap().to_owned(),
                    d["holder"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let seen_by_first = holders(&first);
    assert_eq!(seen_by_first.len(), 5, "{seen_by_first:?}");
    assert_eq!(seen_by_first, holders(&second));
    let log = bouncer.log();
    assert!(
        !log.contains("prepared statement"),
        "PgBouncer logged prepared-statement errors:\n{log}"
    );
}

#[test]
fn a_cancel_through_one_server_behind_pgbouncer_stops_a_run_under_the_other() {
    // Heartbeats (which also carry cancels) every 5 minutes: the cancel can
    // only arrive in time as a notification relayed between the servers.
    let database = fresh_database();
    let bouncer = PgBouncer::transaction_mode(database.url(), SERVER_CONNECTIONS);
    let direct = ["--database-direct-url", database.url()];
    let lease = ["--worker-lease-seconds", "900"];
    let args: Vec<&str> = direct.iter().chain(&lease).copied().collect();
    let front = TestServer::start_on(bouncer.url(), &args);
    let back = TestServer::start_on(bouncer.url(), &args);
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

    back.wait_for_state(&run_id, &["CANCELLED"], WAIT);
    assert!(
        !back.log_messages(&run_id).contains(&"woke up".to_string()),
        "the flow was killed before it finished"
    );
}

#[test]
fn a_direct_url_that_is_not_postgresql_is_refused_with_what_to_give() {
    let database = fresh_database();
    let home = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(orch_e2e::binary("orch"))
        .env("ORCH_HOME", home.path())
        .env_remove("ORCH_DATABASE_URL")
        .args([
            "server",
            "start",
            "--port",
            "0",
            "--database-url",
            database.url(),
            "--database-direct-url",
            "sqlite:///tmp/orch.db",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("not a postgres:// URL") && stderr.contains("PostgreSQL itself"),
        "{stderr}"
    );
}
