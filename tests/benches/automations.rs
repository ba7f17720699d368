//! Automation latency on loopback, against the real `orch` binary: from a
//! run's state change (the time the server recorded it) to the receiver's
//! request, over N firings. Each firing is a run cancelled before it starts
//! (Scheduled -> Cancelled), matched by a `run-state` automation with a
//! webhook action to an HTTP receiver on loopback.
//!
//! `cargo bench -p orch-e2e --bench automations` (uses the `orch` binary of
//! the same profile: build it first with `cargo build --release -p orch-cli`).
//! Env: BENCH_FIRINGS (default 200), BENCH_DATABASE (`sqlite`, the default,
//! or `postgres`).

use std::time::{Duration, UNIX_EPOCH};

use orch_e2e::receivers::HttpReceiver;
use orch_e2e::{Backend, TestServer, deployment_toml, flow_program, http_post};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn main() {
    let firings: usize = std::env::var("BENCH_FIRINGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let backend = match std::env::var("BENCH_DATABASE").as_deref() {
        Ok("postgres") => Backend::Postgres,
        _ => Backend::Sqlite,
    };
    let receiver = HttpReceiver::start();
    let server = TestServer::start_for(backend);
    let toml = format!(
        "{}\n[[automations]]\nname = \"cancelled\"\ntrigger = {{ type = \"run-state\", states = [\"Cancelled\"] }}\n\
         actions = [ {{ type = \"webhook\", url = \"{}/hook\" }} ]\n",
        deployment_toml("bench", "d", "pool", &[&flow_program("echo.sh")], ""),
        receiver.url()
    );
    let _dir = server.deploy("pool", &toml);
    let key = server.admin_key();
    let mut latencies = Vec::with_capacity(firings);
    for i in 0..firings {
        let (status, body) = http_post(
            server.url(),
            "/api/deployments/bench/d/runs",
            "{}",
            Some(&key),
        );
        assert!(status < 300, "{body}");
        let run: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        let id = run["id"]
            .as_str()
            .or_else(|| run["run"]["id"].as_str())
            .expect("a run id")
            .to_owned();
        let (status, body) = http_post(
            server.url(),
            &format!("/api/flow-runs/{id}/cancel"),
            "",
            Some(&key),
        );
        assert!(status < 300, "{body}");
        let request = receiver
            .wait_for(i + 1, Duration::from_secs(30))
            .pop()
            .expect("a request");
        let payload = request.json();
        assert_eq!(payload["flow_run"]["id"], id.as_str());
        let changed = chrono::DateTime::parse_from_rfc3339(
            payload["at"].as_str().expect("the state change time"),
        )
        .expect("RFC 3339")
        .timestamp_micros();
        let arrived = request
            .at_system
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_micros() as i64;
        latencies.push((arrived - changed) as f64 / 1000.0);
    }
    latencies.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    println!(
        "automation state change -> receiver ({}, webhook)  n={}  p50={:.2} ms  p90={:.2} ms  p99={:.2} ms  max={:.2} ms",
        backend.as_str(),
        latencies.len(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.90),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default()
    );
}
