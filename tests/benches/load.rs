//! Load generator: N servers (replicas on one PostgreSQL, or one SQLite
//! server), a worker on each, and a mix of clients calling them round-robin
//! for a while; prints latency percentiles per operation.
//!
//! `cargo bench -p orch-e2e --bench load` (uses the `orch` binary of the same
//! profile: build it first with `cargo build --release -p orch-cli`).
//!
//! Env (defaults in brackets):
//! - BENCH_DATABASE: `sqlite` [default] or `postgres` (a private PostgreSQL
//!   from `orch_testkit`, tuned for tests, not durability);
//! - BENCH_SERVERS: servers [1]; more than one needs `postgres`;
//! - BENCH_SECONDS: how long the load runs [20];
//! - BENCH_CREATORS, BENCH_LOGGERS, BENCH_READERS: concurrent clients that
//!   create runs (executed by the workers: claims and reports), write log
//!   lines (10 per call to runs of a paused pool), and read (the run list, a
//!   run page, a page of logs, in turn) [2, 2, 4];
//! - BENCH_SERVER_ARGS: extra `orch server start` arguments;
//! - BENCH_ISOLATION: the workers' `--isolation` [none].
//!
//! Each client waits for its answer before its next call. Claims are timed
//! from the server's state history: created -> Pending (pickup) and
//! Pending -> Completed.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use orch_e2e::bench::{env_number, load_average};
use orch_e2e::{Backend, TestServer, deployment_toml};
use orch_proto::credentials::AuthChannel;
use orch_proto::v1 as pb;
use orch_proto::v1::deployment_service_client::DeploymentServiceClient;
use orch_proto::v1::flow_run_service_client::FlowRunServiceClient;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

/// Latencies (ms) of one operation.
#[derive(Default, Clone)]
struct Samples(Arc<Mutex<Vec<f64>>>);

impl Samples {
    fn push(&self, started: Instant) {
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        self.0.lock().expect("not poisoned").push(ms);
    }

    fn report(&self, name: &str, seconds: f64) {
        let mut samples = self.0.lock().expect("not poisoned").clone();
        report(name, &mut samples, Some(seconds));
    }
}

fn report(name: &str, samples: &mut [f64], seconds: Option<f64>) {
    if samples.is_empty() {
        println!("{name:<34} n=0");
        return;
    }
    samples.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let rate = seconds.map_or(String::new(), |seconds| {
        format!("{:>7.0}/s", samples.len() as f64 / seconds)
    });
    println!(
        "{name:<34} n={:<6} {rate}  p50={:>8.2} ms  p90={:>8.2} ms  p99={:>8.2} ms  max={:>8.2} ms",
        samples.len(),
        percentile(samples, 0.50),
        percentile(samples, 0.90),
        percentile(samples, 0.99),
        samples[samples.len() - 1]
    );
}

async fn connect(server: &TestServer) -> AuthChannel {
    let key = server.admin_key();
    let channel = tonic::transport::Endpoint::from_shared(server.url().to_string())
        .expect("URL")
        .connect()
        .await
        .expect("connect");
    orch_proto::credentials::with_credentials(channel, server.url(), Some(&key))
}

#[tokio::main]
async fn main() {
    let backend = match std::env::var("BENCH_DATABASE").as_deref() {
        Err(_) | Ok("sqlite") => Backend::Sqlite,
        Ok("postgres") => Backend::Postgres,
        Ok(other) => panic!("BENCH_DATABASE must be sqlite or postgres, not {other:?}"),
    };
    let servers = env_number("BENCH_SERVERS", 1).max(1);
    assert!(
        servers == 1 || backend == Backend::Postgres,
        "BENCH_SERVERS > 1 needs BENCH_DATABASE=postgres: one server per SQLite database"
    );
    let seconds = env_number("BENCH_SECONDS", 20) as f64;
    let creators = env_number("BENCH_CREATORS", 2);
    let loggers = env_number("BENCH_LOGGERS", 2);
    let readers = env_number("BENCH_READERS", 4);
    let server_args = std::env::var("BENCH_SERVER_ARGS").unwrap_or_default();
    let server_args: Vec<&str> = server_args.split_whitespace().collect();
    println!(
        "orch load: {servers} server(s) on {}, a worker on each, {creators} creators, \
         {loggers} log writers, {readers} readers, {seconds} s, server arguments {server_args:?}",
        backend.as_str()
    );
    println!("load average at start: {}", load_average());

    let database = (backend == Backend::Postgres).then(orch_testkit::TestDatabase::postgres);
    let url = database.as_ref().map_or("", |database| database.url());
    let replicas: Vec<TestServer> = (0..servers)
        .map(|_| TestServer::start_on(url, &server_args))
        .collect();
    let first = &replicas[0];
    let toml = deployment_toml("load", "trivial", "load-pool", &["true"], "")
        + &deployment_toml("load", "parked", "parked-pool", &["true"], "");
    first.ok(&["work-pool", "create", "parked-pool", "--type", "process"]);
    first.ok(&["work-pool", "pause", "parked-pool"]);
    let _dir = first.deploy("load-pool", &toml);
    let isolation = std::env::var("BENCH_ISOLATION").unwrap_or_else(|_| "none".into());
    let worker_key = first.json(&[
        "token",
        "create",
        "load-worker",
        "--scope",
        "worker",
        "--pool",
        "load-pool",
    ])["api_key"]
        .as_str()
        .expect("a key")
        .to_owned();
    let _workers: Vec<_> = replicas
        .iter()
        .map(|server| {
            server.start_worker(
                "load-pool",
                &["--isolation", &isolation, "--api-key", &worker_key],
            )
        })
        .collect();
    let mut channels = Vec::new();
    for server in &replicas {
        channels.push(connect(server).await);
    }
    // Runs that log lines are written to and read from (never executed).
    let mut parked = Vec::new();
    let mut deployments = DeploymentServiceClient::new(channels[0].clone());
    for _ in 0..16 {
        let run = deployments
            .run_deployment(pb::RunDeploymentRequest {
                deployment: "load/parked".into(),
                ..Default::default()
            })
            .await
            .expect("create a parked run")
            .into_inner();
        parked.push(run.id);
    }
    let parked = Arc::new(parked);

    let create = Samples::default();
    let write_logs = Samples::default();
    let list = Samples::default();
    let page = Samples::default();
    let read_logs = Samples::default();
    let created_ids = Arc::new(Mutex::new(Vec::<String>::new()));
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let mut tasks = Vec::new();
    let mut next = 0usize;
    let mut channel = || {
        next += 1;
        channels[next % channels.len()].clone()
    };
    for _ in 0..creators {
        let mut client = DeploymentServiceClient::new(channel());
        let (samples, ids) = (create.clone(), created_ids.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let at = Instant::now();
                let run = client
                    .run_deployment(pb::RunDeploymentRequest {
                        deployment: "load/trivial".into(),
                        ..Default::default()
                    })
                    .await
                    .expect("create a run")
                    .into_inner();
                samples.push(at);
                ids.lock().expect("not poisoned").push(run.id);
            }
        }));
    }
    for logger in 0..loggers {
        let mut client = FlowRunServiceClient::new(channel());
        let (samples, parked) = (write_logs.clone(), parked.clone());
        tasks.push(tokio::spawn(async move {
            let emitter = format!("load-{logger}");
            let mut seq = 0u64;
            while Instant::now() < deadline {
                let run = &parked[seq as usize / 10 % parked.len()];
                let lines = (0..10)
                    .map(|_| {
                        seq += 1;
                        pb::LogLine {
                            flow_run_id: run.clone(),
                            emitter: emitter.clone(),
                            seq,
                            timestamp_micros: chrono::Utc::now().timestamp_micros(),
                            stream: "stdout".into(),
                            level: "info".into(),
                            message: format!("line {seq} of the load generator"),
                            ..Default::default()
                        }
                    })
                    .collect();
                let at = Instant::now();
                client
                    .write_logs(pb::WriteLogsRequest { lines })
                    .await
                    .expect("write logs");
                samples.push(at);
            }
        }));
    }
    for reader in 0..readers {
        let mut client = FlowRunServiceClient::new(channel());
        let (list, page, read_logs, parked) = (
            list.clone(),
            page.clone(),
            read_logs.clone(),
            parked.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut turn = reader;
            while Instant::now() < deadline {
                let run = parked[turn % parked.len()].clone();
                let at = Instant::now();
                match turn % 3 {
                    0 => {
                        client
                            .list_flow_runs(pb::ListFlowRunsRequest {
                                limit: 50,
                                ..Default::default()
                            })
                            .await
                            .expect("list runs");
                        list.push(at);
                    }
                    1 => {
                        client
                            .get_flow_run(pb::GetFlowRunRequest { flow_run: run })
                            .await
                            .expect("run page");
                        page.push(at);
                    }
                    _ => {
                        client
                            .read_logs(pb::ReadLogsRequest {
                                flow_run: run,
                                after_id: 0,
                                limit: 200,
                            })
                            .await
                            .expect("read logs");
                        read_logs.push(at);
                    }
                }
                turn += 1;
            }
        }));
    }
    for task in tasks {
        task.await.expect("client");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let load_after = load_average();

    // Let the workers finish the runs created, then time their claims
    // (of 1,000 of them at most, spread over the load).
    let ids = created_ids.lock().expect("not poisoned").clone();
    let step = ids.len().div_ceil(1000).max(1);
    let ids: Vec<String> = ids.into_iter().step_by(step).collect();
    let mut flow_runs = FlowRunServiceClient::new(channels[0].clone());
    let settle = Instant::now() + Duration::from_secs(120);
    let sampled = ids.len();
    let mut pickup = Vec::new();
    let mut to_completed = Vec::new();
    let mut unfinished = 0;
    for id in &ids {
        loop {
            let detail = flow_runs
                .get_flow_run(pb::GetFlowRunRequest {
                    flow_run: id.clone(),
                })
                .await
                .expect("get run")
                .into_inner();
            let at = |kind: pb::StateType| {
                detail
                    .history
                    .iter()
                    .find(|s| s.r#type == kind as i32)
                    .map(|s| s.timestamp_micros)
            };
            let (created, pending, done) = (
                at(pb::StateType::Scheduled),
                at(pb::StateType::Pending),
                at(pb::StateType::Completed),
            );
            if let (Some(created), Some(pending), Some(done)) = (created, pending, done) {
                pickup.push((pending - created) as f64 / 1000.0);
                to_completed.push((done - pending) as f64 / 1000.0);
                break;
            }
            if Instant::now() > settle {
                unfinished += 1;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    println!("load average at the end of the load: {load_after}");
    create.report("create run (RunDeployment)", elapsed);
    write_logs.report("write 10 log lines (WriteLogs)", elapsed);
    list.report("run list, 50 (ListFlowRuns)", elapsed);
    page.report("run page (GetFlowRun)", elapsed);
    read_logs.report("logs page, 200 (ReadLogs)", elapsed);
    report("pickup: created -> Pending (server)", &mut pickup, None);
    report("Pending -> Completed (server)", &mut to_completed, None);
    if unfinished > 0 {
        println!(
            "{unfinished} of {sampled} sampled runs had not Completed 2 minutes after the load"
        );
    }
}
