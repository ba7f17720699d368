//! Running orch for months, with the real binary: retention, backups and
//! restores, background mode, health probes, JSON logs, upgrades and the
//! systemd units.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use orch_e2e::{TestServer, binary, deployment_toml, flow_program, http_get, state_type};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);
const DAY_MICROS: i64 = 86_400_000_000;

#[path = "operations/restore.rs"]
mod restore;
#[path = "operations/service.rs"]
mod service;

/// Runs SQL on a SQLite file (the server must be stopped).
async fn sql(path: &Path, statements: &[String]) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("open the database");
    for statement in statements {
        sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
            .execute(&pool)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    pool.close().await;
}

fn ids(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|run| run["id"].as_str().expect("an id").to_string())
        .collect()
}

/// `orch deployment run DEPLOYMENT -o json` against `url`; the new run's id
/// once the server acknowledged it.
fn create_run(home: &Path, url: &str, deployment: &str) -> String {
    let output = std::process::Command::new(binary("orch"))
        .args(["deployment", "run", deployment, "--output", "json"])
        .env("ORCH_HOME", home)
        .env("ORCH_API_URL", url)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let run: Value = serde_json::from_slice(&output.stdout).unwrap();
    run["id"]
        .as_str()
        .or_else(|| run["run"]["id"].as_str())
        .expect("a run id")
        .to_string()
}

/// Runs `orch ARGS` (a `--background` start) with `home` as ORCH_HOME; returns
/// its stdout and the URL it announced.
fn start_in_background(home: &Path, args: &[&str]) -> (String, String) {
    let output = std::process::Command::new(binary("orch"))
        .args(args)
        .env("ORCH_HOME", home)
        .env_remove("ORCH_API_URL")
        .env_remove("ORCH_DATABASE_URL")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let url = stdout
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .expect("the URL")
        .to_string();
    (stdout, url)
}

fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_prunes_old_finished_runs_and_logs_but_never_young_or_unfinished_ones() {
    let retention = [
        "--retention-runs-days",
        "30",
        "--retention-logs-days",
        "7",
        "--retention-state",
        "failed=90",
    ];
    let mut args = retention.to_vec();
    args.extend(["--prune-every", "1h"]);
    let mut server = TestServer::start_with(&args);
    let toml = [
        deployment_toml("etl", "ok", "pool", &[&flow_program("echo.sh")], ""),
        deployment_toml("etl", "bad", "pool", &[&flow_program("fail.sh")], ""),
        deployment_toml("etl", "slow", "pool", &[&flow_program("sleep.sh")], ""),
        deployment_toml("etl", "idle", "nobody", &[&flow_program("echo.sh")], ""),
    ]
    .concat();
    server.ok(&["work-pool", "create", "nobody"]);
    let _dir = server.deploy("pool", &toml);
    let _worker = server.start_worker("pool", &[]);
    let old_done = server.run_deployment("etl/ok", &[]);
    let old_failed = server.run_deployment("etl/bad", &[]);
    let young = server.run_deployment("etl/ok", &[]);
    let running = server.run_deployment("etl/slow", &[]);
    let waiting = server.run_deployment("etl/idle", &[]);
    server.wait_for_state(&old_done, &["COMPLETED"], WAIT);
    server.wait_for_state(&old_failed, &["FAILED"], WAIT);
    server.wait_for_state(&young, &["COMPLETED"], WAIT);
    server.wait_for_state(&running, &["RUNNING"], WAIT);
    for run in [&old_done, &old_failed, &young] {
        assert!(!server.log_messages(run).is_empty());
    }
    wait_until("the running flow logs", WAIT, || {
        !server.log_messages(&running).is_empty()
    });

    // Age the runs as if 40 days had passed since they ended (or started), and
    // the young one 2 days ago.
    server.stop();
    let database = server.home().join("orch.db");
    let age = |id: &str, days: i64| {
        format!(
            "UPDATE flow_runs SET state_timestamp = state_timestamp - {}, created_at = created_at - {0} WHERE id = '{id}'",
            days * DAY_MICROS
        )
    };
    sql(
        &database,
        &[
            age(&old_done, 40),
            age(&old_failed, 40),
            age(&running, 40),
            age(&waiting, 40),
            age(&young, 2),
        ],
    )
    .await;
    server.restart();

    let status = server.json(&["server", "status"]);
    assert_eq!(
        status["retention"], "runs 30d, logs 7d; failed: runs 90d",
        "{status}"
    );
    assert_eq!(status["schema_version"], status["schema_latest"]);
    let dry = server.json(&["server", "prune", "--dry-run"]);
    let old_lines = server.log_messages(&old_done).len() + server.log_messages(&old_failed).len();
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["runs"], 1, "{dry}");
    assert_eq!(dry["log_lines"], old_lines as u64, "{dry}");
    // A dry run deletes nothing.
    assert_eq!(state_type(&server.inspect(&old_done)), "COMPLETED");

    let pruned = server.json(&["server", "prune"]);
    assert_eq!(pruned["runs"], 1, "{pruned}");
    assert_eq!(pruned["log_lines"], old_lines as u64, "{pruned}");
    let missing = server.run(&["flow-run", "inspect", &old_done]);
    assert!(!missing.status.success(), "the old completed run is gone");
    assert_eq!(state_type(&server.inspect(&old_failed)), "FAILED");
    assert!(
        server.log_messages(&old_failed).is_empty(),
        "its logs are gone"
    );
    assert!(!server.log_messages(&young).is_empty(), "young logs stay");
    assert!(
        !server.log_messages(&running).is_empty(),
        "running logs stay"
    );
    assert_eq!(state_type(&server.inspect(&running)), "RUNNING");
    assert_eq!(state_type(&server.inspect(&waiting)), "SCHEDULED");

    let status = server.json(&["server", "status"]);
    assert_eq!(status["pruned_runs"], 1, "{status}");
    assert_eq!(status["pruned_log_lines"], old_lines as u64, "{status}");
    assert!(status["last_prune"].is_string(), "{status}");
    let (_, metrics) = server.http_get("/metrics");
    assert!(
        metrics.contains("orch_pruned_flow_runs_total 1"),
        "{metrics}"
    );

    // The background pruner does the same on its own: age the young run too.
    server.stop();
    sql(&database, &[age(&young, 60)]).await;
    let mut args = retention.to_vec();
    args.extend(["--prune-every", "1s"]);
    let background = TestServer::start_on(&format!("sqlite://{}", database.display()), &args);
    wait_until("the background pruner", WAIT, || {
        background.json(&["server", "status"])["pruned_runs"] == 1
    });
    assert!(
        !background
            .run(&["flow-run", "inspect", &young])
            .status
            .success()
    );
    assert_eq!(state_type(&background.inspect(&running)), "RUNNING");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_load_restores_every_acknowledged_run() {
    let mut server = TestServer::start();
    let toml = deployment_toml("etl", "quick", "pool", &[&flow_program("echo.sh")], "");
    let _dir = server.deploy("pool", &toml);
    let _worker = server.start_worker("pool", &[]);
    let backup = server.home().join("backups").join("copy.db");
    std::fs::create_dir_all(backup.parent().unwrap()).unwrap();

    // Create 200 runs from two threads while the worker executes them; take
    // the backup halfway.
    let (home, url) = (server.home().to_path_buf(), server.url().to_string());
    let (acknowledged_before, all) = std::thread::scope(|scope| {
        let creators: Vec<_> = (0..2)
            .map(|_| {
                let (home, url) = (&home, &url);
                scope.spawn(move || {
                    (0..100)
                        .map(|_| (create_run(home, url, "etl/quick"), Instant::now()))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        wait_until("50 runs", WAIT, || {
            server
                .json(&["flow-run", "ls", "--limit", "500"])
                .as_array()
                .is_some_and(|runs| runs.len() >= 50)
        });
        let started = Instant::now();
        let report = server.json(&["server", "backup", backup.to_str().unwrap()]);
        assert_eq!(report["integrity_check"], "ok", "{report}");
        let created: Vec<(String, Instant)> = creators
            .into_iter()
            .flat_map(|creator| creator.join().unwrap())
            .collect();
        let before: BTreeSet<String> = created
            .iter()
            .filter(|(_, acknowledged)| *acknowledged < started)
            .map(|(id, _)| id.clone())
            .collect();
        let all: BTreeSet<String> = created.into_iter().map(|(id, _)| id).collect();
        (before, all)
    });
    assert_eq!(all.len(), 200);
    // At least 50 were listed before the backup; a few of those may have been
    // committed before their command returned (not yet acknowledged).
    assert!(
        acknowledged_before.len() >= 40,
        "{}",
        acknowledged_before.len()
    );
    let check = orch_store::check_database_file(&backup).await.unwrap();
    assert!(check.flow_runs as usize >= acknowledged_before.len());

    // Restoring needs the server stopped.
    let refused = server.run(&["server", "restore", backup.to_str().unwrap()]);
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(
        message.contains("Stop the server before restoring"),
        "{message}"
    );

    server.stop();
    let restored = server.ok(&["server", "restore", backup.to_str().unwrap()]);
    assert!(
        restored.contains("replaced database is kept at"),
        "{restored}"
    );
    let aside: Vec<PathBuf> = std::fs::read_dir(server.home())
        .unwrap()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.to_string_lossy().contains("orch.db.replaced-"))
        .collect();
    assert!(!aside.is_empty(), "the old database is kept aside");
    let old_database = aside
        .iter()
        .find(|path| {
            let name = path.to_string_lossy();
            !name.ends_with("-wal") && !name.ends_with("-shm")
        })
        .expect("the old database file");
    let old = orch_store::check_database_file(old_database).await.unwrap();
    assert_eq!(old.flow_runs, 200, "the replaced database is whole");

    server.restart();
    let listed = ids(&server.json(&["flow-run", "ls", "--limit", "500"]));
    let lost: Vec<&String> = acknowledged_before.difference(&listed).collect();
    assert!(
        lost.is_empty(),
        "runs acknowledged before the backup are missing: {lost:?}"
    );
    assert!(listed.is_subset(&all));
}

#[test]
fn background_start_returns_once_ready_and_stop_is_graceful_with_no_run_lost() {
    let home = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}/orch.db", home.path().display());
    let start = [
        "server",
        "start",
        "--background",
        "--port",
        "0",
        "--database-url",
        &database,
    ];
    let (_, url) = start_in_background(home.path(), &start);
    let server = TestServer::background(home, &url);
    // It returned only once ready.
    assert_eq!(http_get(&url, "/readyz").0, 200);
    assert_eq!(http_get(&url, "/healthz").0, 200);
    assert!(server.home().join("server.pid").exists());
    let twice = server.run(&start);
    let stderr = String::from_utf8_lossy(&twice.stderr);
    assert!(
        !twice.status.success() && stderr.contains("already running"),
        "{stderr}"
    );

    // A worker runs flows that take a while; the server stops under them.
    let flow = deployment_toml(
        "etl",
        "slowish",
        "pool",
        &[&flow_program("count.sh"), "3", "0.5"],
        "",
    );
    let _dir = server.deploy("pool", &flow);
    let _worker = server.start_worker("pool", &["--heartbeat-seconds", "1"]);
    let runs: Vec<String> = (0..3)
        .map(|_| server.run_deployment("etl/slowish", &[]))
        .collect();
    server.wait_for_state(&runs[0], &["RUNNING", "COMPLETED"], WAIT);
    let stopped = server.ok(&["server", "stop"]);
    assert!(stopped.contains("Stopped orch server"), "{stopped}");
    assert!(!server.home().join("server.pid").exists());
    assert!(std::net::TcpStream::connect(url.trim_start_matches("http://")).is_err());
    let again = server.run(&["server", "stop"]);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        !again.status.success() && stderr.contains("no orch server"),
        "{stderr}"
    );

    // Started again on the same port: every run is there and completes.
    let port = server.url().rsplit(':').next().unwrap().to_string();
    server.ok(&[
        "server",
        "start",
        "--background",
        "--port",
        &port,
        "--database-url",
        &database,
    ]);
    for run in &runs {
        server.wait_for_state(run, &["COMPLETED"], WAIT);
        assert_eq!(
            server.log_messages(run),
            ["line 1", "line 2", "line 3"],
            "{run}"
        );
    }
    server.ok(&["server", "stop"]);
    let log = std::fs::read_to_string(server.home().join("server.log")).unwrap();
    assert!(log.contains("shutting down"), "{log}");
}

#[test]
fn automatic_backups_rotate_to_the_configured_count() {
    let backups = tempfile::tempdir().unwrap();
    let dir = backups.path().display().to_string();
    let server = TestServer::start_with(&[
        "--backup-dir",
        &dir,
        "--backup-every",
        "1s",
        "--backup-keep",
        "3",
    ]);
    let files = || -> Vec<PathBuf> {
        std::fs::read_dir(backups.path())
            .unwrap()
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|e| e == "db"))
            .collect()
    };
    let mut made = BTreeSet::new();
    wait_until("five backups", WAIT, || {
        made.extend(files());
        made.len() >= 5
    });
    // Rotation follows each new backup: exactly 3 remain, the oldest ones gone.
    wait_until("rotation to 3 files", WAIT, || files().len() == 3);
    let kept = files();
    let oldest = made.iter().min().unwrap();
    assert!(!oldest.exists(), "{} was rotated away", oldest.display());
    let status = server.json(&["server", "status"]);
    assert!(status["last_backup"].is_string(), "{status}");
    assert_eq!(status["backup_dir"], dir.as_str());
    let (_, metrics) = server.http_get("/metrics");
    let last = metrics
        .lines()
        .find(|line| line.starts_with("orch_backup_last_success_timestamp_seconds "))
        .expect("the backup metric");
    assert!(!last.ends_with(" 0"), "{last}");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for file in &kept {
        runtime
            .block_on(orch_store::check_database_file(file))
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    }
}

#[test]
fn readyz_is_503_while_postgresql_is_down_and_200_after() {
    let mut postgres = orch_testkit::OwnedPostgres::start();
    let server = TestServer::start_on(&postgres.url(), &[]);
    let (status, body) = http_get(server.url(), "/readyz");
    assert_eq!(status, 200, "{body}");
    let ready: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["status"], "ready");

    postgres.stop();
    let mut last = String::new();
    wait_until("/readyz 503", WAIT, || {
        let (status, body) = http_get(server.url(), "/readyz");
        last = body;
        status == 503
    });
    let down: Value = serde_json::from_str(&last).unwrap();
    assert_eq!(down["status"], "unavailable");
    let database = down["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|check| check["name"] == "database")
        .unwrap();
    assert_eq!(database["ok"], false, "{down}");
    assert_eq!(http_get(server.url(), "/healthz").0, 200, "alive all along");

    postgres.resume();
    wait_until("/readyz 200", WAIT, || {
        http_get(server.url(), "/readyz").0 == 200
    });
}
