//! Clients that stop reading hold nothing the server needs: four
//! `logs --follow` whose output nobody reads, while 100 runs are created and
//! executed and the API keeps answering.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use orch_e2e::{TestServer, deployment_toml, flow_program};

use super::http::request;

const WAIT: Duration = Duration::from_secs(120);

/// A follower whose stdout is a pipe nobody reads: once the pipe is full it
/// blocks on writing and stops reading its stream.
struct StalledFollower(Child);

impl Drop for StalledFollower {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn four_stalled_followers_do_not_stall_the_server() {
    let server = TestServer::start();
    let stop_dir = tempfile::tempdir().unwrap();
    let stop = stop_dir.path().join("stop");
    let chatty = deployment_toml(
        "f",
        "chatty",
        "pool",
        &[&flow_program("chatty.sh"), stop.to_str().unwrap()],
        "",
    );
    let quick = deployment_toml("f", "quick", "pool", &["true"], "");
    let _dir = server.deploy("pool", &format!("{chatty}\n{quick}"));
    let _worker = server.start_worker("pool", &["--heartbeat-seconds", "1"]);

    let chatty_run = server.run_deployment("f/chatty", &[]);
    server.wait_for_state(&chatty_run, &["RUNNING"], WAIT);
    let followers: Vec<StalledFollower> = (0..4)
        .map(|_| {
            let child = server
                .command(&["flow-run", "logs", &chatty_run, "--follow"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("start a follower");
            StalledFollower(child)
        })
        .collect();
    // Let the followers fill their pipes and stall.
    std::thread::sleep(Duration::from_secs(3));

    let mut latencies = Vec::new();
    let mut runs = Vec::new();
    for _ in 0..100 {
        let started = Instant::now();
        let answer = request(&server, "POST", "/api/deployments/f/quick/runs", b"{}");
        latencies.push(started.elapsed());
        assert_eq!(answer.status, 201, "{}", answer.body);
        runs.push(answer.json()["id"].as_str().unwrap().to_owned());
        let started = Instant::now();
        let answer = request(&server, "GET", "/api/flow-runs?limit=20", b"");
        latencies.push(started.elapsed());
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    for run in &runs {
        let detail = server.wait_for_state(run, &["COMPLETED", "FAILED", "CRASHED"], WAIT);
        assert_eq!(orch_e2e::state_type(&detail), "COMPLETED", "{detail:#}");
    }
    // The CLI and the worker's heartbeats got through all along.
    server.ok(&["flow-run", "ls"]);
    let workers = server.json(&["worker", "ls"]);
    assert_eq!(workers[0]["status"], "online", "{workers:#}");
    latencies.sort();
    let p99 = latencies[latencies.len() * 99 / 100];
    // Recorded in docs/benchmarks.md, not asserted: timing depends on the machine.
    println!(
        "API latency with four stalled followers: p50 {:?}, p99 {p99:?}, max {:?} ({} requests)",
        latencies[latencies.len() / 2],
        latencies.last().unwrap(),
        latencies.len()
    );
    std::fs::write(&stop, "").unwrap();
    drop(followers);
}

#[test]
fn a_client_gets_a_clear_refusal_past_its_stream_limit() {
    let server = TestServer::start_with(&["--max-streams-per-client", "2"]);
    let stop_dir = tempfile::tempdir().unwrap();
    let stop = stop_dir.path().join("stop");
    let _dir = server.deploy(
        "pool",
        &deployment_toml(
            "f",
            "chatty",
            "pool",
            &[&flow_program("chatty.sh"), stop.to_str().unwrap()],
            "",
        ),
    );
    let run = server.run_deployment("f/chatty", &[]);
    let followers: Vec<StalledFollower> = (0..2)
        .map(|_| {
            StalledFollower(
                server
                    .command(&["flow-run", "logs", &run, "--follow"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap(),
            )
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    // The third stream of this client is refused, with the reason, at once.
    let mut third = server
        .command(&["flow-run", "logs", &run, "--follow"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while third.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = third.kill();
            panic!("a third stream of the same client was not refused");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = third.wait_with_output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("too many open streams"), "{stderr}");
    assert!(stderr.contains("at most 2"), "{stderr}");
    // The REST live stream counts against the same limit, as a JSON 429.
    let answer = request(&server, "GET", &format!("/api/flow-runs/{run}/events"), b"");
    assert_eq!(answer.status, 429, "{}", answer.body);
    assert!(
        answer.json()["error"]
            .as_str()
            .unwrap()
            .contains("too many open streams")
    );
    drop(followers);
    std::fs::write(&stop, "").unwrap();
}
