//! The cost of flow isolation per run: starting and reaping a trivial flow
//! (`true`) directly, as `--isolation none` does, against starting it
//! through `orch __sandbox` (mount, PID and user namespaces, `$ORCH_HOME`
//! hidden, a fresh `/proc`), as `--isolation namespaces` does. The rest of
//! a run's path (claim, logs, states) is the same in both modes, so the
//! difference is what isolation adds to a run's end-to-end time.
//!
//! `cargo bench -p orch-e2e --bench isolation` (BENCH_RUNS=200); build the
//! binaries first (`cargo build --release -p orch-cli` for release figures,
//! with `ORCH_BIN=target/release/orch`).

use std::process::{Command, Stdio};
use std::time::Instant;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

/// Milliseconds each of `runs` runs of `command` took, sorted.
fn measure(runs: usize, mut command: impl FnMut() -> Command) -> Vec<f64> {
    let mut samples: Vec<f64> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            let status = command()
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .status()
                .expect("the program starts");
            assert!(status.success(), "{status}");
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples
}

fn report(name: &str, samples: &[f64]) {
    println!(
        "{name:<44} n={}  p50={:8.2} ms  p90={:8.2} ms  p99={:8.2} ms",
        samples.len(),
        percentile(samples, 0.5),
        percentile(samples, 0.9),
        percentile(samples, 0.99)
    );
}

fn main() {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    let orch = std::env::var_os("ORCH_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| orch_e2e::binary("orch"));
    let home = tempfile::tempdir().expect("a home to hide");
    std::fs::write(home.path().join("credentials"), "hidden").unwrap();
    let probe = Command::new(&orch)
        .args(["__sandbox", "--probe", "--"])
        .status()
        .expect("orch runs");
    if !probe.success() {
        println!("SKIPPED: namespaces are not available on this host ({probe})");
        return;
    }
    println!(
        "orch isolation benchmark: {runs} trivial flows (`true`), {}",
        orch.display()
    );
    let direct = measure(runs, || Command::new("true"));
    let sandboxed = measure(runs, || {
        let mut command = Command::new(&orch);
        command
            .args(["__sandbox", "--hide"])
            .arg(home.path())
            .args(["--", "true"]);
        command
    });
    report("--isolation none: spawn + reap `true`", &direct);
    report("namespaces through `orch __sandbox`", &sandboxed);
    println!(
        "added per run by `orch __sandbox`: p50 {:.2} ms, p90 {:.2} ms",
        percentile(&sandboxed, 0.5) - percentile(&direct, 0.5),
        percentile(&sandboxed, 0.9) - percentile(&direct, 0.9)
    );
    // What the worker uses when `orch-sandbox` sits beside `orch`.
    let small = orch.with_file_name("orch-sandbox");
    if small.is_file() {
        let sandboxed = measure(runs, || {
            let mut command = Command::new(&small);
            command.arg("--hide").arg(home.path()).args(["--", "true"]);
            command
        });
        report("namespaces through `orch-sandbox`", &sandboxed);
        println!(
            "added per run by `orch-sandbox` (the worker's choice): p50 {:.2} ms, p90 {:.2} ms",
            percentile(&sandboxed, 0.5) - percentile(&direct, 0.5),
            percentile(&sandboxed, 0.9) - percentile(&direct, 0.9)
        );
    }
}
