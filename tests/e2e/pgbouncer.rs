//! orch on PostgreSQL behind PgBouncer (Debian's 1.18, session mode): two
//! servers reach the database through one PgBouncer whose server
//! connections are exactly what their pools (`--database-pool-size`) need,
//! with `--database-direct-url` for migrations and for listening to each
//! other's events, which a pooler does not carry (docs/operations.md
//! "PgBouncer"; why not transaction mode on 1.18 is explained there).

use std::time::Duration;

use orch_e2e::{TestServer, assert_each_executed_once, deployment_toml, flow_program};
use orch_testkit::{PgBouncer, PoolMode, fresh_database};

const WAIT: Duration = Duration::from_secs(60);
/// Workers that claim only when pushed to (the fallback poll is an hour), so
/// a run reaches them only if the wake-up crosses replicas over `LISTEN`.
const PUSH_ONLY: [&str; 2] = ["--poll-seconds", "3600"];
/// Each server's main pool; with the 2 background connections, 6 per server.
const POOL_SIZE: &str = "4";
/// PgBouncer's server connections: what the two servers' pools hold.
const SERVER_CONNECTIONS: u32 = 12;

fn bouncer(database_url: &str) -> PgBouncer {
    PgBouncer::start(database_url, PoolMode::Session, SERVER_CONNECTIONS)
}

fn through_bouncer(bouncer: &PgBouncer, direct: &str, extra: &[&str]) -> TestServer {
    let mut args = vec![
        "--database-direct-url",
        direct,
        "--database-pool-size",
        POOL_SIZE,
    ];
    args.extend_from_slice(extra);
    TestServer::start_on(bouncer.url(), &args)
}

#[test]
fn two_servers_behind_pgbouncer_execute_each_run_once_and_wake_each_others_workers() {
    let database = fresh_database();
    let bouncer = bouncer(database.url());
    let first = through_bouncer(&bouncer, database.url(), &[]);
    let second = through_bouncer(&bouncer, database.url(), &[]);
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

    assert_each_executed_once(&record_file, &ids);
    // Log lines written through one server are read through the other.
    assert!(
        !first.log_messages(&ids[1]).is_empty(),
        "no log lines for {}",
        ids[1]
    );

    // Each duty is held by one replica, and both say which.
    let holders = |server: &TestServer| -> Vec<(String, String)> {
        let held = server.duty_holders();
        held.into_iter()
            .map(|(duty, holder, _)| (duty, holder))
            .collect()
    };
    let seen_by_first = holders(&first);
    assert_eq!(seen_by_first.len(), 5, "{seen_by_first:?}");
    assert_eq!(seen_by_first, holders(&second));
    // The servers' connections went through PgBouncer.
    let log = bouncer.log();
    assert!(log.contains("login attempt"), "PgBouncer's log:\n{log}");
}

#[test]
fn a_cancel_through_one_server_behind_pgbouncer_stops_a_run_under_the_other() {
    // Heartbeats (which also carry cancels) every 5 minutes: the cancel can
    // only arrive in time as a notification relayed between the servers.
    let database = fresh_database();
    let bouncer = bouncer(database.url());
    let lease = ["--worker-lease-seconds", "900"];
    let front = through_bouncer(&bouncer, database.url(), &lease);
    let back = through_bouncer(&bouncer, database.url(), &lease);
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

/// `orch server start` on `database_url` with `extra`; its output once it ended.
fn start_failing(database_url: &str, extra: &[&str]) -> String {
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
            database_url,
        ])
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "{stderr}");
    stderr
}

#[test]
fn a_direct_url_that_is_not_postgresql_or_an_empty_pool_is_refused_with_what_to_give() {
    let database = fresh_database();
    let stderr = start_failing(
        database.url(),
        &["--database-direct-url", "sqlite:///tmp/orch.db"],
    );
    assert!(
        stderr.contains("not a postgres:// URL") && stderr.contains("PostgreSQL itself"),
        "{stderr}"
    );
    let stderr = start_failing(database.url(), &["--database-pool-size", "0"]);
    assert!(
        stderr.contains("pool size is 0") && stderr.contains("at least 1"),
        "{stderr}"
    );
}

#[test]
fn pgbouncer_in_transaction_mode_without_prepared_statements_is_refused_with_what_to_do() {
    // PgBouncer 1.18 cannot carry prepared statements in transaction mode.
    let database = fresh_database();
    let bouncer = PgBouncer::start(database.url(), PoolMode::Transaction, 3);
    let stderr = start_failing(bouncer.url(), &["--database-direct-url", database.url()]);
    assert!(
        stderr.contains("transaction mode")
            && stderr.contains("pool_mode = session")
            && stderr.contains("max_prepared_statements"),
        "{stderr}"
    );
}
