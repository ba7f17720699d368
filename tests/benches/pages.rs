//! Page speed with a large history: seeds the real server's SQLite database
//! with 100,000 flow runs (400,000 states) and 1,000,000 log lines by bulk SQL,
//! then times every dashboard page and API list call over HTTP (p50/p99/max).
//!
//! `cargo build --release -p orch-cli && cargo bench -p orch-e2e --bench pages`
//! Env: BENCH_RUNS (default 100000), BENCH_LOGS (default 1000000), BENCH_ITERATIONS (default 50).

use std::time::{Duration, Instant};

use orch_e2e::{TestServer, deployment_toml};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

const DAY_MICROS: i64 = 86_400_000_000;
/// Lines of the one big run (the rest are spread 9 per run).
const BIG_RUN_LINES: i64 = 100_009;

fn env_number(name: &str, default: i64) -> i64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The id of the n-th seeded run (uuid-shaped, distinct 8-character prefixes).
fn run_id(n: i64) -> String {
    format!("{n:08x}-0000-4000-8000-{n:012}")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn seed(database: &std::path::Path, runs: i64, logs: i64) {
    let options = SqliteConnectOptions::new()
        .filename(database)
        .busy_timeout(Duration::from_secs(30));
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .expect("open the server's database");
    let now = chrono::Utc::now().timestamp_micros();
    let spacing = 30 * DAY_MICROS / runs.max(1);
    let started = Instant::now();
    let mut tx = pool.begin().await.expect("transaction");
    // Deterministic spread: m = (n * 7919) % 1000 picks the state, n orders creation (n = 0 newest).
    let runs_sql = format!(
        "WITH RECURSIVE seq(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM seq WHERE n < {last}), \
         d AS (SELECT id, flow_id, work_pool_id, tags, ROW_NUMBER() OVER (ORDER BY id) - 1 AS k FROM deployments), \
         nd AS (SELECT COUNT(*) AS c FROM deployments), \
         r AS (SELECT n, (n * 7919) % 1000 AS m, {now} - n * {spacing} AS created FROM seq) \
         INSERT INTO flow_runs (id, name, flow_id, deployment_id, work_pool_id, parameters, tags, state_type, \
           state_name, state_message, state_timestamp, expected_start, start_time, end_time, run_count, \
           worker_id, exit_code, idempotency_key, created_at, updated_at) \
         SELECT printf('%08x-0000-4000-8000-%012d', r.n, r.n), 'bench-' || r.n, d.flow_id, d.id, d.work_pool_id, \
           '{{\"day\": \"2024-01-01\", \"force\": false}}', d.tags, \
           CASE WHEN m < 850 THEN 'COMPLETED' WHEN m < 930 THEN 'FAILED' WHEN m < 950 THEN 'CRASHED' \
                WHEN m < 980 THEN 'CANCELLED' WHEN m < 990 THEN 'RUNNING' ELSE 'SCHEDULED' END, \
           CASE WHEN m < 850 THEN 'Completed' WHEN m < 930 THEN 'Failed' WHEN m < 950 THEN 'Crashed' \
                WHEN m < 980 THEN 'Cancelled' WHEN m < 990 THEN 'Running' WHEN m < 995 THEN 'Scheduled' ELSE 'Late' END, \
           CASE WHEN m >= 850 AND m < 950 THEN 'exit code 1: upstream returned 503' ELSE '' END, \
           r.created + 1000000, \
           CASE WHEN m >= 990 AND m < 995 THEN {now} + r.n * 1000000 ELSE r.created END, \
           CASE WHEN m < 990 THEN r.created + (r.n * 31) % 2000000 END, \
           CASE WHEN m < 980 THEN r.created + (r.n * 31) % 2000000 + ((r.n * 97) % 600 + 1) * 1000000 END, \
           CASE WHEN m < 990 THEN 1 ELSE 0 END, NULL, \
           CASE WHEN m < 850 THEN 0 WHEN m < 930 THEN 1 END, NULL, r.created, r.created \
         FROM r JOIN d ON d.k = r.n % (SELECT c FROM nd)",
        last = runs - 1,
    );
    sqlx::query(sqlx::AssertSqlSafe(runs_sql))
        .execute(&mut *tx)
        .await
        .expect("seed flow runs");
    sqlx::query(
        "INSERT INTO flow_run_states (flow_run_id, transition_id, type, name, message, timestamp) \
         SELECT r.id, NULL, CASE WHEN s.k = 3 THEN r.state_type ELSE s.type END, \
           CASE WHEN s.k = 3 THEN r.state_name ELSE s.name END, '', r.created_at + s.k * 1000 \
         FROM flow_runs r \
         JOIN (SELECT 0 AS k, 'SCHEDULED' AS type, 'Scheduled' AS name UNION ALL SELECT 1, 'PENDING', 'Pending' \
               UNION ALL SELECT 2, 'RUNNING', 'Running' UNION ALL SELECT 3, '', '') s \
         WHERE r.name LIKE 'bench-%' \
           AND (s.k = 0 OR (r.run_count > 0 AND (s.k < 3 OR r.state_type <> 'RUNNING'))) \
         ORDER BY r.created_at, s.k",
    )
    .execute(&mut *tx)
    .await
    .expect("seed states");
    let logs_sql = format!(
        "WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < {last}), \
         l AS (SELECT i, CASE WHEN i < {big} THEN 0 ELSE 1 + (i - {big}) / 9 END AS n FROM seq) \
         INSERT INTO logs (flow_run_id, emitter, seq, timestamp, stream, level, message, task_run_id) \
         SELECT printf('%08x-0000-4000-8000-%012d', n, n), 'bench', i, {now} - n * {spacing} + i % 100000, \
           CASE WHEN i % 17 = 0 THEN 'stderr' ELSE 'stdout' END, CASE WHEN i % 17 = 0 THEN 'WARN' ELSE 'INFO' END, \
           'step ' || i || ': fetched 42 rows from upstream in 12 ms, wrote 42 rows to the warehouse', '' \
         FROM l WHERE n < {runs}",
        last = logs - 1,
        big = BIG_RUN_LINES.min(logs),
    );
    sqlx::query(sqlx::AssertSqlSafe(logs_sql))
        .execute(&mut *tx)
        .await
        .expect("seed logs");
    tx.commit().await.expect("commit");
    let counts: (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM flow_runs), (SELECT COUNT(*) FROM flow_run_states), (SELECT COUNT(*) FROM logs)",
    )
    .fetch_one(&pool)
    .await
    .expect("count");
    println!(
        "seeded {} flow runs, {} states, {} log lines in {:.1} s",
        counts.0,
        counts.1,
        counts.2,
        started.elapsed().as_secs_f64()
    );
    pool.close().await;
}

#[tokio::main]
async fn main() {
    let runs = env_number("BENCH_RUNS", 100_000);
    let logs = env_number("BENCH_LOGS", 1_000_000);
    let iterations = env_number("BENCH_ITERATIONS", 50) as usize;

    let server = TestServer::start();
    let mut toml = String::new();
    for (flow, name, pool) in [
        ("etl", "daily", "bench-pool"),
        ("etl", "hourly", "bench-pool"),
        ("trading-flow", "trading-production", "bench-pool"),
        ("trading-flow", "trading-staging", "other-pool"),
        ("reports", "weekly", "other-pool"),
        ("ml", "train", "bench-pool"),
        ("ml", "score", "bench-pool"),
        ("backfill", "nightly", "other-pool"),
    ] {
        toml += &deployment_toml(
            flow,
            name,
            pool,
            &["true"],
            &format!("tags = [\"{flow}\", \"{name}\"]"),
        );
    }
    server.ok(&["work-pool", "create", "other-pool", "--type", "process"]);
    let _dir = server.deploy("bench-pool", &toml);
    seed(&server.home().join("orch.db"), runs, logs).await;

    let client = reqwest::Client::new();
    let base = server.url().to_string();
    let big = run_id(0);
    let small = run_id(runs / 2);
    let day_ago = (chrono::Utc::now() - chrono::Duration::days(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let week_ago = (chrono::Utc::now() - chrono::Duration::days(7))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let page2: serde_json::Value = client
        .get(format!("{base}/api/flow-runs?limit=50"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("JSON");
    let cursor = page2["next_cursor"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let calls: Vec<(String, String)> = vec![
        ("page /".into(), "/".into()),
        ("page /flow-runs".into(), "/flow-runs".into()),
        (
            "page /flow-runs/{id} (100k log lines)".into(),
            format!("/flow-runs/{big}"),
        ),
        ("page /deployments".into(), "/deployments".into()),
        ("page /work-pools".into(), "/work-pools".into()),
        ("asset /assets/app.js".into(), "/assets/app.js".into()),
        ("GET /api/overview".into(), "/api/overview".into()),
        (
            "GET /api/flow-runs (newest 50)".into(),
            "/api/flow-runs".into(),
        ),
        (
            "GET /api/flow-runs?limit=25&cursor= (page 2)".into(),
            format!("/api/flow-runs?limit=25&cursor={cursor}"),
        ),
        (
            "GET /api/flow-runs?state=failed".into(),
            "/api/flow-runs?state=failed".into(),
        ),
        (
            "GET /api/flow-runs?state=late".into(),
            "/api/flow-runs?state=late".into(),
        ),
        (
            "GET /api/flow-runs?deployment=etl/daily".into(),
            "/api/flow-runs?deployment=etl/daily".into(),
        ),
        (
            "GET /api/flow-runs?flow=ml".into(),
            "/api/flow-runs?flow=ml".into(),
        ),
        (
            "GET /api/flow-runs?work_pool=other-pool".into(),
            "/api/flow-runs?work_pool=other-pool".into(),
        ),
        (
            "GET /api/flow-runs?tag=weekly".into(),
            "/api/flow-runs?tag=weekly".into(),
        ),
        (
            "GET /api/flow-runs?tag=no-such-tag (full scan)".into(),
            "/api/flow-runs?tag=no-such-tag".into(),
        ),
        (
            "GET /api/flow-runs?since=24h ago".into(),
            format!("/api/flow-runs?since={day_ago}"),
        ),
        (
            "GET /api/flow-runs?flow=etl&state=crashed&since=7d".into(),
            format!("/api/flow-runs?flow=etl&state=crashed&since={week_ago}"),
        ),
        (
            "GET /api/flow-runs/timeline (500 points)".into(),
            "/api/flow-runs/timeline?limit=500".into(),
        ),
        (
            "GET /api/flow-runs/timeline?since=24h&state=failed".into(),
            format!("/api/flow-runs/timeline?since={day_ago}&state=failed"),
        ),
        (
            "GET /api/flow-runs/{id}".into(),
            format!("/api/flow-runs/{small}"),
        ),
        (
            "GET /api/flow-runs/{id}/logs?tail=500 (100k lines)".into(),
            format!("/api/flow-runs/{big}/logs?tail=500"),
        ),
        (
            "GET /api/flow-runs/{id}/logs (first 1000)".into(),
            format!("/api/flow-runs/{big}/logs"),
        ),
        (
            "GET /api/flow-runs/{id}/logs?before=50000&limit=500".into(),
            format!("/api/flow-runs/{big}/logs?before=50000&limit=500"),
        ),
        (
            "GET /api/flow-runs/{id}/logs (9 lines)".into(),
            format!("/api/flow-runs/{small}/logs"),
        ),
        ("GET /api/deployments".into(), "/api/deployments".into()),
        ("GET /api/work-pools".into(), "/api/work-pools".into()),
        ("GET /api/workers".into(), "/api/workers".into()),
        ("GET /api/flows".into(), "/api/flows".into()),
        ("GET /metrics".into(), "/metrics".into()),
    ];
    println!(
        "\n{:<52} {:>9} {:>9} {:>9} {:>8}",
        "call", "p50 ms", "p99 ms", "max ms", "KiB"
    );
    let mut worst: f64 = 0.0;
    for (name, path) in &calls {
        let url = format!("{base}{path}");
        let mut samples = Vec::with_capacity(iterations);
        let mut size = 0;
        for i in 0..iterations + 3 {
            let started = Instant::now();
            let response = client.get(&url).send().await.expect("request");
            let status = response.status();
            let body = response.bytes().await.expect("body");
            let elapsed = started.elapsed().as_secs_f64() * 1000.0;
            assert!(
                status.is_success(),
                "{path}: {status} {}",
                String::from_utf8_lossy(&body)
            );
            size = body.len();
            if i >= 3 {
                samples.push(elapsed);
            }
        }
        samples.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
        let p99 = percentile(&samples, 0.99);
        worst = worst.max(p99);
        println!(
            "{name:<52} {:>9.2} {:>9.2} {:>9.2} {:>8.1}",
            percentile(&samples, 0.5),
            p99,
            samples.last().copied().unwrap_or_default(),
            size as f64 / 1024.0
        );
    }
    println!("\nworst p99: {worst:.1} ms (target: every call under 200 ms)");
}
