//! Page speed with a large history: seeds the real server's SQLite database
//! with 100,000 flow runs (400,000 states) and 1,000,000 log lines by bulk SQL,
//! then times every dashboard page and API list call over HTTP (p50/p99/max).
//!
//! `cargo build --release -p orch-cli && cargo bench -p orch-e2e --bench pages`
//! Env: BENCH_RUNS (default 100000), BENCH_LOGS (default 1000000), BENCH_ITERATIONS (default 50),
//! BENCH_BACKEND (`sqlite`, the default, or `postgres`: a database on the test process's private
//! PostgreSQL server, seeded by `generate_series`, log lines in day partitions; the bench then also
//! times retention dropping one day's partition).

use std::time::Instant;

use orch_e2e::TestServer;
use orch_e2e::bench::env_number;
use orch_e2e::seed::{register_deployments, run_id, seed_history};
use orch_e2e::seed_postgres::{seed_history_postgres, time_partition_drop};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let runs = env_number("BENCH_RUNS", 100_000);
    let logs = env_number("BENCH_LOGS", 1_000_000);
    let iterations = env_number("BENCH_ITERATIONS", 50) as usize;

    let postgres = std::env::var("BENCH_BACKEND").is_ok_and(|b| b == "postgres");
    let database = postgres.then(orch_testkit::fresh_database);
    let server = match &database {
        Some(database) => TestServer::start_on(database.url(), &[]),
        None => TestServer::start(),
    };
    let _dir = register_deployments(&server);
    match &database {
        Some(database) => seed_history_postgres(database.url(), runs, logs).await,
        None => seed_history(&server.home().join("orch.db"), runs, logs).await,
    }

    let client = {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {}", server.admin_key())
                .parse()
                .expect("a header value"),
        );
        reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .expect("an HTTP client")
    };
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
    println!("\nworst p99: {worst:.1} ms (target: every call under 100 ms)");
    if let Some(database) = &database {
        time_partition_drop(database.url()).await;
    }
}
