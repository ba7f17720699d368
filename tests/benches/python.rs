//! The Python SDK through a real server and worker: the per-task overhead of
//! a Python task reporting to the server (sdks/python/benches/overhead.py
//! run as a deployment, which prints µs per task), and the end-to-end time of
//! a 100-task `.map` flow (`tests/fixtures/python/flows.py:mapped`), from
//! `deployment run` to Completed.
//!
//! `cargo bench -p orch-e2e --bench python` (BENCH_RUNS=10 BENCH_TASKS=10000);
//! the SDK is built and installed as by `tests/e2e/python.rs` (debug), or
//! `BENCH_PYTHON=path/to/venv/bin/python` names an interpreter with a release
//! build installed (`maturin build --release -m sdks/python/Cargo.toml`).

#[path = "../e2e/python/setup.rs"]
mod setup;

use std::time::{Duration, Instant};

use orch_e2e::bench::env_number;
use orch_e2e::{TestServer, deployment_toml, fixtures, state_type};

fn main() {
    let runs = env_number("BENCH_RUNS", 10);
    let tasks = env_number("BENCH_TASKS", 10_000);
    let python =
        std::env::var("BENCH_PYTHON").unwrap_or_else(|_| setup::python().display().to_string());
    let overhead = setup::repo().join("sdks/python/benches/overhead.py");
    let flows = fixtures().join("python/flows.py");
    let server = TestServer::start();
    let toml = deployment_toml(
        "bench",
        "overhead",
        "pool",
        &[&python, overhead.to_str().unwrap(), &tasks.to_string()],
        "",
    ) + &deployment_toml(
        "bench",
        "mapped",
        "pool",
        &[
            &python,
            "-m",
            "orch",
            "run",
            &format!("{}:mapped", flows.display()),
        ],
        "",
    );
    let _dir = server.deploy("pool", &toml);
    let _worker = server.start_worker("pool", &[]);

    let run = server.run_deployment("bench/overhead", &[]);
    let detail = server.wait_for_state(
        &run,
        &["COMPLETED", "FAILED", "CRASHED"],
        Duration::from_secs(600),
    );
    assert_eq!(state_type(&detail), "COMPLETED", "{detail:#}");
    for line in server.log_messages(&run) {
        if line.contains("per task") {
            println!("reporting to the server: {line}");
        }
    }

    let mut samples: Vec<f64> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            let run = server.run_deployment("bench/mapped", &[]);
            let detail = server.wait_for_state(
                &run,
                &["COMPLETED", "FAILED", "CRASHED"],
                Duration::from_secs(120),
            );
            assert_eq!(state_type(&detail), "COMPLETED", "{detail:#}");
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    println!(
        "100-task .map flow, deployment run -> Completed: n={runs} p50={:.0} ms max={:.0} ms",
        samples[samples.len() / 2],
        samples[samples.len() - 1]
    );
}
