//! Three servers on one PostgreSQL database lose one machine under load
//! (issue 24): 2,000 runs are created round-robin through the three while
//! the server holding every background duty is killed with SIGKILL and later
//! restarted. A client that loses its server sends the same request (same
//! idempotency key) to the next one, as `orch` clients do, so each of the
//! 2,000 creations is acknowledged once. Then:
//! - every acknowledged run ends Completed and executed exactly once (each
//!   execution appends the run's id to a ledger file);
//! - each background duty was taken by one replica at a time (the servers'
//!   logs say who took what) and moved to a survivor when its holder died;
//! - the scheduler created each slot of a 1-second schedule once.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use orch_e2e::{Daemon, TestServer, deployment_toml, flow_program, http_get_with};
use orch_testkit::fresh_database;
use serde_json::Value;

const RUNS: usize = 2_000;
/// Acknowledged creations before the duty holder is killed.
const KILL_AFTER: usize = 600;
/// Creations from this one on wait until the killed server is back.
const RESUME_AT: usize = 1_400;
const CREATORS: usize = 4;
const WAIT: Duration = Duration::from_secs(300);
const DUTIES: [&str; 5] = [
    "automation-conditions",
    "backup",
    "prune",
    "scheduler",
    "sweep",
];

/// One POST creating a run of `deployment` on the server at `url`; the new
/// run's id, or why it was not acknowledged (the server is down, died
/// mid-request, or is not ready).
fn create(url: &str, key: &str, deployment: &str, idempotency_key: &str) -> Result<String, String> {
    let address = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let body = format!("{{\"idempotency_key\": \"{idempotency_key}\"}}");
    write!(
        stream,
        "POST /api/v1/deployments/{deployment}/runs HTTP/1.1\r\nHost: {address}\r\n\
         Authorization: Bearer {key}\r\nConnection: close\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| format!("send: {e}"))?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| format!("read: {e}"))?;
    let status: u16 = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("no status line in {response:?}"))?;
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    match status {
        201 | 200 => {
            let run: Value = serde_json::from_str(body).map_err(|e| format!("{e}: {body}"))?;
            Ok(run["id"].as_str().expect("a run id").to_owned())
        }
        // Unavailable while starting or shutting down: another server takes it.
        500..=599 => Err(format!("{status}: {body}")),
        _ => panic!("creation refused with {status}: {body}"),
    }
}

/// Lines of the server logs that say a replica took a duty, per duty.
fn takeovers(log: &str) -> BTreeMap<String, usize> {
    let mut taken = BTreeMap::new();
    for line in log.lines() {
        if let Some(rest) = line.split("this replica now runs the ").nth(1) {
            let duty = rest.split(' ').next().unwrap_or_default().to_owned();
            *taken.entry(duty).or_insert(0) += 1;
        }
    }
    taken
}

fn count(server: &TestServer, key: &str, query: &str) -> u64 {
    let (status, body) = http_get_with(
        server.url(),
        &format!("/api/v1/flow-runs?{query}&limit=1"),
        Some(key),
    );
    assert_eq!(status, 200, "{body}");
    let page: Value = serde_json::from_str(&body).unwrap();
    page["total"].as_u64().expect("a total")
}

/// Every run of `deployment` (oldest pages last), through the REST API.
fn all_runs(server: &TestServer, key: &str, deployment: &str) -> Vec<Value> {
    let mut runs = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, body) = http_get_with(
            server.url(),
            &format!("/api/v1/flow-runs?deployment={deployment}&limit=1000{cursor}"),
            Some(key),
        );
        assert_eq!(status, 200, "{body}");
        let page: Value = serde_json::from_str(&body).unwrap();
        runs.extend(page["flow_runs"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return runs,
        }
    }
}

#[test]
fn three_servers_lose_the_duty_holder_to_sigkill_under_2000_creations_and_lose_no_run() {
    let database = fresh_database();
    // The first server starts alone and takes every duty.
    let mut servers: Vec<TestServer> = vec![TestServer::start_on(database.url(), &[])];
    servers.push(TestServer::start_on(database.url(), &[]));
    servers.push(TestServer::start_on(database.url(), &[]));
    let urls: Vec<String> = servers.iter().map(|s| s.url().to_owned()).collect();
    let key = servers[0].admin_key();

    let ledger_dir = tempfile::tempdir().unwrap();
    let ledger = ledger_dir.path().join("runs.txt");
    let ticks = ledger_dir.path().join("ticks.txt");
    let mut toml = deployment_toml(
        "ledger",
        "many",
        "pool",
        &[&flow_program("record.sh"), ledger.to_str().unwrap()],
        "",
    );
    toml.push_str(&deployment_toml(
        "ledger",
        "ticks",
        "pool",
        &[&flow_program("record.sh"), ticks.to_str().unwrap()],
        "[[deployments.schedules]]\nslug = \"every-second\"\ninterval_seconds = 1\n",
    ));
    let _deploy_dir = servers[0].deploy("pool", &toml);

    // A worker on each server, given every server's URL (its own first).
    let workers: Vec<Daemon> = (0..3)
        .map(|i| {
            let rotated: Vec<&str> = (0..3).map(|j| urls[(i + j) % 3].as_str()).collect();
            let mut command = servers[i].command(&[
                "worker",
                "start",
                "--pool",
                "pool",
                "--name",
                &format!("w{i}"),
            ]);
            command.env("ORCH_API_URL", rotated.join(","));
            let home = servers[i].home().to_owned();
            let mut worker = Daemon::spawn("worker", command, &home);
            worker.wait_for_line("polling pool", WAIT);
            worker
        })
        .collect();

    // Creators: run i goes to server i % 3, then to the next one until one
    // acknowledges it; from RESUME_AT on they wait for the restart.
    let next = Arc::new(AtomicUsize::new(0));
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::with_capacity(RUNS)));
    let restarted = Arc::new(AtomicBool::new(false));
    let failovers = Arc::new(AtomicUsize::new(0));
    let creators: Vec<_> = (0..CREATORS)
        .map(|_| {
            let (next, acknowledged, restarted, failovers) = (
                next.clone(),
                acknowledged.clone(),
                restarted.clone(),
                failovers.clone(),
            );
            let (urls, key) = (urls.clone(), key.clone());
            std::thread::spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= RUNS {
                        return;
                    }
                    while i >= RESUME_AT && !restarted.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    let idempotency_key = format!("scale-out-{i}");
                    let deadline = Instant::now() + WAIT;
                    let mut attempt = 0;
                    let id = loop {
                        let url = &urls[(i + attempt) % urls.len()];
                        match create(url, &key, "ledger/many", &idempotency_key) {
                            Ok(id) => break id,
                            Err(error) => {
                                failovers.fetch_add(1, Ordering::SeqCst);
                                assert!(
                                    Instant::now() < deadline,
                                    "run {i} never acknowledged: {error}"
                                );
                                attempt += 1;
                                if attempt % urls.len() == 0 {
                                    std::thread::sleep(Duration::from_millis(100));
                                }
                            }
                        }
                    };
                    acknowledged.lock().unwrap().push(id);
                }
            })
        })
        .collect();

    // The duty holder's machine is lost once KILL_AFTER runs are acknowledged.
    let deadline = Instant::now() + WAIT;
    while acknowledged.lock().unwrap().len() < KILL_AFTER {
        assert!(
            Instant::now() < deadline,
            "creation stalled before the kill"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let before_kill: Vec<String> = servers.iter().map(TestServer::daemon_output).collect();
    let first_log_file = std::fs::read_dir(servers[0].home())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with("server-"))
        })
        .expect("the first server's log file");
    servers[0].kill();
    let killed_at = acknowledged.lock().unwrap().len();

    // The survivors take its duties over (the leases lapse in 10 s); only
    // then does it come back, so the duties cannot go back to it.
    let deadline = Instant::now() + WAIT;
    loop {
        let mut held = BTreeMap::<String, usize>::new();
        for server in &servers[1..] {
            for (duty, _, mine) in server.duty_holders() {
                *held.entry(duty).or_default() += usize::from(mine);
            }
        }
        if DUTIES.iter().all(|duty| held.get(*duty) == Some(&1)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the duties did not move: {held:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let created_while_down = acknowledged.lock().unwrap().len() - killed_at;
    servers[0].restart();
    restarted.store(true, Ordering::SeqCst);
    for creator in creators {
        creator.join().expect("a creator thread panicked");
    }
    let acknowledged: Vec<String> = acknowledged.lock().unwrap().clone();
    assert_eq!(acknowledged.len(), RUNS);
    assert!(
        created_while_down > 0,
        "no run was created while the server was down"
    );
    assert!(
        failovers.load(Ordering::SeqCst) > 0,
        "no creation had to fail over: the kill was not under load"
    );

    // Every acknowledged run completes.
    let deadline = Instant::now() + WAIT;
    while count(&servers[1], &key, "deployment=ledger/many&state=completed") < RUNS as u64 {
        assert!(
            Instant::now() < deadline,
            "only {} of {RUNS} runs completed",
            count(&servers[1], &key, "deployment=ledger/many&state=completed")
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // Exactly the acknowledged runs exist (a retried creation returned the
    // first run), and each executed exactly once.
    let stored: BTreeSet<String> = all_runs(&servers[2], &key, "ledger/many")
        .iter()
        .map(|run| run["id"].as_str().unwrap().to_owned())
        .collect();
    let acknowledged_set: BTreeSet<String> = acknowledged.iter().cloned().collect();
    assert_eq!(acknowledged_set.len(), RUNS, "a run acknowledged twice");
    assert_eq!(
        stored, acknowledged_set,
        "runs that nobody acknowledged exist"
    );
    let executions = std::fs::read_to_string(&ledger).unwrap();
    let mut executed = BTreeMap::<&str, usize>::new();
    for line in executions.lines() {
        *executed.entry(line).or_default() += 1;
    }
    let twice: Vec<_> = executed.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "runs executed more than once: {twice:?}");
    assert_eq!(
        executed
            .keys()
            .map(|id| id.to_string())
            .collect::<BTreeSet<_>>(),
        acknowledged_set,
        "the ledger holds exactly the acknowledged runs"
    );

    // The duties: the first server took each once, nobody else before the
    // kill; after it, exactly one survivor took each; the restarted server
    // took none (and nobody lost one to another replica: no flapping).
    let first_log = std::fs::read_to_string(&first_log_file).unwrap();
    let first_taken = takeovers(&first_log);
    for duty in DUTIES {
        assert_eq!(first_taken.get(duty), Some(&1), "{duty}: {first_taken:?}");
    }
    for output in &before_kill[1..] {
        assert!(
            takeovers(output).is_empty(),
            "a duty was taken twice:\n{output}"
        );
    }
    let mut after = BTreeMap::<String, usize>::new();
    for server in &servers {
        let output = server.daemon_output();
        assert!(
            !output.contains("this replica no longer runs the"),
            "a duty changed hands between live replicas:\n{output}"
        );
        for (duty, n) in takeovers(&output) {
            *after.entry(duty).or_default() += n;
        }
    }
    assert!(
        takeovers(&servers[0].daemon_output()).is_empty(),
        "the restarted server took a duty back"
    );
    for duty in DUTIES {
        assert_eq!(
            after.get(duty),
            Some(&1),
            "{duty} after the kill: {after:?}"
        );
    }

    // The 1-second schedule: each slot has one run, and each slot's run
    // that ran, ran once.
    let tick_runs = all_runs(&servers[1], &key, "ledger/ticks");
    let mut slots = BTreeMap::<String, usize>::new();
    for run in &tick_runs {
        *slots
            .entry(run["expected_start"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert!(
        slots.len() >= 10,
        "the schedule made too few runs: {slots:?}"
    );
    let doubled: Vec<_> = slots.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "slots created twice: {doubled:?}");
    let tick_lines = std::fs::read_to_string(&ticks).unwrap_or_default();
    let tick_ids: Vec<&str> = tick_lines.lines().collect();
    let distinct: BTreeSet<&&str> = tick_ids.iter().collect();
    assert_eq!(
        distinct.len(),
        tick_ids.len(),
        "a scheduled run executed twice"
    );
    eprintln!(
        "scale-out: {RUNS} runs acknowledged ({created_while_down} while the duty holder was down, \
         {} failed-over requests), {} scheduled slots, duties after the kill: {after:?}",
        failovers.load(Ordering::SeqCst),
        slots.len()
    );
    drop(workers);
}
