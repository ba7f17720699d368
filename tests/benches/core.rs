//! Core loop figures on loopback, against the real `orch` binaries:
//! pickup latency (run created -> subprocess started), end-to-end time of a
//! trivial run, and run creation throughput through the gRPC API.
//!
//! `cargo bench -p orch-e2e --bench core` (uses the `orch` binary of the same
//! profile: build it first with `cargo build --release -p orch-cli`).
//! Env: BENCH_RUNS (default 200), BENCH_CREATE (runs per level, default 5000),
//! BENCH_CONCURRENCY (comma-separated client counts, default 1,8,64),
//! BENCH_DATABASE (`sqlite`, the default, or `postgres`: a private server
//! started by `orch_testkit`, tuned for tests, not durability), BENCH_AUTH
//! (`on`, the default, or `off`: the server runs with `--no-auth`, SQLite only,
//! to measure what authentication costs), BENCH_OTEL (`off`, the default, or
//! `on`: the server, the worker and the SDK flows export traces to a test
//! OTLP/HTTP collector in this process, to measure what tracing costs).

use std::time::Instant;

use orch_e2e::bench::env_number;
use orch_e2e::{Backend, TestServer, deployment_toml};
use orch_proto::v1 as pb;
use orch_proto::v1::deployment_service_client::DeploymentServiceClient;
use orch_proto::v1::flow_run_service_client::FlowRunServiceClient;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn report(name: &str, mut samples: Vec<f64>) {
    samples.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    println!(
        "{name:<44} n={:<5} p50={:>8.2} ms  p90={:>8.2} ms  p99={:>8.2} ms  max={:>8.2} ms",
        samples.len(),
        percentile(&samples, 0.50),
        percentile(&samples, 0.90),
        percentile(&samples, 0.99),
        samples.last().copied().unwrap_or_default()
    );
}

fn state_time(detail: &pb::FlowRunDetail, kind: pb::StateType) -> Option<i64> {
    detail
        .history
        .iter()
        .find(|s| s.r#type == kind as i32)
        .map(|s| s.timestamp_micros)
}

#[tokio::main]
async fn main() {
    let runs = env_number("BENCH_RUNS", 200);
    let creations = env_number("BENCH_CREATE", 5000);
    let concurrency_levels: Vec<usize> = std::env::var("BENCH_CONCURRENCY")
        .unwrap_or_else(|_| "1,8,64".into())
        .split(',')
        .map(|level| {
            level
                .trim()
                .parse()
                .expect("BENCH_CONCURRENCY: numbers, comma-separated")
        })
        .collect();

    let backend = match std::env::var("BENCH_DATABASE").as_deref() {
        Err(_) | Ok("sqlite") => Backend::Sqlite,
        Ok("postgres") => Backend::Postgres,
        Ok(other) => panic!("BENCH_DATABASE must be sqlite or postgres, not {other:?}"),
    };
    let auth = std::env::var("BENCH_AUTH").as_deref() != Ok("off");
    let traces = std::env::var("BENCH_OTEL").as_deref() == Ok("on");
    let collector = traces.then(orch_e2e::otlp::OtlpCollector::start);
    let otel_env: Vec<(&str, &str)> = match &collector {
        Some(collector) => vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ],
        None => Vec::new(),
    };
    let server = match (auth, backend, traces) {
        (true, _, false) => TestServer::start_for(backend),
        (true, Backend::Sqlite, true) => TestServer::start_with_env("", &[], &otel_env),
        (false, Backend::Sqlite, _) => TestServer::start_with_env("", &["--no-auth"], &otel_env),
        (false, Backend::Postgres, _) => panic!("BENCH_AUTH=off runs on SQLite only"),
        (true, Backend::Postgres, true) => panic!("BENCH_OTEL=on runs on SQLite only"),
    };
    println!("authentication: {}", if auth { "on" } else { "off" });
    println!(
        "traces: {}",
        if traces {
            "on (OTLP/HTTP to a collector in the bench)"
        } else {
            "off"
        }
    );
    let toml = deployment_toml("bench", "trivial", "bench-pool", &["true"], "")
        + &deployment_toml("bench", "parked", "parked-pool", &["true"], "");
    server.ok(&["work-pool", "create", "parked-pool", "--type", "process"]);
    server.ok(&["work-pool", "pause", "parked-pool"]);
    let _dir = server.deploy("bench-pool", &toml);
    let _worker = server.start_worker_with_env("bench-pool", &[], &otel_env);

    let key = auth.then(|| server.admin_key());
    let channel = tonic::transport::Endpoint::from_shared(server.url().to_string())
        .expect("URL")
        .connect()
        .await
        .expect("connect");
    let channel = orch_proto::credentials::with_credentials(channel, server.url(), key.as_deref());
    let mut deployments = DeploymentServiceClient::new(channel.clone());
    let mut flow_runs = FlowRunServiceClient::new(channel.clone());

    // Sequential trivial runs: pickup and end-to-end.
    let mut pickup = Vec::with_capacity(runs);
    let mut to_running_server = Vec::with_capacity(runs);
    let mut end_to_end = Vec::with_capacity(runs);
    let mut running_to_completed = Vec::with_capacity(runs);
    let mut created_to_completed = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let run = deployments
            .run_deployment(pb::RunDeploymentRequest {
                deployment: "bench/trivial".into(),
                ..Default::default()
            })
            .await
            .expect("run deployment")
            .into_inner();
        let mut watch = flow_runs
            .watch_flow_run(pb::WatchFlowRunRequest {
                flow_run: run.id.clone(),
                after_log_id: 0,
            })
            .await
            .expect("watch")
            .into_inner();
        let mut completed = false;
        while let Some(event) = watch.message().await.expect("watch stream") {
            if let Some(pb::flow_run_event::Event::Run(run)) = event.event {
                let state = run.state.unwrap_or_default().r#type;
                if state == pb::StateType::Completed as i32 {
                    completed = true;
                }
            }
        }
        end_to_end.push(started.elapsed().as_secs_f64() * 1000.0);
        assert!(completed, "run {} did not complete", run.id);
        let detail = flow_runs
            .get_flow_run(pb::GetFlowRunRequest { flow_run: run.id })
            .await
            .expect("get")
            .into_inner();
        let created = state_time(&detail, pb::StateType::Scheduled).expect("scheduled");
        let pending = state_time(&detail, pb::StateType::Pending).expect("pending");
        let running = state_time(&detail, pb::StateType::Running).expect("running");
        let done = state_time(&detail, pb::StateType::Completed).expect("completed");
        pickup.push((pending - created) as f64 / 1000.0);
        to_running_server.push((running - created) as f64 / 1000.0);
        running_to_completed.push((done - running) as f64 / 1000.0);
        created_to_completed.push((done - created) as f64 / 1000.0);
    }
    println!(
        "orch core benchmark: {runs} sequential trivial runs (`true`), 1 worker, {}, loopback",
        backend.as_str()
    );
    report("pickup: created -> claimed (Pending)", pickup);
    report("created -> subprocess started (Running)", to_running_server);
    report("Running -> Completed (server times)", running_to_completed);
    report("created -> Completed (server times)", created_to_completed);
    report("end to end: run call -> Completed observed", end_to_end);

    // Creation throughput into a paused pool (nothing executes).
    for concurrency in concurrency_levels {
        creation_throughput(&channel, creations, concurrency).await;
    }

    task_overhead(&server, &mut flow_runs).await;
    if let Some(collector) = collector {
        println!(
            "spans received by the collector: {}",
            collector.spans().len()
        );
    }
}

/// Creates `creations` runs from `concurrency` gRPC clients, each waiting for
/// its answer before it sends the next request, and prints runs per second.
async fn creation_throughput(
    channel: &orch_proto::credentials::AuthChannel,
    creations: usize,
    concurrency: usize,
) {
    let started = Instant::now();
    let per_client = creations / concurrency;
    let mut clients = Vec::new();
    for _ in 0..concurrency {
        let mut client = DeploymentServiceClient::new(channel.clone());
        clients.push(tokio::spawn(async move {
            for _ in 0..per_client {
                client
                    .run_deployment(pb::RunDeploymentRequest {
                        deployment: "bench/parked".into(),
                        ..Default::default()
                    })
                    .await
                    .expect("create run");
            }
        }));
    }
    for client in clients {
        client.await.expect("creator task");
    }
    let elapsed = started.elapsed();
    let created = per_client * concurrency;
    println!(
        "run creation through gRPC: {created} runs at concurrency {concurrency:>3} in {:.2} s = {:.0} runs/s",
        elapsed.as_secs_f64(),
        created as f64 / elapsed.as_secs_f64().max(f64::EPSILON)
    );
}

/// Per-task overhead of the SDK against this server: a flow of N trivial
/// tasks minus the same flow with none, from the server's Running and
/// Completed times (wall) and from the flow process's CPU time (user +
/// system of every thread, as the worker measured it with `wait4`: robust
/// on a loaded machine), and the reported task runs counted.
async fn task_overhead(
    server: &TestServer,
    flow_runs: &mut FlowRunServiceClient<orch_proto::credentials::AuthChannel>,
) {
    let tasks = env_number("BENCH_TASKS", 1000);
    let testflows = env!("CARGO_BIN_EXE_orch-testflows");
    let toml = deployment_toml(
        "sdk",
        "many-tasks",
        "bench-pool",
        &[testflows, "many-tasks"],
        "",
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let path = orch_e2e::write_deploy_file(dir.path(), "sdk.toml", &toml);
    server.ok(&["deploy", path.to_str().expect("UTF-8")]);
    let flow_seconds = |count: usize| {
        let run = server.run_deployment("sdk/many-tasks", &["--param", &format!("count={count}")]);
        server.wait_for_state(&run, &["COMPLETED"], std::time::Duration::from_secs(120));
        run
    };
    let mut durations = Vec::new();
    let mut cpu_medians = Vec::new();
    for count in [0, tasks] {
        let mut samples = Vec::new();
        let mut cpu_samples = Vec::new();
        let mut last_run = String::new();
        for _ in 0..5 {
            last_run = flow_seconds(count);
            let detail = flow_runs
                .get_flow_run(pb::GetFlowRunRequest {
                    flow_run: last_run.clone(),
                })
                .await
                .expect("get")
                .into_inner();
            let running = state_time(&detail, pb::StateType::Running).expect("running");
            let completed = state_time(&detail, pb::StateType::Completed).expect("completed");
            samples.push((completed - running) as f64 / 1000.0);
            let usage = detail
                .run
                .as_ref()
                .and_then(|run| run.usage.as_ref())
                .expect("the worker reports the flow process's usage");
            cpu_samples.push((usage.cpu_user_micros + usage.cpu_system_micros) as f64 / 1000.0);
        }
        samples.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
        cpu_samples.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
        let median = samples[samples.len() / 2];
        let cpu_median = cpu_samples[cpu_samples.len() / 2];
        let reported = flow_runs
            .get_flow_run(pb::GetFlowRunRequest { flow_run: last_run })
            .await
            .expect("get")
            .into_inner()
            .task_runs
            .len();
        println!(
            "flow of {count:>5} trivial tasks: Running -> Completed median {median:>8.2} ms, flow process CPU median {cpu_median:>8.2} ms over 5 runs (CPU samples {cpu_samples:?}); {reported} task runs on the server"
        );
        durations.push(median);
        cpu_medians.push(cpu_median);
    }
    let per_task_us = (durations[1] - durations[0]) * 1000.0 / tasks as f64;
    println!("per-task overhead (reported to the server, batched): {per_task_us:.1} µs/task");
    let cpu_per_task_us = (cpu_medians[1] - cpu_medians[0]) * 1000.0 / tasks as f64;
    println!("per-task CPU of the flow process (all its threads): {cpu_per_task_us:.1} µs/task");
}
