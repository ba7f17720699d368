//! Several servers on one PostgreSQL database, as clients see them: a
//! worker and CLI commands given every server's URL ride through the loss of
//! the one they use, and the limits that protect a server (bad API keys,
//! open streams per client) hold across the servers, however a client
//! spreads its requests.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use orch_e2e::{Daemon, TestServer, deployment_toml, flow_program, http_get_with};
use orch_testkit::fresh_database;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(90);

/// The `orch` command `args` run through `server`'s home (its credentials)
/// but given `urls`, every server's URL.
fn through(server: &TestServer, urls: &str, args: &[&str]) -> std::process::Command {
    let mut command = server.command(args);
    command.env("ORCH_API_URL", urls);
    command
}

/// The JSON events a `--output json` follower printed.
fn events(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON event ({e}): {line}"))
        })
        .collect()
}

/// The messages of the `log` events, in order.
fn logged(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|event| event["event"] == "log")
        .map(|event| event["log"]["message"].as_str().unwrap().to_owned())
        .collect()
}

/// Waits until each server shares its limits among `count` live replicas.
fn wait_for_replicas(servers: &[&TestServer], count: usize) {
    let deadline = Instant::now() + WAIT;
    for server in servers {
        loop {
            let status = server.json(&["server", "status"]);
            let live = status["replicas"].as_array().map_or(0, Vec::len);
            if live == count && status["limits_shared_by"] == count {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} sees {live} replicas, not {count}: {status}",
                server.url()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

#[test]
fn a_worker_and_followers_given_both_urls_ride_through_the_loss_of_the_server_they_use() {
    let database = fresh_database();
    let mut first = TestServer::start_on(database.url(), &[]);
    let second = TestServer::start_on(database.url(), &[]);
    let both = format!("{},{}", first.url(), second.url());
    let gate_dir = tempfile::tempdir().unwrap();
    let gate = gate_dir.path().join("go");
    // 150 lines, a wait for the gate, 150 more: the first half is written
    // through the first server, the second half after it died.
    let _dir = first.deploy(
        "pool",
        &deployment_toml(
            "relay",
            "halves",
            "pool",
            &[&flow_program("halves.sh"), gate.to_str().unwrap()],
            "",
        ),
    );
    let home = first.home().to_owned();
    let mut worker = Daemon::spawn(
        "worker",
        through(&first, &both, &["worker", "start", "--pool", "pool"]),
        &home,
    );
    let polling = worker.wait_for_line("polling pool", WAIT);
    assert!(
        polling.contains(&format!(
            "at {} (failing over to {})",
            first.url(),
            second.url()
        )),
        "{polling}"
    );
    let mut watch = Daemon::spawn(
        "watch",
        through(
            &first,
            &both,
            &[
                "deployment",
                "run",
                "relay/halves",
                "--watch",
                "--output",
                "json",
            ],
        ),
        &home,
    );
    let created: Value = serde_json::from_str(&watch.wait_for_line("\"created\"", WAIT)).unwrap();
    let run_id = created["run"]["id"].as_str().unwrap().to_owned();
    let mut follow = Daemon::spawn(
        "follow",
        through(
            &first,
            &both,
            &["flow-run", "logs", &run_id, "--follow", "--output", "json"],
        ),
        &home,
    );
    follow.wait_for_line("\"line 150\"", WAIT);
    watch.wait_for_line("\"line 150\"", WAIT);

    // The server all of them use is lost mid-run; then the flow goes on.
    first.kill();
    std::fs::write(&gate, "").unwrap();

    let detail = second.wait_for_state(&run_id, &["COMPLETED"], WAIT);
    let history: Vec<&str> = detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|state| state["type"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["SCHEDULED", "PENDING", "RUNNING", "COMPLETED"]);
    let expected: Vec<String> = (1..=300).map(|i| format!("line {i}")).collect();
    let stored = second.log_messages(&run_id);
    assert_eq!(stored, expected, "every line stored exactly once, in order");

    // logs --follow printed every line exactly once and ended with the run.
    let (status, lines) = follow.wait_for_exit(WAIT);
    assert!(status.success(), "follow failed: {}", follow.output());
    assert_eq!(logged(&events(&lines)), expected, "{}", follow.output());
    // --watch: every line once, each state once, and the final state.
    let (status, lines) = watch.wait_for_exit(WAIT);
    assert!(status.success(), "watch failed: {}", watch.output());
    let events = events(&lines);
    assert_eq!(logged(&events), expected);
    let states: Vec<&str> = events
        .iter()
        .filter(|event| event["event"] == "state")
        .map(|event| event["state"]["type"].as_str().unwrap())
        .collect();
    let distinct: BTreeSet<&&str> = states.iter().collect();
    assert_eq!(
        distinct.len(),
        states.len(),
        "a state printed twice: {states:?}"
    );
    assert_eq!(states.last(), Some(&"COMPLETED"), "{states:?}");
    let finished = events.last().unwrap();
    assert_eq!(finished["event"], "finished", "{finished}");
    assert_eq!(finished["run"]["state"]["type"], "COMPLETED", "{finished}");

    // Each of them was on the first server and moved to the second.
    let switched = format!("switching to {}", second.url());
    for (name, output) in [
        ("worker", worker.output()),
        ("follow", follow.output()),
        ("watch", watch.output()),
    ] {
        assert!(
            output.contains(&switched),
            "{name} did not fail over:\n{output}"
        );
    }
}

#[test]
fn a_client_given_several_urls_uses_the_first_that_answers_and_names_each_when_none_does() {
    let database = fresh_database();
    let server = TestServer::start_on(database.url(), &[]);
    let dead = format!("http://{}", unused_address());
    let urls = format!("{dead},{}", server.url());
    let output = through(&server, &urls, &["server", "status", "--output", "json"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let status: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(status["api_url"], server.url());

    let other = format!("http://{}", unused_address());
    let output = through(&server, &format!("{dead}, {other}"), &["flow-run", "ls"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "cannot reach any of the orch servers: {dead}: connection refused; {other}: connection refused"
        )),
        "{stderr}"
    );
}

/// A loopback address where nothing listens.
fn unused_address() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

#[test]
fn bad_keys_spread_over_two_servers_are_limited_as_on_one() {
    // orch_server::DEFAULT_AUTH_FAILURES_PER_MINUTE.
    const BUDGET: usize = 30;
    let database = fresh_database();
    let first = TestServer::start_on(database.url(), &[]);
    let second = TestServer::start_on(database.url(), &[]);
    wait_for_replicas(&[&first, &second], 2);

    // A client alternates between the servers with a wrong key until both
    // refuse it with 429. One server alone would have let BUDGET through.
    let start = Instant::now();
    let mut unauthorized = 0;
    let mut limited = [false, false];
    for attempt in 0..(3 * BUDGET) {
        let side = attempt % 2;
        let server = [&first, &second][side];
        let (code, body) =
            http_get_with(server.url(), "/api/v1/flow-runs", Some("orch_spread_wrong"));
        match code {
            401 => unauthorized += 1,
            429 => limited[side] = true,
            other => panic!("unexpected {other}: {body}"),
        }
        if limited == [true, true] {
            break;
        }
    }
    // The budget refills at BUDGET a minute: what the time taken refilled.
    let refilled = (BUDGET as f64 * start.elapsed().as_secs_f64() / 60.0).ceil() as usize;
    assert_eq!(limited, [true, true], "{unauthorized} answered 401");
    assert!(
        unauthorized <= BUDGET + refilled,
        "{unauthorized} bad keys answered 401 across two servers; the budget is {BUDGET} (+{refilled} refilled)"
    );

    // A valid key is still let in on both.
    for server in [&first, &second] {
        let (code, body) =
            http_get_with(server.url(), "/api/v1/flow-runs", Some(&first.admin_key()));
        assert_eq!(code, 200, "{body}");
    }
}

/// Opens the run's live stream (server-sent events) on `url` and holds it:
/// the answer's status code, and the connection (open while 200).
fn open_stream(url: &str, run: &str, key: &str) -> (u16, TcpStream) {
    let address = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET /api/v1/flow-runs/{run}/events HTTP/1.1\r\nHost: {address}\r\n\
         Authorization: Bearer {key}\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0_u8; 1];
    while !head.ends_with(b"\r\n") {
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "the connection closed");
        head.push(byte[0]);
    }
    let line = String::from_utf8_lossy(&head).into_owned();
    let code = line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not a status line: {line}"));
    (code, stream)
}

#[test]
fn open_streams_spread_over_two_servers_are_limited_as_on_one() {
    let limit = ["--max-streams-per-client", "2"];
    let database = fresh_database();
    let mut first = TestServer::start_on(database.url(), &limit);
    let second = TestServer::start_on(database.url(), &limit);
    // No worker: the run waits, and its live streams stay open.
    let _dir = first.deploy(
        "pool",
        &deployment_toml("idle", "waits", "pool", &[&flow_program("echo.sh")], ""),
    );
    let run = first.run_deployment("idle/waits", &[]);
    wait_for_replicas(&[&first, &second], 2);
    let key = first.admin_key();

    // Two streams in all: one on each server, not two on the first and two
    // more on the second.
    let (code, _held_on_first) = open_stream(first.url(), &run, &key);
    assert_eq!(code, 200);
    let (code, _) = open_stream(first.url(), &run, &key);
    assert_eq!(code, 429, "a second stream on the first server");
    let (code, _held_on_second) = open_stream(second.url(), &run, &key);
    assert_eq!(code, 200);
    let (code, _) = open_stream(second.url(), &run, &key);
    assert_eq!(code, 429, "a third stream across the servers");

    // The first server is lost: the second, alone now, allows the whole limit.
    first.kill();
    wait_for_replicas(&[&second], 1);
    let (code, _another) = open_stream(second.url(), &run, &key);
    assert_eq!(code, 200);
}
