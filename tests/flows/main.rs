//! `orch-testflows`: real flows written with orch-sdk, run by the end-to-end
//! tests through a real server and worker (and standalone).

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use orch_sdk::{App, FlowContext, TaskTimedOut, millis};
use serde::Deserialize;
use tracing::Instrument;

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Flaky {
    fail_times: u32,
    delays_ms: Vec<u64>,
}

impl Default for Flaky {
    fn default() -> Self {
        Flaky {
            fail_times: 2,
            delays_ms: vec![100, 300],
        }
    }
}

/// A task that fails `fail_times` times, then succeeds.
async fn flaky(ctx: FlowContext, params: Flaky) -> anyhow::Result<u32> {
    let calls = Arc::new(AtomicU32::new(0));
    let delays = params.delays_ms.iter().map(|ms| millis(*ms)).collect();
    let answer = ctx
        .task("flaky-step")
        .retry_delays(delays)
        .run(|| {
            let calls = calls.clone();
            async move {
                let call = calls.fetch_add(1, Ordering::SeqCst) + 1;
                if call <= params.fail_times {
                    anyhow::bail!("transient failure {call}");
                }
                Ok(call)
            }
        })
        .await?;
    Ok(*answer)
}

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Backoff {
    retries: u32,
    initial_ms: u64,
    factor: f32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            retries: 3,
            initial_ms: 100,
            factor: 2.0,
        }
    }
}

/// A task that always fails, with exponential backoff; the flow itself completes.
async fn backoff(ctx: FlowContext, params: Backoff) -> anyhow::Result<String> {
    let result = ctx
        .task("always-fails")
        .retries(params.retries)
        .retry_delay(millis(params.initial_ms))
        .backoff_factor(params.factor)
        .run(|| async { Err::<(), _>(anyhow::anyhow!("still down")) })
        .await;
    Ok(match result {
        Ok(_) => "unexpected success".into(),
        Err(error) => error.to_string(),
    })
}

/// A task slower than its timeout, retried once.
async fn timeout(ctx: FlowContext, _: serde_json::Value) -> anyhow::Result<()> {
    ctx.task("slow-step")
        .timeout(millis(200))
        .retries(1)
        .retry_if(|error| error.is::<TaskTimedOut>())
        .run(|| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok::<_, anyhow::Error>(())
        })
        .await?;
    Ok(())
}

/// Two slow tasks in parallel, then one that consumes both outputs.
async fn parallel(ctx: FlowContext, _: serde_json::Value) -> anyhow::Result<f64> {
    let slow = |value: f64| async move {
        tokio::time::sleep(millis(300)).await;
        Ok::<_, anyhow::Error>(value)
    };
    let (news, quotes) = tokio::try_join!(
        ctx.task("fetch-news").run(|| slow(0.25)),
        ctx.task("fetch-quotes").run(|| slow(101.5)),
    )?;
    let score = ctx
        .task("fuse")
        .run(|| async { Ok::<_, anyhow::Error>(*news * *quotes) })
        .await?;
    Ok(*score)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CrashOnce {
    marker: String,
}

/// First run: writes its pid to `marker` and sleeps (the test SIGKILLs it).
/// Retry: the marker exists, so it completes.
async fn crash_once(ctx: FlowContext, params: CrashOnce) -> anyhow::Result<&'static str> {
    if std::path::Path::new(&params.marker).exists() {
        tracing::info!("marker found: this is the retry");
        return Ok("recovered");
    }
    std::fs::write(&params.marker, std::process::id().to_string())?;
    ctx.task("wait-to-be-killed")
        .run(|| async {
            tokio::time::sleep(Duration::from_secs(120)).await;
            Ok::<_, anyhow::Error>(())
        })
        .await?;
    Ok("not killed")
}

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Lines {
    count: u32,
}

impl Default for Lines {
    fn default() -> Self {
        Lines { count: 200 }
    }
}

/// Logs `count` lines through tracing (half inside a task) and exits at once.
async fn quick_logs(ctx: FlowContext, params: Lines) -> anyhow::Result<()> {
    let half = params.count / 2;
    for i in 1..=half {
        tracing::info!("flow line {i}");
    }
    ctx.task("log-task")
        .run(|| async {
            for i in half + 1..=params.count {
                tracing::info!("task line {i}");
            }
            Ok::<_, anyhow::Error>(())
        })
        .await?;
    Ok(())
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct Report {
    mae: f64,
    signal: String,
}

/// Publishes the artifacts of a trading run: a decision table (from inside a
/// task), a markdown note holding a `<script>` that must stay inert, and the
/// model's metrics under the key `model-GOOG`.
async fn report(ctx: FlowContext, params: Report) -> anyhow::Result<()> {
    let signal = params.signal.clone();
    let decide = ctx.clone();
    ctx.task("decide")
        .run(|| {
            let (decide, signal) = (decide.clone(), signal.clone());
            async move {
                #[derive(serde::Serialize)]
                struct Row {
                    symbol: &'static str,
                    signal: String,
                    confidence: f64,
                }
                decide
                    .artifact("decision-GOOG")
                    .description("signals of this run")
                    .table([
                        Row {
                            symbol: "GOOG",
                            signal,
                            confidence: 0.71,
                        },
                        Row {
                            symbol: "MSFT",
                            signal: "HOLD".into(),
                            confidence: 0.42,
                        },
                        Row {
                            symbol: "AAPL",
                            signal: "SELL".into(),
                            confidence: 0.93,
                        },
                    ])
                    .await?;
                Ok::<_, anyhow::Error>(())
            }
        })
        .await?;
    ctx.artifact("note")
        .markdown(
            "## Why\n\nThe **fused** signal crossed the threshold.\n\n\
             <script>window.__artifactXss = true;</script>\n\n\
             <img src=x onerror=\"window.__artifactXss = true\">\n\n- one\n- two",
        )
        .await?;
    ctx.artifact("model-GOOG")
        .metrics([
            ("mae", params.mae),
            ("directional_accuracy", 0.5 + 0.01 * params.mae),
        ])
        .await?;
    Ok(())
}

/// A task that panics.
async fn panic_task(ctx: FlowContext, _: serde_json::Value) -> anyhow::Result<()> {
    ctx.task("explodes")
        .run(|| async {
            if std::env::var("NEVER_SET_VARIABLE").is_err() {
                panic!("boom in task");
            }
            Ok::<_, anyhow::Error>(())
        })
        .await?;
    Ok(())
}

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Many {
    count: u32,
}

impl Default for Many {
    fn default() -> Self {
        Many { count: 1000 }
    }
}

/// `count` trivial tasks in sequence (for the per-task overhead figure).
async fn many_tasks(ctx: FlowContext, params: Many) -> anyhow::Result<u64> {
    let mut total = 0u64;
    for i in 0..params.count {
        let value = ctx
            .task("step")
            .run(|| async move { Ok::<_, anyhow::Error>(u64::from(i)) })
            .await?;
        total += *value;
    }
    Ok(total)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Typed {
    #[serde(default)]
    force: bool,
}

/// One task tagged `yahoo` that holds its slot for 400 ms.
async fn tagged(ctx: FlowContext, _: serde_json::Value) -> anyhow::Result<()> {
    ctx.task("call-yahoo")
        .tag("yahoo")
        .run(|| async {
            tokio::time::sleep(millis(400)).await;
            Ok::<_, anyhow::Error>(())
        })
        .await?;
    Ok(())
}

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Burn {
    mib: usize,
    cpu_ms: u64,
}

impl Default for Burn {
    fn default() -> Self {
        Burn {
            mib: 300,
            cpu_ms: 2000,
        }
    }
}

/// This process's CPU time (user and system, all threads) from
/// `/proc/self/stat`, in milliseconds (10 ms resolution).
fn process_cpu_ms() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_comm = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<u64> = after_comm
        .split_ascii_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|field| field.parse().ok())
        .collect();
    // Clock ticks of 10 ms (USER_HZ is 100 on Linux).
    fields.iter().sum::<u64>() * 10
}

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct TaskCpu {
    ms: u64,
}

impl Default for TaskCpu {
    fn default() -> Self {
        TaskCpu { ms: 500 }
    }
}

/// A task that burns `ms` of CPU (until the process has used that much more),
/// and one that sleeps as long: their task runs' CPU time.
async fn task_cpu(ctx: FlowContext, params: TaskCpu) -> anyhow::Result<()> {
    ctx.task("burns-cpu")
        .run(|| async {
            let start = process_cpu_ms();
            let mut spins = 0u64;
            while process_cpu_ms() < start + params.ms {
                for _ in 0..100_000 {
                    spins = std::hint::black_box(spins.wrapping_add(1));
                }
            }
            Ok::<_, anyhow::Error>(spins)
        })
        .await?;
    ctx.task("sleeps-a-while")
        .run(|| async {
            tokio::time::sleep(millis(params.ms)).await;
            Ok::<_, anyhow::Error>(())
        })
        .await?;
    Ok(())
}

/// Allocates and touches `mib` MiB, then burns CPU until the process has
/// used `cpu_ms` of it in all (for the resource usage figures).
async fn burn(_ctx: FlowContext, params: Burn) -> anyhow::Result<u64> {
    let memory = vec![1u8; params.mib * 1024 * 1024];
    // Touch every page again, so that none is shared or left unmapped.
    let mut memory = std::hint::black_box(memory);
    for page in memory.chunks_mut(4096) {
        page[0] = page[0].wrapping_add(1);
    }
    let mut spins = 0u64;
    while process_cpu_ms() < params.cpu_ms {
        for _ in 0..100_000 {
            spins = std::hint::black_box(spins.wrapping_add(1));
        }
    }
    Ok(spins ^ u64::from(std::hint::black_box(&memory).first().copied().unwrap_or(0)))
}

/// Shows the secret in variable `SIGNING_KEY` every way a flow might: each
/// line logged alone, the whole value logged, a line returned as a task's
/// result, the whole value in a task's error. The SDK hides every one.
async fn secret_lines(ctx: FlowContext, _: serde_json::Value) -> anyhow::Result<()> {
    let value = std::env::var("SIGNING_KEY").unwrap_or_default();
    for line in value.lines() {
        tracing::info!("{line}");
    }
    tracing::info!(key = ?value, "the whole key");
    let line = value.lines().nth(1).unwrap_or_default().to_owned();
    ctx.task("returns-a-line")
        .run(|| {
            let line = line.clone();
            async move { Ok::<_, anyhow::Error>(line) }
        })
        .await?;
    let failed = ctx
        .task("fails-with-the-key")
        .run(|| {
            let value = value.clone();
            async move { Err::<(), _>(anyhow::anyhow!("cannot sign with {value}")) }
        })
        .await;
    tracing::info!("the failing task failed: {}", failed.is_err());
    Ok(())
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct Parent {
    /// The subflow's task fails.
    fail_child: bool,
    /// How long the subflow's task sleeps first (to be cancelled meanwhile), in ms.
    child_sleep_ms: u64,
    /// When set and the file is missing: the parent writes it and fails
    /// after its subflow (its retry then finds it and completes).
    fail_once_marker: String,
    /// When set: the parent waits for this file before calling its subflow.
    go_marker: String,
}

/// A task, then subflow `child` (whose task consumes the parent's output,
/// and which calls subflow `grandchild`): 1, then 2, then 3, plus 10.
async fn parent(ctx: FlowContext, params: Parent) -> anyhow::Result<i64> {
    let one = ctx
        .task("step")
        .run(|| async { Ok::<_, anyhow::Error>(1_i64) })
        .await?;
    tracing::info!("parent before its subflow");
    if !params.go_marker.is_empty() {
        let go = std::path::Path::new(&params.go_marker);
        for _ in 0..1200 {
            if go.exists() {
                break;
            }
            tokio::time::sleep(millis(50)).await;
        }
        anyhow::ensure!(go.exists(), "{} never appeared", go.display());
    }
    let (fail, sleep_ms) = (params.fail_child, params.child_sleep_ms);
    let three = ctx
        .subflow_with(
            "child",
            &serde_json::json!({ "x": 1 }),
            |child| async move {
                // Read here (in the subflow's own code): an edge of the call's task run.
                let x = *one;
                tracing::info!("inside the subflow");
                // Spawned work logs to the subflow run: through its span
                // (`in_current_span`), or its context (`spawn`, which keeps
                // the task run too).
                tokio::spawn(async { tracing::info!("spawned in the subflow") }.in_current_span())
                    .await?;
                let ctx = child.clone();
                let two = child
                    .task("step")
                    .run(move || {
                        let ctx = ctx.clone();
                        async move {
                            ctx.spawn(async { tracing::info!("spawned in the subflow's step") })
                                .await?;
                            tokio::time::sleep(millis(sleep_ms)).await;
                            anyhow::ensure!(!fail, "the child's step broke");
                            Ok(x + 1)
                        }
                    })
                    .await?;
                child
                    .artifact("subflow-result")
                    .markdown(format!("the child made {}", *two))
                    .await?;
                child
                    .subflow("grandchild", |grandchild| async move {
                        let y = *two;
                        let three = grandchild
                            .task("step")
                            .run(|| async move { Ok::<_, anyhow::Error>(y + 1) })
                            .await?;
                        Ok(*three)
                    })
                    .await
            },
        )
        .await?;
    let marker = std::path::Path::new(&params.fail_once_marker);
    if !params.fail_once_marker.is_empty() && !marker.exists() {
        std::fs::write(marker, "failed once")?;
        anyhow::bail!("the first attempt fails after its subflow");
    }
    Ok(three + 10)
}

/// Echoes a typed parameter (unknown or ill-typed ones fail the run).
async fn typed(_ctx: FlowContext, params: Typed) -> anyhow::Result<bool> {
    Ok(params.force)
}

/// One task that sleeps 30 s: a flow to cancel or to time out.
async fn sleeps(ctx: FlowContext, _: serde_json::Value) -> anyhow::Result<()> {
    ctx.task("sleeps")
        .run(|| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok::<_, anyhow::Error>(())
        })
        .await?;
    Ok(())
}

fn main() -> ExitCode {
    App::new("orch-testflows")
        .flow("flaky", flaky)
        .flow("report", report)
        .flow("backoff", backoff)
        .flow("timeout", timeout)
        .flow("parallel", parallel)
        .flow("crash-once", crash_once)
        .flow("quick-logs", quick_logs)
        .flow("panic-task", panic_task)
        .flow("many-tasks", many_tasks)
        .flow("typed", typed)
        .flow("tagged", tagged)
        .flow("burn", burn)
        .flow("task-cpu", task_cpu)
        .flow("secret-lines", secret_lines)
        .flow("parent", parent)
        .flow(
            "emit",
            |ctx: FlowContext, params: serde_json::Value| async move {
                let name = params["event"].as_str().unwrap_or("no-data").to_owned();
                ctx.emit(&name, params["payload"].clone()).await?;
                Ok(())
            },
        )
        // Runs until cancelled (a 30 s task, no timeout): what a test cancels.
        .flow("long-flow", sleeps)
        // Times out after 500 ms (the `.timeout` below is this flow's).
        .flow("slow-flow", sleeps)
        .timeout(millis(500))
        .run()
}
