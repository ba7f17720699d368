//! Servers restarting under live work: one restarted while every worker is
//! cut off from it (for longer than a lease in all), and a rolling restart
//! of two servers sharing PostgreSQL while runs are being created. Every
//! acknowledged run ends Completed, and every flow body runs once.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use orch_e2e::hosts::{Cluster, Host, ledger_flow};

use crate::{WAIT, WORKER_ARGS};

#[test]
fn a_server_restarted_while_its_workers_are_cut_off_resumes_their_runs_when_the_links_return() {
    let Some(mut cluster) = Cluster::start("restart-cut") else {
        return;
    };
    let lease = Duration::from_secs(8);
    cluster.postgres();
    let server = cluster.server(1, &["--worker-lease-seconds", "8"]);
    let gated = ledger_flow("while [ ! -e /ledger/go ]; do sleep 0.1; done");
    cluster.deploy(&server, "pool", &[("gated", &gated)]);
    let workers = [
        cluster.worker(1, "pool", WORKER_ARGS),
        cluster.worker(2, "pool", WORKER_ARGS),
    ];
    let runs: Vec<String> = (0..4)
        .map(|_| cluster.run_deployment(&server, "f/gated"))
        .collect();
    cluster.wait_until("the runs to be Running", WAIT, || {
        cluster.runs().iter().all(|row| row.state_type == "RUNNING")
            && runs
                .iter()
                .all(|run| cluster.ledger().count("start", run) == 1)
    });

    for worker in &workers {
        cluster.cut(worker);
    }
    let cut_at = Instant::now();
    // Down for 5 s, then up again; the links stay cut for longer than a
    // lease in all: the workers' last heartbeats are older than that before
    // they can reach the new server.
    cluster.stop(&server, 5);
    std::thread::sleep(Duration::from_secs(5).saturating_sub(cut_at.elapsed()));
    cluster.start_again(&server);
    cluster.wait_ready(&server);
    std::thread::sleep((lease + Duration::from_secs(1)).saturating_sub(cut_at.elapsed()));
    assert!(
        cluster.runs().iter().all(|row| row.state_type == "RUNNING"),
        "the restarted server ended runs whose workers had no server to heartbeat to:\n{:#?}",
        cluster.runs()
    );
    for worker in &workers {
        cluster.restore(worker);
    }
    cluster.touch("go");
    cluster.wait_until("the runs to complete", WAIT, || {
        cluster
            .runs()
            .iter()
            .all(|row| row.state_type == "COMPLETED")
    });
    // Work goes on: new runs are claimed and completed.
    let later: Vec<String> = (0..2)
        .map(|_| cluster.run_deployment(&server, "f/gated"))
        .collect();
    cluster.wait_until("new runs to complete", WAIT, || {
        let rows = cluster.runs();
        later.iter().all(|run| {
            rows.iter()
                .any(|row| &row.id == run && row.state_type == "COMPLETED")
        })
    });

    let ledger = cluster.ledger();
    for row in cluster.runs() {
        assert_eq!(row.run_count, 1, "{row:?} ran again");
        assert_eq!(cluster.times_in(&row.id, "RUNNING"), 1, "{row:?}");
        assert_eq!(ledger.count("start", &row.id), 1, "{ledger:#?}");
        assert_eq!(ledger.count("done", &row.id), 1, "{ledger:#?}");
    }
}

/// Runs acknowledged by a server, with when.
#[derive(Default)]
struct Acknowledged {
    runs: Vec<(String, Instant)>,
    refusals: usize,
}

/// Creates runs of `deployment` until `stop`, each through the next server
/// in turn, or the other when that one does not answer; only runs a server
/// acknowledged are recorded.
fn create_runs(
    cluster: &Cluster,
    servers: &[Host],
    deployment: &str,
    stop: &AtomicBool,
    acknowledged: &Mutex<Acknowledged>,
) {
    let mut turn = 0;
    while !stop.load(Ordering::Relaxed) {
        turn += 1;
        for attempt in 0..servers.len() {
            let server = &servers[(turn + attempt) % servers.len()];
            let output = cluster.orch(
                server,
                &["deployment", "run", deployment, "--output", "json"],
            );
            let mut acknowledged = acknowledged.lock().unwrap();
            if !output.status.success() {
                acknowledged.refusals += 1;
                continue;
            }
            let run: serde_json::Value =
                serde_json::from_slice(&output.stdout).expect("the run as JSON");
            let id = run["id"].as_str().expect("a run id").to_owned();
            acknowledged.runs.push((id, Instant::now()));
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_rolling_restart_of_two_servers_on_postgresql_loses_no_run_and_runs_none_twice() {
    let Some(mut cluster) = Cluster::start("rolling") else {
        return;
    };
    cluster.postgres();
    let lease = ["--worker-lease-seconds", "10"];
    let servers = [cluster.server(1, &lease), cluster.server(2, &lease)];
    cluster.deploy(&servers[0], "pool", &[("short", &ledger_flow("sleep 0.3"))]);
    // Both workers talk to `http://orch:4200`: a name both servers carry.
    cluster.worker(1, "pool", WORKER_ARGS);
    cluster.worker(2, "pool", WORKER_ARGS);

    let stop = AtomicBool::new(false);
    let acknowledged = Mutex::new(Acknowledged::default());
    let mut windows = Vec::new();
    std::thread::scope(|scope| {
        scope.spawn(|| create_runs(&cluster, &servers, "f/short", &stop, &acknowledged));
        std::thread::sleep(Duration::from_secs(2));
        for server in &servers {
            let from = Instant::now();
            cluster.stop(server, 10);
            // Down until the other server has acknowledged a run (however
            // slow a loaded machine makes each creation), then back.
            let down = Instant::now();
            cluster.wait_until("a run created while a server is down", WAIT, || {
                let acknowledged = acknowledged.lock().unwrap();
                acknowledged.runs.iter().any(|(_, at)| *at > down)
            });
            cluster.start_again(server);
            cluster.wait_ready(server);
            windows.push((server.role.clone(), from, Instant::now()));
            std::thread::sleep(Duration::from_secs(2));
        }
        stop.store(true, Ordering::Relaxed);
    });
    let Acknowledged { runs, refusals } = acknowledged.into_inner().unwrap();
    // Runs were created during each restart, through the other server.
    for (role, from, to) in &windows {
        assert!(
            runs.iter().any(|(_, at)| at > from && at < to),
            "no run was acknowledged while {role} restarted ({refusals} refusals)"
        );
    }

    cluster.wait_until("every run to complete", WAIT, || {
        cluster
            .runs()
            .iter()
            .all(|row| row.state_type == "COMPLETED")
    });
    let rows = cluster.runs();
    let ledger = cluster.ledger();
    for (run, _) in &runs {
        let row = rows
            .iter()
            .find(|row| &row.id == run)
            .unwrap_or_else(|| panic!("acknowledged run {run} is not in the database"));
        assert_eq!(row.run_count, 1, "{row:?}");
    }
    // Runs whose creation was not acknowledged (a server stopping mid-call)
    // may exist; they too completed above, and every body ran once.
    for row in &rows {
        assert_eq!(cluster.times_in(&row.id, "RUNNING"), 1, "{row:?}");
        assert_eq!(ledger.count("start", &row.id), 1, "{row:?}: {ledger:#?}");
        assert_eq!(ledger.count("done", &row.id), 1, "{row:?}: {ledger:#?}");
    }
    let workers: std::collections::BTreeSet<Option<String>> =
        rows.iter().map(|row| row.worker.clone()).collect();
    assert_eq!(workers.len(), 2, "both workers ran runs: {workers:?}");
    eprintln!(
        "rolling restart: {} runs acknowledged, {refusals} creations refused and retried \
         on the other server, {} runs in all",
        runs.len(),
        rows.len()
    );
}
