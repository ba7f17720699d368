//! The large history of [`crate::seed`] on PostgreSQL, for the `pages` bench
//! with `BENCH_BACKEND=postgres`: the same runs, states and log lines, made
//! by the database itself (`generate_series`, one statement per million runs)
//! instead of being sent over the connection.

use std::time::Instant;

use sqlx::postgres::PgPoolOptions;

use crate::seed::{BIG_RUN_LINES, DAY_MICROS};

/// Runs per INSERT statement.
const CHUNK: i64 = 1_000_000;

/// Seeds `runs` flow runs over the last 30 days (as [`crate::seed::seed_history`]
/// does), their states, and `logs` log lines ([`BIG_RUN_LINES`] for the newest
/// run, 9 for each following one until `logs` is reached) into the server's
/// PostgreSQL database at `url`. Each day of the lines gets its partition.
pub async fn seed_history_postgres(url: &str, runs: i64, logs: i64) {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .expect("open the server's database");
    let now = chrono::Utc::now().timestamp_micros();
    let spacing = 30 * DAY_MICROS / runs.max(1);
    let started = Instant::now();
    let run = |sql: String| {
        let pool = pool.clone();
        async move {
            let begun = Instant::now();
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))
                .execute(&pool)
                .await
                .unwrap_or_else(|e| panic!("{e}: {}", &sql[..sql.len().min(200)]));
            eprintln!(
                "  {:.1} s: {}",
                begun.elapsed().as_secs_f64(),
                sql.split_whitespace().take(6).collect::<Vec<_>>().join(" ")
            );
        }
    };
    // Day partitions for the 31 days of history.
    let today = now.div_euclid(DAY_MICROS);
    run(format!(
        "DO $$ DECLARE d BIGINT; BEGIN FOR d IN {first}..{today} LOOP \
         IF to_regclass('logs_' || to_char(to_timestamp(d * 86400) AT TIME ZONE 'UTC', 'YYYYMMDD')) IS NULL THEN \
         EXECUTE format('CREATE TABLE %I PARTITION OF logs FOR VALUES FROM (%s) TO (%s)', \
           'logs_' || to_char(to_timestamp(d * 86400) AT TIME ZONE 'UTC', 'YYYYMMDD'), \
           d * {DAY_MICROS}, (d + 1) * {DAY_MICROS}); END IF; END LOOP; END $$",
        first = today - 31,
    ))
    .await;
    let mut first = 0;
    while first < runs {
        let last = (first + CHUNK).min(runs) - 1;
        // Deterministic spread: m = (n * 7919) % 1000 picks the state, n orders creation (n = 0 newest).
        run(format!(
            "WITH d AS (SELECT id, flow_id, work_pool_id, tags, ROW_NUMBER() OVER (ORDER BY id) - 1 AS k FROM deployments), \
             nd AS (SELECT COUNT(*) AS c FROM deployments), \
             r AS (SELECT n, (n * 7919) % 1000 AS m, {now} - n * {spacing} AS created FROM generate_series({first}::BIGINT, {last}::BIGINT) n) \
             INSERT INTO flow_runs (id, name, flow_id, deployment_id, work_pool_id, parameters, tags, state_type, \
               state_name, state_message, state_timestamp, expected_start, start_time, end_time, run_count, \
               worker_id, exit_code, idempotency_key, created_at, updated_at) \
             SELECT lpad(to_hex(r.n), 8, '0') || '-0000-4000-8000-' || lpad(r.n::TEXT, 12, '0'), 'bench-' || r.n, d.flow_id, d.id, d.work_pool_id, \
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
             FROM r JOIN d ON d.k = r.n % (SELECT c FROM nd)"
        ))
        .await;
        run(format!(
            "INSERT INTO flow_run_states (flow_run_id, transition_id, type, name, message, timestamp) \
             SELECT r.id, NULL, CASE WHEN s.k = 3 THEN r.state_type ELSE s.type END, \
               CASE WHEN s.k = 3 THEN r.state_name ELSE s.name END, '', r.created_at + s.k * 1000 \
             FROM flow_runs r \
             JOIN (VALUES (0, 'SCHEDULED', 'Scheduled'), (1, 'PENDING', 'Pending'), (2, 'RUNNING', 'Running'), (3, '', '')) \
               AS s (k, type, name) ON TRUE \
             WHERE r.name LIKE 'bench-%' AND r.created_at <= {now} - {first}::BIGINT * {spacing} \
               AND r.created_at >= {now} - {last}::BIGINT * {spacing} \
               AND (s.k = 0 OR (r.run_count > 0 AND (s.k < 3 OR r.state_type <> 'RUNNING')))"
        ))
        .await;
        first = last + 1;
    }
    // Lines: line i belongs to run n; the newest run has the big share.
    let big = BIG_RUN_LINES.min(logs);
    let mut first_line = 0;
    while first_line < logs {
        let last_line = (first_line + 9 * CHUNK).min(logs) - 1;
        run(format!(
            "INSERT INTO logs (flow_run_id, emitter, seq, timestamp, stream, level, message, task_run_id) \
             SELECT lpad(to_hex(n), 8, '0') || '-0000-4000-8000-' || lpad(n::TEXT, 12, '0'), 'bench', i, \
               {now} - n * {spacing}::BIGINT + i % 100000, \
               CASE WHEN i % 17 = 0 THEN 'stderr' ELSE 'stdout' END, CASE WHEN i % 17 = 0 THEN 'WARN' ELSE 'INFO' END, \
               'step ' || i || ': fetched 42 rows from upstream in 12 ms, wrote 42 rows to the warehouse', '' \
             FROM (SELECT i, CASE WHEN i < {big} THEN 0 ELSE 1 + (i - {big}) / 9 END AS n \
                   FROM generate_series({first_line}::BIGINT, {last_line}::BIGINT) i) l WHERE n < {runs}"
        ))
        .await;
        first_line = last_line + 1;
    }
    run("INSERT INTO log_days (day, flow_run_id) \
         SELECT DISTINCT FLOOR(timestamp::NUMERIC / 86400000000)::BIGINT, flow_run_id FROM logs \
         ON CONFLICT DO NOTHING"
        .to_string())
    .await;
    crate::seed::fold_run_counts(url).await;
    run("VACUUM ANALYZE".to_string()).await;
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

/// Times retention dropping one day's partition of log lines: the oldest
/// whole seeded day, its runs all marked expired (as the retention batches
/// mark them) is dropped by the store's partition pass, as the server's
/// pruner runs it. Prints the day's lines and the time the pass took.
pub async fn time_partition_drop(url: &str) {
    let store = orch_store::Store::connect(url)
        .await
        .expect("connect the store");
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .expect("open the database");
    // The oldest whole day of the history (the first one is partly filled).
    let (day,): (i64,) = sqlx::query_as("SELECT MIN(day) + 1 FROM log_days")
        .fetch_one(&pool)
        .await
        .expect("the days of the lines");
    let name = orch_store::partition_name(day);
    let (lines,): (i64,) =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {name}")))
            .fetch_one(&pool)
            .await
            .expect("count the day's lines");
    // What the retention batches do for the runs of that day.
    sqlx::query(
        "UPDATE flow_runs SET logs_pruned_at = 1 WHERE id IN \
         (SELECT flow_run_id FROM log_days WHERE day = $1)",
    )
    .bind(day)
    .execute(&pool)
    .await
    .expect("mark the day's runs");
    sqlx::query(
        "INSERT INTO log_cleanup (day, flow_run_id) SELECT day, flow_run_id FROM log_days \
         WHERE day = $1 ON CONFLICT DO NOTHING",
    )
    .bind(day)
    .execute(&pool)
    .await
    .expect("queue the day");
    let started = Instant::now();
    let pruned = store
        .maintenance()
        .prune_log_partitions(
            i64::MIN,
            orch_store::BatchSize::default(),
            std::time::Duration::ZERO,
            || false,
        )
        .await
        .expect("partition pass");
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(pruned.dropped, std::slice::from_ref(&name), "{pruned:?}");
    println!("retention dropped {name} ({lines} log lines) in {elapsed:.1} ms");
    pool.close().await;
    store.close().await;
}
