//! A large history seeded by bulk SQL into a server's SQLite database, for
//! the benches (`pages`, `prune`).

use std::time::{Duration, Instant};

use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

use crate::{TestServer, deployment_toml};

/// Microseconds in a day.
pub const DAY_MICROS: i64 = 86_400_000_000;
/// Lines of the one big run (the rest are spread 9 per run).
pub const BIG_RUN_LINES: i64 = 100_009;

/// The id of the n-th seeded run (uuid-shaped, distinct 8-character prefixes).
pub fn run_id(n: i64) -> String {
    format!("{n:08x}-0000-4000-8000-{n:012}")
}

/// Seeds `runs` flow runs created over the last 30 days (85 % Completed, 8 %
/// Failed, 2 % Crashed, 3 % Cancelled, 1 % Running, 0.5 % Scheduled ahead,
/// 0.5 % Late) over the deployments already registered, their states, and
/// `logs` log lines: [`BIG_RUN_LINES`] for the newest run, 9 for every other.
pub async fn seed_history(database: &std::path::Path, runs: i64, logs: i64) {
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
    fold_run_counts(&orch_store::sqlite_url(database)).await;
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

/// Folds the run count changes the seeding appended (one per run, by the
/// triggers of migration 0420) into the totals, as the server's sweep pass
/// does within a second, so that the timed calls start from folded counts.
pub async fn fold_run_counts(url: &str) {
    let store = orch_store::Store::connect(url)
        .await
        .expect("connect the store");
    let started = Instant::now();
    store
        .stats()
        .fold_run_counts()
        .await
        .expect("fold the run counts");
    eprintln!(
        "  {:.1} s: fold the run count changes",
        started.elapsed().as_secs_f64()
    );
    store.close().await;
}

/// Registers 8 deployments over 5 flows and the pools `bench-pool` and
/// `other-pool` (entrypoint `true`); returns the deploy file's folder.
pub fn register_deployments(server: &TestServer) -> tempfile::TempDir {
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
    server.deploy("bench-pool", &toml)
}
