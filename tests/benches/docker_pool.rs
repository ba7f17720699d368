//! What a `docker` pool adds to a run's latency over a `process` pool: the
//! same trivial flow (`true`) run N times on each, one at a time, on one
//! server. The intervals come from the server's own state timestamps
//! (created -> Pending -> Running -> Completed), so the bench's polling does
//! not count. Claim and reporting are the same for both pools; the
//! difference is starting, watching and removing a container.
//!
//! `cargo bench -p orch-e2e --bench docker_pool` (BENCH_RUNS=20); needs a
//! Docker engine (skipped otherwise) and the `orch` binary built.

use std::time::Duration;

use chrono::DateTime;
use orch_e2e::{TestServer, deployment_toml, write_deploy_file};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

/// Microseconds since the epoch of an RFC 3339 timestamp.
fn micros(value: &Value) -> i64 {
    DateTime::parse_from_rfc3339(value.as_str().expect("a timestamp"))
        .expect("RFC 3339")
        .timestamp_micros()
}

/// (created -> Running, Running -> Completed, created -> Completed) of one run, in ms.
fn intervals(detail: &Value) -> (f64, f64, f64) {
    let history = detail["history"].as_array().expect("history");
    let at = |kind: &str| {
        history
            .iter()
            .find(|state| state["type"].as_str() == Some(kind))
            .map(|state| micros(&state["timestamp"]))
            .unwrap_or_else(|| panic!("no {kind} state: {detail:#}"))
    };
    let created = micros(&detail["created_at"]);
    let (running, completed) = (at("RUNNING"), at("COMPLETED"));
    let ms = |from: i64, to: i64| (to - from) as f64 / 1000.0;
    (
        ms(created, running),
        ms(running, completed),
        ms(created, completed),
    )
}

/// Runs `deployment` `runs` times, one at a time; returns the three interval lists, sorted.
fn measure(server: &TestServer, deployment: &str, runs: usize) -> [Vec<f64>; 3] {
    let mut samples: [Vec<f64>; 3] = Default::default();
    for _ in 0..runs {
        let run = server.run_deployment(deployment, &[]);
        let detail = server.wait_for_state(&run, &["COMPLETED", "FAILED", "CRASHED"], WAIT);
        assert_eq!(orch_e2e::state_type(&detail), "COMPLETED", "{detail:#}");
        let (start, execute, total) = intervals(&detail);
        samples[0].push(start);
        samples[1].push(execute);
        samples[2].push(total);
    }
    for list in &mut samples {
        list.sort_by(f64::total_cmp);
    }
    samples
}

fn report(pool: &str, samples: &[Vec<f64>; 3]) {
    for (name, list) in [
        "created -> Running",
        "Running -> Completed",
        "created -> Completed",
    ]
    .iter()
    .zip(samples)
    {
        println!(
            "{pool:<8} {name:<22} n={}  p50={:8.1} ms  p90={:8.1} ms",
            list.len(),
            percentile(list, 0.5),
            percentile(list, 0.9)
        );
    }
}

fn main() {
    if !orch_e2e::docker::engine() {
        return;
    }
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20);
    let image = orch_e2e::docker::test_image();
    let server = TestServer::start();
    server.ok(&["work-pool", "create", "local"]);
    server.ok(&[
        "work-pool",
        "create",
        "boxes",
        "--type",
        "docker",
        "--image",
        image,
        "--pull-policy",
        "never",
    ]);
    let dir = tempfile::tempdir().expect("deploy dir");
    let text = format!(
        "{}\n{}",
        deployment_toml("trivial", "process", "local", &["true"], ""),
        deployment_toml("trivial", "docker", "boxes", &["/bin/true"], "")
    );
    let path = write_deploy_file(dir.path(), "orch.toml", &text);
    server.ok(&["deploy", path.to_str().expect("UTF-8 path")]);
    let _process = server.start_worker("local", &[]);
    let _docker = server.start_worker("boxes", &[]);
    println!("orch docker-pool benchmark: {runs} runs of `true` per pool, one at a time");
    // One of each first, so that neither pays a cold start in the figures.
    measure(&server, "trivial/process", 1);
    measure(&server, "trivial/docker", 1);
    let process = measure(&server, "trivial/process", runs);
    let docker = measure(&server, "trivial/docker", runs);
    report("process", &process);
    report("docker", &docker);
    println!(
        "added by the docker pool (created -> Completed): p50 {:.1} ms, p90 {:.1} ms",
        percentile(&docker[2], 0.5) - percentile(&process[2], 0.5),
        percentile(&docker[2], 0.9) - percentile(&process[2], 0.9)
    );
}
