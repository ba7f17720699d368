//! Retention pruning under load: seeds the real server's SQLite database with
//! a large history (as the `pages` bench does), ages it past the retention,
//! then prunes it with `orch server prune` while clients query the API, and
//! reports the pruning rate and the API latency before and during pruning.
//!
//! `cargo build --release -p orch-cli && cargo bench -p orch-e2e --bench prune`
//! Env: BENCH_RUNS (default 101600: about 100,000 of them finished),
//! BENCH_LOGS (default 1010000), BENCH_CLIENTS (default 2).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use orch_e2e::TestServer;
use orch_e2e::bench::env_number;
use orch_e2e::seed::{DAY_MICROS, register_deployments, run_id, seed_history};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Moves every run's times 60 days back (the server is stopped meanwhile).
async fn age(database: &std::path::Path) -> (i64, i64) {
    let options = SqliteConnectOptions::new()
        .filename(database)
        .busy_timeout(Duration::from_secs(30));
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .expect("open the database");
    let shift = 60 * DAY_MICROS;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE flow_runs SET state_timestamp = state_timestamp - {shift}, created_at = created_at - {shift}"
    )))
    .execute(&pool)
    .await
    .expect("age the runs");
    let counts: (i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM flow_runs WHERE state_type IN ('COMPLETED', 'FAILED', 'CRASHED', 'CANCELLED')), \
         (SELECT COUNT(*) FROM logs l JOIN flow_runs r ON r.id = l.flow_run_id \
          WHERE r.state_type IN ('COMPLETED', 'FAILED', 'CRASHED', 'CANCELLED'))",
    )
    .fetch_one(&pool)
    .await
    .expect("count");
    pool.close().await;
    counts
}

/// Queries the API in a loop until `stop`; returns each call's latency in ms.
async fn load(base: String, paths: Vec<String>, stop: Arc<AtomicBool>) -> Vec<f64> {
    let client = authorized_client(API_KEY.get().expect("the admin key is known"));
    let mut samples = Vec::new();
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        let path = &paths[i % paths.len()];
        i += 1;
        let started = Instant::now();
        let response = client
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("request");
        let status = response.status();
        let _ = response.bytes().await.expect("body");
        assert!(
            status.is_success() || status.as_u16() == 404,
            "{path}: {status}"
        );
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    samples
}

fn summary(samples: &mut [f64]) -> String {
    samples.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    format!(
        "{} calls, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        samples.len(),
        percentile(samples, 0.5),
        percentile(samples, 0.99),
        samples.last().copied().unwrap_or_default()
    )
}

/// The server's admin key, for the load clients.
static API_KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// An HTTP client sending `authorization: Bearer KEY` with every request.
fn authorized_client(key: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {key}").parse().expect("a header value"),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("an HTTP client")
}

/// Runs the API load for `seconds`, or while `during` runs.
async fn measure(
    base: &str,
    paths: &[String],
    clients: usize,
    during: impl std::future::Future<Output = ()>,
) -> Vec<f64> {
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..clients)
        .map(|_| tokio::spawn(load(base.to_string(), paths.to_vec(), Arc::clone(&stop))))
        .collect();
    during.await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("load task"));
    }
    all
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let runs = env_number("BENCH_RUNS", 101_600);
    let logs = env_number("BENCH_LOGS", 1_010_000);
    let clients = env_number("BENCH_CLIENTS", 2) as usize;

    let retention = ["--retention-runs-days", "30", "--prune-every", "24h"];
    let mut server = TestServer::start_with(&retention);
    let _dir = register_deployments(&server);
    let database = server.home().join("orch.db");
    server.stop();
    seed_history(&database, runs, logs).await;
    let (finished, finished_lines) = age(&database).await;
    println!(
        "aged every run 60 days: {finished} finished runs with {finished_lines} log lines are past a 30-day retention"
    );
    server.restart();

    // Unfinished runs (kept) and the lists a dashboard polls.
    let running = (0..runs)
        .map(|n| (n, (n * 7919) % 1000))
        .find(|(_, m)| (980..990).contains(m))
        .map(|(n, _)| run_id(n))
        .expect("a running run");
    let paths: Vec<String> = vec![
        "/api/flow-runs?limit=50".into(),
        "/api/flow-runs?state=running".into(),
        format!("/api/flow-runs/{running}"),
        format!("/api/flow-runs/{running}/logs"),
        "/api/overview".into(),
        "/api/deployments".into(),
    ];
    let base = server.url().to_string();
    API_KEY.set(server.admin_key()).expect("set once");

    let mut before = measure(
        &base,
        &paths,
        clients,
        tokio::time::sleep(Duration::from_secs(10)),
    )
    .await;
    println!(
        "API before pruning ({clients} clients): {}",
        summary(&mut before)
    );

    let dry = server.json(&["server", "prune", "--dry-run"]);
    println!("dry run: {dry}");
    let started = Instant::now();
    let home = server.home().to_path_buf();
    let prune = async {
        let output = tokio::process::Command::new(orch_e2e::binary("orch"))
            .args(["server", "prune", "--output", "json"])
            .env("ORCH_HOME", &home)
            .env("ORCH_API_URL", &base)
            .output()
            .await
            .expect("run orch server prune");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        println!("pruned: {}", String::from_utf8_lossy(&output.stdout).trim());
    };
    let mut during = measure(&base, &paths, clients, prune).await;
    let elapsed = started.elapsed().as_secs_f64();
    let status = server.json(&["server", "status"]);
    let pruned_runs = status["pruned_runs"].as_f64().unwrap_or_default();
    let pruned_lines = status["pruned_log_lines"].as_f64().unwrap_or_default();
    println!(
        "API during pruning ({clients} clients): {}",
        summary(&mut during)
    );
    println!(
        "pruned {pruned_runs} runs and {pruned_lines} log lines in {elapsed:.1} s: {:.0} runs/s, {:.0} log lines/s",
        pruned_runs / elapsed,
        pruned_lines / elapsed
    );
    let left = server.json(&["flow-run", "ls", "--limit", "500"]);
    println!(
        "left: {} runs listed (unfinished runs are kept)",
        left.as_array().map_or(0, Vec::len)
    );
}
