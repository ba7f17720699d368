//! At most once: no flow body runs twice when its worker is killed with
//! `kill -9`, or when the server is stopped for longer than the lease.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use orch_e2e::{TestServer, deployment_toml, flow_program, state_type};

const WAIT: Duration = Duration::from_secs(120);

/// How many times each `KIND RUN` line was appended to `file` by `once.sh`.
fn tally(file: &Path) -> BTreeMap<(String, String), usize> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let mut counts = BTreeMap::new();
    for line in text.lines() {
        if let Some((kind, run)) = line.split_once(' ') {
            *counts.entry((kind.to_owned(), run.to_owned())).or_default() += 1;
        }
    }
    counts
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_worker_killed_with_sigkill_takes_its_flows_with_it_and_each_body_runs_once() {
    let server = TestServer::start_with(&["--worker-lease-seconds", "3"]);
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("bodies");
    let _dir = server.deploy(
        "pool",
        &deployment_toml(
            "f",
            "once",
            "pool",
            &[&flow_program("once.sh"), file.to_str().unwrap(), "4"],
            "retries = 1\nretry_delay_seconds = 0",
        ),
    );
    let mut first = server.start_worker("pool", &["--heartbeat-seconds", "1"]);
    let runs: Vec<String> = (0..5)
        .map(|_| server.run_deployment("f/once", &[]))
        .collect();
    wait_until("all five bodies started", || {
        let counts = tally(&file);
        runs.iter()
            .all(|run| counts.contains_key(&("start".to_owned(), run.clone())))
    });
    first.kill();
    // A new worker on the same host: it kills what the dead one left behind
    // (the bodies' helpers) and, once the leases expire, runs them again.
    let _second = server.start_worker("pool", &["--heartbeat-seconds", "1"]);
    for run in &runs {
        let detail = server.wait_for_state(run, &["COMPLETED", "FAILED", "CRASHED"], WAIT);
        assert_eq!(state_type(&detail), "COMPLETED", "{detail:#}");
    }
    // Past the time the first attempts' processes would have finished.
    std::thread::sleep(Duration::from_secs(5));
    let counts = tally(&file);
    for run in &runs {
        for kind in ["end", "helper"] {
            assert_eq!(
                counts.get(&(kind.to_owned(), run.clone())),
                Some(&1),
                "run {run}: its body must finish exactly once ({kind}); the file says {counts:?}"
            );
        }
        assert_eq!(
            counts.get(&("start".to_owned(), run.clone())),
            Some(&2),
            "{counts:?}"
        );
    }
}

#[test]
fn a_server_stopped_for_twice_the_lease_runs_nothing_twice() {
    let mut server = TestServer::start_with(&["--worker-lease-seconds", "3"]);
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("bodies");
    let _dir = server.deploy(
        "pool",
        &deployment_toml(
            "f",
            "once",
            "pool",
            &[&flow_program("once.sh"), file.to_str().unwrap(), "2"],
            "retries = 2\nretry_delay_seconds = 0",
        ),
    );
    let _worker = server.start_worker("pool", &["--heartbeat-seconds", "1"]);
    let runs: Vec<String> = (0..3)
        .map(|_| server.run_deployment("f/once", &[]))
        .collect();
    for run in &runs {
        server.wait_for_state(run, &["RUNNING"], WAIT);
    }
    // Stopped while the bodies run and finish: their workers' heartbeats and
    // final reports wait in the server's socket queue.
    server.signal("STOP");
    std::thread::sleep(Duration::from_secs(6));
    server.signal("CONT");
    for run in &runs {
        let detail = server.wait_for_state(run, &["COMPLETED", "FAILED", "CRASHED"], WAIT);
        assert_eq!(state_type(&detail), "COMPLETED", "{detail:#}");
        let run_detail = detail.get("run").unwrap_or(&detail);
        assert_eq!(
            run_detail["run_count"], 1,
            "run {run} ran more than once: {detail:#}"
        );
    }
    std::thread::sleep(Duration::from_secs(3));
    let counts = tally(&file);
    for run in &runs {
        assert_eq!(
            counts.get(&("end".to_owned(), run.clone())),
            Some(&1),
            "{counts:?}"
        );
        assert_eq!(
            counts.get(&("start".to_owned(), run.clone())),
            Some(&1),
            "{counts:?}"
        );
    }
    server.stop();
}
