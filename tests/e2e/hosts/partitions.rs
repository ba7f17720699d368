//! A worker cut off from its server: for less than a lease it keeps its
//! runs and reports them when the link returns; for longer, the server
//! Crashes its runs and retries them on the other worker, and the cut-off
//! worker, told so by its first heartbeat once the link returns, stops its
//! own copies without reporting them: no run finishes twice.

use std::time::{Duration, Instant};

use orch_e2e::hosts::{Cluster, ledger_flow};

use crate::{WAIT, WORKER_ARGS};

/// Runs that reached `state_type`, of `runs`.
fn count_in(cluster: &Cluster, runs: &[String], state_type: &str) -> usize {
    cluster
        .runs()
        .iter()
        .filter(|row| runs.contains(&row.id) && row.state_type == state_type)
        .count()
}

#[test]
fn a_worker_cut_off_for_less_than_a_lease_keeps_its_runs_and_reports_them_after() {
    let Some(mut cluster) = Cluster::start("short-cut") else {
        return;
    };
    let lease = Duration::from_secs(12);
    cluster.postgres();
    let server = cluster.server(1, &["--worker-lease-seconds", "12"]);
    cluster.deploy(&server, "pool", &[("quick", &ledger_flow("sleep 2"))]);
    let worker = cluster.worker(1, "pool", WORKER_ARGS);
    let runs: Vec<String> = (0..4)
        .map(|_| cluster.run_deployment(&server, "f/quick"))
        .collect();
    cluster.wait_until("the runs to be Running", WAIT, || {
        count_in(&cluster, &runs, "RUNNING") == runs.len()
    });

    let cut_at = Instant::now();
    cluster.cut(&worker);
    // The flows finish while their worker cannot tell the server.
    cluster.wait_until("the flows to finish", WAIT, || {
        runs.iter()
            .all(|run| cluster.ledger().count("done", run) == 1)
    });
    assert_eq!(
        count_in(&cluster, &runs, "RUNNING"),
        runs.len(),
        "the server heard of the ends through a cut link:\n{:#?}",
        cluster.runs()
    );
    assert!(
        cut_at.elapsed() < lease - Duration::from_secs(3),
        "the machine is too slow for this test: the link was cut for {:?} of a {lease:?} lease",
        cut_at.elapsed()
    );
    cluster.restore(&worker);

    cluster.wait_until("the runs to be reported Completed", WAIT, || {
        count_in(&cluster, &runs, "COMPLETED") == runs.len()
    });
    let ledger = cluster.ledger();
    for row in cluster.runs() {
        assert_eq!(row.run_count, 1, "{row:?} ran again");
        assert_eq!(row.worker.as_deref(), Some("worker-1"), "{row:?}");
        assert_eq!(cluster.times_in(&row.id, "RUNNING"), 1, "{row:?}");
        assert_eq!(ledger.count("start", &row.id), 1, "{ledger:#?}");
        assert_eq!(ledger.count("done", &row.id), 1, "{ledger:#?}");
        assert_eq!(ledger.count("stopped", &row.id), 0, "{ledger:#?}");
    }
}

#[test]
fn a_worker_cut_off_for_longer_than_a_lease_loses_its_runs_and_stops_its_copies() {
    let Some(mut cluster) = Cluster::start("long-cut") else {
        return;
    };
    cluster.postgres();
    let server = cluster.server(1, &["--worker-lease-seconds", "5"]);
    // Each flow waits for the test's go-ahead: the copies of the cut-off
    // worker are still running when its link returns.
    let gated = ledger_flow("while [ ! -e /ledger/go ]; do sleep 0.1; done");
    cluster.deploy(&server, "pool", &[("gated", &gated)]);
    let cut_off = cluster.worker(1, "pool", WORKER_ARGS);
    let runs: Vec<String> = (0..3)
        .map(|_| cluster.run_deployment(&server, "f/gated"))
        .collect();
    cluster.wait_until("worker-1 to run every run", WAIT, || {
        let ledger = cluster.ledger();
        runs.iter().all(|run| ledger.count("start", run) == 1)
            && count_in(&cluster, &runs, "RUNNING") == runs.len()
    });
    // The other worker starts once worker-1 holds every run.
    let rescuer = cluster.worker(2, "pool", WORKER_ARGS);
    cluster.cut(&cut_off);

    // The lease expires: the server Crashes the runs and retries them, and
    // worker-2 runs them while worker-1's copies run on, cut off.
    cluster.wait_until("the retries to run on worker-2", WAIT, || {
        let rows = cluster.runs();
        let ledger = cluster.ledger();
        rows.iter().all(|row| {
            row.state_type == "RUNNING"
                && row.run_count == 2
                && row.worker.as_deref() == Some("worker-2")
                && ledger.count("start", &row.id) == 2
        })
    });
    assert!(
        cluster
            .ledger()
            .lines
            .iter()
            .all(|line| !line.starts_with("stopped")),
        "a copy stopped while its worker was cut off, before anything told it to"
    );

    // Back online, worker-1 learns at its first heartbeat that the runs are
    // no longer its own, and stops its copies, reporting nothing.
    cluster.restore(&cut_off);
    cluster.wait_until("worker-1 to stop its copies", WAIT, || {
        let ledger = cluster.ledger();
        runs.iter().all(|run| ledger.count("stopped", run) == 1)
    });
    assert!(
        cluster
            .logs(&cut_off)
            .contains("is no longer this worker's: its lease expired"),
        "{}",
        cluster.logs(&cut_off)
    );
    cluster.touch("go");
    cluster.wait_until("the retries to complete", WAIT, || {
        count_in(&cluster, &runs, "COMPLETED") == runs.len()
    });

    let names = cluster.worker_names();
    let ledger = cluster.ledger();
    for row in cluster.runs() {
        assert_eq!(row.run_count, 2, "{row:?}");
        assert_eq!(row.worker.as_deref(), Some("worker-2"), "{row:?}");
        assert_eq!(
            ledger.count("done", &row.id),
            1,
            "finished twice: {ledger:#?}"
        );
        let by = |event| -> Vec<String> {
            ledger
                .workers(event, &row.id)
                .iter()
                .map(|id| names.get(id).cloned().unwrap_or_default())
                .collect()
        };
        assert_eq!(by("done"), ["worker-2"], "{ledger:#?}");
        assert_eq!(by("stopped"), ["worker-1"], "{ledger:#?}");
    }

    // worker-1 serves again: with worker-2 gone, it runs a new run.
    cluster.stop(&rescuer, 10);
    let next = cluster.run_deployment(&server, "f/gated");
    cluster.wait_until("worker-1 to run a new run", WAIT, || {
        cluster
            .runs()
            .iter()
            .any(|row| row.id == next && row.state_type == "COMPLETED")
    });
    let row = cluster
        .runs()
        .into_iter()
        .find(|row| row.id == next)
        .unwrap();
    assert_eq!(row.worker.as_deref(), Some("worker-1"), "{row:?}");
}
