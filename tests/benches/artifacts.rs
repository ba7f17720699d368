//! Artifacts: publishes 10,000 metric points across 1,000 runs through the
//! gRPC API (the SDK's path), one request at a time, then reads one key's
//! series over the REST API (the dashboard's path); reports p50/p99/max.
//!
//! `cargo build --release -p orch-cli && cargo bench -p orch-e2e --bench artifacts`
//! Env: BENCH_RUNS (default 1000), BENCH_POINTS (default 10000), BENCH_READS
//! (default 200), BENCH_SERIES_LIMIT (default 500), BENCH_DATABASE (sqlite|postgres).

use std::time::Instant;

use orch_e2e::bench::env_number;
use orch_e2e::{Backend, TestServer, deployment_toml, http_get};
use orch_proto::v1 as pb;
use orch_proto::v1::artifact_service_client::ArtifactServiceClient;
use orch_proto::v1::deployment_service_client::DeploymentServiceClient;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(what: &str, mut millis: Vec<f64>) {
    millis.sort_by(f64::total_cmp);
    println!(
        "{what}: n={} p50={:.2} ms p99={:.2} ms max={:.2} ms",
        millis.len(),
        percentile(&millis, 0.5),
        percentile(&millis, 0.99),
        millis[millis.len() - 1]
    );
}

#[tokio::main]
async fn main() {
    let runs = env_number("BENCH_RUNS", 1000);
    let points = env_number("BENCH_POINTS", 10_000);
    let reads = env_number("BENCH_READS", 200);
    let limit = env_number("BENCH_SERIES_LIMIT", 500);
    let backend = match std::env::var("BENCH_DATABASE").as_deref() {
        Err(_) | Ok("sqlite") => Backend::Sqlite,
        Ok("postgres") => Backend::Postgres,
        Ok(other) => panic!("BENCH_DATABASE must be sqlite or postgres, not {other:?}"),
    };
    let server = TestServer::start_for(backend);
    // Runs wait in a paused pool: only their artifacts matter here.
    let _dir = server.deploy(
        "parked-pool",
        &deployment_toml("bench", "retrain", "parked-pool", &["true"], ""),
    );
    server.ok(&["work-pool", "pause", "parked-pool"]);
    let channel = tonic::transport::Endpoint::from_shared(server.url().to_string())
        .expect("URL")
        .connect()
        .await
        .expect("connect");
    let channel =
        orch_proto::credentials::with_credentials(channel, server.url(), Some(&server.admin_key()));
    let mut deployments = DeploymentServiceClient::new(channel.clone());
    let mut artifacts = ArtifactServiceClient::new(channel);
    let mut run_ids = Vec::with_capacity(runs);
    for _ in 0..runs {
        let run = deployments
            .run_deployment(pb::RunDeploymentRequest {
                deployment: "bench/retrain".into(),
                ..Default::default()
            })
            .await
            .expect("run deployment")
            .into_inner();
        run_ids.push(run.id);
    }

    // 10,000 metric points: key model-GOOG (read back below) and 9 other keys.
    let mut publish = Vec::with_capacity(points);
    let started = Instant::now();
    for point in 0..points {
        let key = if point % 10 == 0 {
            "model-GOOG".to_owned()
        } else {
            format!("model-{}", point % 10)
        };
        let request = pb::CreateArtifactRequest {
            flow_run_id: run_ids[point % runs].clone(),
            key,
            kind: "metrics".into(),
            data_json: format!(
                r#"{{"mae": {}, "rmse": {}, "directional_accuracy": 0.5}}"#,
                1.0 + (point % 97) as f64 / 100.0,
                1.5 + (point % 89) as f64 / 100.0
            ),
            ..Default::default()
        };
        let one = Instant::now();
        artifacts.create_artifact(request).await.expect("publish");
        publish.push(one.elapsed().as_secs_f64() * 1000.0);
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "published {points} metric artifacts across {runs} runs in {elapsed:.1} s ({:.0}/s)",
        points as f64 / elapsed
    );
    report("publish (gRPC CreateArtifact)", publish);

    let path = format!("/api/artifacts/model-GOOG/series?limit={limit}");
    let mut read = Vec::with_capacity(reads);
    let mut returned = 0;
    for _ in 0..reads {
        let one = Instant::now();
        let (status, body) = http_get(server.url(), &path);
        read.push(one.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(status, 200, "{body}");
        returned = body.matches("\"flow_run_id\"").count();
    }
    report(
        &format!(
            "series read (GET {path}, {returned} points of {} for the key)",
            points / 10
        ),
        read,
    );
}
