//! The cost of flow isolation per run: starting and reaping a trivial flow
//! (`true`) directly, as `--isolation none` does, against starting it
//! through the sandbox (`orch-sandbox`, and `orch __sandbox`) in each mode:
//! `namespaces` (mount, PID and user namespaces, `$ORCH_HOME` hidden, a
//! fresh `/proc`), `landlock` (Landlock file rules leaving `$ORCH_HOME`
//! out) and `namespaces+landlock` (what `auto` picks on a kernel with
//! Landlock ABI 6: namespaces plus Landlock scopes). The rest of a run's
//! path (claim, logs, states) is the same in every mode, so the difference
//! is what isolation adds to a run's end-to-end time.
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

/// A command running `true` through `sandbox` (the program and any
/// subcommand) with `mode`'s flags, `home` hidden.
fn sandboxed(sandbox: &[std::ffi::OsString], mode: &[&str], home: &std::path::Path) -> Command {
    let mut command = Command::new(&sandbox[0]);
    command
        .args(&sandbox[1..])
        .args(mode)
        .arg("--hide")
        .arg(home)
        .args(["--", "true"]);
    command
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
    println!(
        "orch isolation benchmark: {runs} trivial flows (`true`), {}",
        orch.display()
    );
    let direct = measure(runs, || Command::new("true"));
    report("--isolation none: spawn + reap `true`", &direct);
    // What the worker uses: `orch-sandbox` beside `orch`, else `orch __sandbox`.
    let small = orch.with_file_name("orch-sandbox");
    let mut sandboxes = vec![(
        "orch __sandbox",
        vec![orch.clone().into_os_string(), "__sandbox".into()],
    )];
    if small.is_file() {
        sandboxes.push(("orch-sandbox", vec![small.into_os_string()]));
    }
    let modes: [(&str, &[&str]); 3] = [
        ("namespaces", &["--namespaces"]),
        ("landlock", &["--landlock"]),
        ("namespaces+landlock", &["--namespaces", "--landlock"]),
    ];
    for (program, sandbox) in &sandboxes {
        for (mode, flags) in modes {
            let probe = sandboxed(sandbox, flags, home.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("the sandbox runs");
            if !probe.success() {
                println!(
                    "SKIPPED {mode} through `{program}`: not available on this host ({probe})"
                );
                continue;
            }
            let samples = measure(runs, || sandboxed(sandbox, flags, home.path()));
            report(&format!("{mode} through `{program}`"), &samples);
            println!(
                "  added per run: p50 {:.2} ms, p90 {:.2} ms",
                percentile(&samples, 0.5) - percentile(&direct, 0.5),
                percentile(&samples, 0.9) - percentile(&direct, 0.9)
            );
        }
    }
}
