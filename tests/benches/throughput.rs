//! Burst throughput against the machine's limit: how fast one worker drains
//! a backlog of trivial runs (`true`), beside how fast this machine can
//! fork/exec `true` at all.
//!
//! `cargo bench -p orch-e2e --bench throughput` (uses the `orch` binary of
//! the same profile: build it first with `cargo build --release -p orch-cli`).
//!
//! 1. Spawns `true` and waits for it, BENCH_FORKS times (default 2000), one
//!    after another: the machine's fork/exec rate, the ceiling of a worker
//!    that starts one process per run.
//! 2. Starts `orch server start` (SQLite, or BENCH_DATABASE=postgres: a
//!    private PostgreSQL from `orch_testkit`) and one `orch worker start`
//!    (no limit), pauses the pool, and creates BENCH_RUNS runs (default
//!    2000) from BENCH_CLIENTS concurrent gRPC clients (default 8).
//! 3. Resumes the pool and waits until every run is Completed. The drain is
//!    timed from the server's own state history: first claim (Pending) to
//!    last Completed; claims and final reports are timed the same way.
//!
//! Beside the wall times it prints the CPU time the server and the worker
//! used per run (from /proc; the worker's includes its reaped children,
//! the `true` processes) and the load average, since the machine may be
//! shared. BENCH_SERVER_ARGS (space-separated) are added to `orch server
//! start`, e.g. `BENCH_SERVER_ARGS="--token-cache-seconds 0"`. BENCH_ISOLATION
//! is the worker's `--isolation` (default `none`: the flow is started as
//! directly as the fork/exec figure it is compared with; `auto` adds the
//! sandbox, see "Flow isolation" in docs/benchmarks.md).

use std::time::{Duration, Instant};

use orch_e2e::bench::{env_number, load_average};
use orch_e2e::{Backend, TestServer, deployment_toml, guard_of};
use orch_proto::v1 as pb;
use orch_proto::v1::deployment_service_client::DeploymentServiceClient;

/// Clock ticks per second of /proc's CPU times.
fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100.0)
}

/// CPU seconds `pid` used (user + system), with its reaped children's.
fn cpu_seconds(pid: u32, ticks: f64) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<f64> = rest
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    // utime, stime, cutime, cstime are fields 14-17 of the line, 12-15 here.
    let own = fields.get(11).copied().unwrap_or(0.0) + fields.get(12).copied().unwrap_or(0.0);
    let children = fields.get(13).copied().unwrap_or(0.0) + fields.get(14).copied().unwrap_or(0.0);
    (own / ticks, children / ticks)
}

/// Runs `true` `count` times, one after another; runs per second.
fn fork_exec_rate(count: usize) -> f64 {
    let started = Instant::now();
    for _ in 0..count {
        let status = std::process::Command::new("true")
            .status()
            .expect("spawn true");
        assert!(status.success());
    }
    count as f64 / started.elapsed().as_secs_f64()
}

/// The server's database, read directly for the server's own timestamps.
enum Database {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// The bench's runs' state history: (run, state type, server micros).
const HISTORY: &str = "SELECT s.flow_run_id, s.type, s.timestamp FROM flow_run_states s \
     JOIN flow_runs r ON r.id = s.flow_run_id JOIN deployments d ON d.id = r.deployment_id \
     WHERE d.name = 'burst'";
/// How many of the bench's runs are Completed.
const COMPLETED: &str = "SELECT COUNT(*) FROM flow_runs r JOIN deployments d \
     ON d.id = r.deployment_id WHERE d.name = 'burst' AND r.state_type = 'COMPLETED'";

impl Database {
    async fn open(url: &str, backend: Backend) -> Database {
        match backend {
            Backend::Sqlite => Database::Sqlite(
                sqlx::SqlitePool::connect(url)
                    .await
                    .expect("open the SQLite database"),
            ),
            Backend::Postgres => Database::Postgres(
                sqlx::PgPool::connect(url)
                    .await
                    .expect("open the PostgreSQL database"),
            ),
        }
    }

    async fn completed(&self) -> usize {
        let (count,): (i64,) = match self {
            Database::Sqlite(pool) => sqlx::query_as(COMPLETED).fetch_one(pool).await,
            Database::Postgres(pool) => sqlx::query_as(COMPLETED).fetch_one(pool).await,
        }
        .expect("count Completed runs");
        usize::try_from(count).unwrap_or_default()
    }

    async fn history(&self) -> Vec<(String, String, i64)> {
        match self {
            Database::Sqlite(pool) => sqlx::query_as(HISTORY).fetch_all(pool).await,
            Database::Postgres(pool) => sqlx::query_as(HISTORY).fetch_all(pool).await,
        }
        .expect("state history")
    }
}

struct Span {
    first: i64,
    last: i64,
    count: usize,
}

impl Span {
    fn of(history: &[(String, String, i64)], state: &str) -> Span {
        let times: Vec<i64> = history
            .iter()
            .filter(|(_, kind, _)| kind == state)
            .map(|(_, _, at)| *at)
            .collect();
        Span {
            first: times.iter().copied().min().unwrap_or_default(),
            last: times.iter().copied().max().unwrap_or_default(),
            count: times.len(),
        }
    }

    fn print(&self, what: &str) {
        let seconds = (self.last - self.first) as f64 / 1e6;
        println!(
            "{what:<44} {:>5} in {seconds:>7.3} s = {:>6.0} runs/s",
            self.count,
            self.count as f64 / seconds.max(1e-6)
        );
    }
}

#[tokio::main]
async fn main() {
    let runs = env_number("BENCH_RUNS", 2000);
    let forks = env_number("BENCH_FORKS", 2000);
    let clients = env_number("BENCH_CLIENTS", 8).max(1);
    let backend = match std::env::var("BENCH_DATABASE").as_deref() {
        Err(_) | Ok("sqlite") => Backend::Sqlite,
        Ok("postgres") => Backend::Postgres,
        Ok(other) => panic!("BENCH_DATABASE must be sqlite or postgres, not {other:?}"),
    };
    let server_args = std::env::var("BENCH_SERVER_ARGS").unwrap_or_default();
    let server_args: Vec<&str> = server_args.split_whitespace().collect();
    let isolation = std::env::var("BENCH_ISOLATION").unwrap_or_else(|_| "none".into());
    let ticks = clock_ticks();

    println!(
        "orch throughput benchmark: {runs} trivial runs (`true`), 1 worker, {}, loopback",
        backend.as_str()
    );
    println!("server arguments: {server_args:?}; worker isolation: {isolation}");
    println!("load average at start: {}", load_average());

    // The database outlives the server (dropped after it).
    let database = (backend == Backend::Postgres).then(orch_testkit::TestDatabase::postgres);
    let server = TestServer::start_on(
        database.as_ref().map_or("", |database| database.url()),
        &server_args,
    );
    let toml = deployment_toml("burst", "burst", "burst-pool", &["true"], "");
    let _dir = server.deploy("burst-pool", &toml);
    server.ok(&["work-pool", "pause", "burst-pool"]);
    // A worker token, as a deployed worker has: an admin's state reports
    // would be audited as changes made by hand.
    let worker_key = server.json(&[
        "token",
        "create",
        "burst-worker",
        "--scope",
        "worker",
        "--pool",
        "burst-pool",
    ])["api_key"]
        .as_str()
        .expect("a key")
        .to_owned();
    let worker = server.start_worker(
        "burst-pool",
        &["--isolation", &isolation, "--api-key", &worker_key],
    );

    let key = server.admin_key();
    let channel = tonic::transport::Endpoint::from_shared(server.url().to_string())
        .expect("URL")
        .connect()
        .await
        .expect("connect");
    let channel = orch_proto::credentials::with_credentials(channel, server.url(), Some(&key));

    // Creation into the paused pool.
    let server_pid = server.pid().expect("server running");
    let worker_pid = worker.pid();
    let created_cpu = cpu_seconds(server_pid, ticks).0;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..clients {
        let mut deployments = DeploymentServiceClient::new(channel.clone());
        let share = runs / clients + usize::from(client < runs % clients);
        tasks.push(tokio::spawn(async move {
            for _ in 0..share {
                deployments
                    .run_deployment(pb::RunDeploymentRequest {
                        deployment: "burst/burst".into(),
                        ..Default::default()
                    })
                    .await
                    .expect("create run");
            }
        }));
    }
    for task in tasks {
        task.await.expect("creator");
    }
    let creation = started.elapsed().as_secs_f64();
    let creation_cpu = cpu_seconds(server_pid, ticks).0 - created_cpu;

    // The machine's limit, measured now, between creation and drain.
    let fork_rate = fork_exec_rate(forks);

    // The drain.
    let db = Database::open(server.database_url(), backend).await;
    let load_before = load_average();
    let server_cpu = cpu_seconds(server_pid, ticks).0;
    let (worker_cpu, worker_children_cpu) = cpu_seconds(worker_pid, ticks);
    // Its CPU is in neither the worker's own nor (until it is reaped) its
    // children's.
    let guard = guard_of(worker_pid);
    let guard_cpu = guard.map_or(0.0, |pid| cpu_seconds(pid, ticks).0);
    let perf = std::env::var("BENCH_PERF_DIR").ok().map(|dir| {
        [("server", server_pid), ("worker", worker_pid)].map(|(name, pid)| {
            std::process::Command::new("perf")
                .args(["record", "-F", "999", "-g", "-o"])
                .arg(format!("{dir}/{name}.data"))
                .args(["-p", &pid.to_string()])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("start perf")
        })
    });
    let started = Instant::now();
    server.ok(&["work-pool", "resume", "burst-pool"]);
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if db.completed().await >= runs {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the runs did not complete within 10 minutes"
        );
    }
    let drain_wall = started.elapsed().as_secs_f64();
    let server_cpu = cpu_seconds(server_pid, ticks).0 - server_cpu;
    let (worker_after, children_after) = cpu_seconds(worker_pid, ticks);
    let worker_cpu = worker_after - worker_cpu;
    let children_cpu = children_after - worker_children_cpu;
    let guard_cpu = guard.map_or(0.0, |pid| cpu_seconds(pid, ticks).0) - guard_cpu;
    let load_after = load_average();
    for mut perf in perf.into_iter().flatten() {
        let _ = std::process::Command::new("kill")
            .args(["-INT", &perf.id().to_string()])
            .status();
        let _ = perf.wait();
    }

    let history = db.history().await;
    let claims = Span::of(&history, "PENDING");
    let running = Span::of(&history, "RUNNING");
    let done = Span::of(&history, "COMPLETED");
    assert_eq!(done.count, runs, "every run Completed once");
    let drain = Span {
        first: claims.first,
        last: done.last,
        count: done.count,
    };
    let drain_rate = runs as f64 / ((drain.last - drain.first) as f64 / 1e6);

    println!("fork/exec of `true`, one after another      {forks:>5} = {fork_rate:>6.0} runs/s");
    println!(
        "run creation through gRPC ({clients} clients)        {runs:>5} in {creation:>7.3} s = {:>6.0} runs/s; server CPU {:.0} µs/run",
        runs as f64 / creation,
        creation_cpu * 1e6 / runs as f64
    );
    claims.print("claimed (first -> last Pending)");
    running.print("started (first -> last Running)");
    done.print("reported (first -> last Completed)");
    drain.print("DRAIN (first Pending -> last Completed)");
    println!(
        "drain against fork/exec: {:.0} %; wall time from resume to all seen Completed {drain_wall:.3} s",
        drain_rate * 100.0 / fork_rate
    );
    println!(
        "CPU per run during the drain: server {:.0} µs, worker {:.0} µs, its `true` children {:.0} µs, \
         its flow guard {}",
        server_cpu * 1e6 / runs as f64,
        worker_cpu * 1e6 / runs as f64,
        children_cpu * 1e6 / runs as f64,
        guard.map_or_else(
            || "(none)".to_owned(),
            |_| format!("{:.0} µs", guard_cpu * 1e6 / runs as f64)
        )
    );
    println!("load average before / after the drain: {load_before} / {load_after}");
}
