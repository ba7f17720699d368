//! What the benchmarks in `tests/benches/` share: their settings from the
//! environment and the machine's load, printed beside every figure.

/// The number in the environment variable `name` (`BENCH_RUNS=2000`), or
/// `default` when it is unset or not a number.
pub fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The load average over 1, 5 and 15 minutes (`/proc/loadavg`), to print
/// beside a figure taken on a shared machine.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}
