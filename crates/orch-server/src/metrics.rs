//! Prometheus metrics at `GET /metrics` (OpenMetrics text, `prometheus-client`).
//!
//! Two kinds: events observed as they happen in this process (transitions,
//! durations, lateness, pickup latency, retries; they start at zero with the
//! process, as Prometheus counters do), and gauges read from the database at
//! each scrape (runs by deployment and state, workers online, queue depth,
//! runs in flight), which are right across restarts and replicas.
//!
//! Each server has its own registry ([`Metrics`], held by its
//! [`AppState`]), so two servers in one process (tests, an embedding
//! program) count apart.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use orch_core::{StateType, names};
use orch_store::{Cause, FlowRun, Transition};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::sync::Mutex;

use crate::state::AppState;

/// Buckets (seconds) of run and task durations: 50 ms to 2 h.
const DURATION_BUCKETS: [f64; 16] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
    7200.0,
];
/// Buckets (seconds) of lateness and pickup latency: 5 ms to 15 min.
const LATENCY_BUCKETS: [f64; 15] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
];

/// Buckets (seconds) of a run's CPU time: 10 ms to 4 h.
const CPU_BUCKETS: [f64; 16] = [
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0,
    14400.0,
];
/// Buckets (bytes) of a run's peak resident memory: 16 MiB to 64 GiB, doubling.
const RSS_BUCKETS: [f64; 13] = [
    16.0 * MIB,
    32.0 * MIB,
    64.0 * MIB,
    128.0 * MIB,
    256.0 * MIB,
    512.0 * MIB,
    1024.0 * MIB,
    2048.0 * MIB,
    4096.0 * MIB,
    8192.0 * MIB,
    16384.0 * MIB,
    32768.0 * MIB,
    65536.0 * MIB,
];
const MIB: f64 = 1024.0 * 1024.0;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeploymentState {
    deployment: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeploymentLabel {
    deployment: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabel {
    work_pool: String,
}

fn durations() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

fn latencies() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

fn cpu_times() -> Histogram {
    Histogram::new(CPU_BUCKETS)
}

fn rss_sizes() -> Histogram {
    Histogram::new(RSS_BUCKETS)
}

/// All metrics of one server.
pub(crate) struct Metrics {
    registry: Registry,
    transitions: Family<DeploymentState, Counter>,
    run_duration: Family<DeploymentState, Histogram, fn() -> Histogram>,
    task_duration: Family<StateLabel, Histogram, fn() -> Histogram>,
    lateness: Family<DeploymentLabel, Histogram, fn() -> Histogram>,
    pickup: Family<PoolLabel, Histogram, fn() -> Histogram>,
    flow_retries: Family<DeploymentLabel, Counter>,
    task_retries: Counter,
    cpu: Family<DeploymentLabel, Histogram, fn() -> Histogram>,
    max_rss: Family<DeploymentLabel, Histogram, fn() -> Histogram>,
    runs: Family<DeploymentState, Gauge>,
    workers_online: Family<PoolLabel, Gauge>,
    queue_depth: Family<PoolLabel, Gauge>,
    in_flight: Family<PoolLabel, Gauge>,
    database_writable: Gauge,
    database_write_failures: Gauge,
    /// Pruning and backups.
    pub(crate) maintenance: crate::maintenance::MaintenanceMetrics,
    /// Automation firings and deliveries.
    pub(crate) automations: crate::automations::metrics::AutomationMetrics,
    /// One scrape at a time refreshes and encodes the gauges.
    scrape: Mutex<()>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// A registry with every metric at zero.
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::with_prefix("orch");
        let metrics = Metrics {
            transitions: Family::default(),
            run_duration: Family::new_with_constructor(durations as fn() -> Histogram),
            task_duration: Family::new_with_constructor(durations as fn() -> Histogram),
            lateness: Family::new_with_constructor(latencies as fn() -> Histogram),
            pickup: Family::new_with_constructor(latencies as fn() -> Histogram),
            flow_retries: Family::default(),
            task_retries: Counter::default(),
            cpu: Family::new_with_constructor(cpu_times as fn() -> Histogram),
            max_rss: Family::new_with_constructor(rss_sizes as fn() -> Histogram),
            runs: Family::default(),
            workers_online: Family::default(),
            queue_depth: Family::default(),
            in_flight: Family::default(),
            database_writable: Gauge::default(),
            database_write_failures: Gauge::default(),
            maintenance: Default::default(),
            automations: Default::default(),
            scrape: Mutex::new(()),
            registry: Registry::default(),
        };
        registry.register(
            "flow_run_transitions",
            "State changes of flow runs seen by this server, by deployment and new state",
            metrics.transitions.clone(),
        );
        registry.register(
            "flow_run_duration_seconds",
            "Start to end of finished flow runs, by deployment and final state",
            metrics.run_duration.clone(),
        );
        registry.register(
            "task_run_duration_seconds",
            "Start to end of task runs of finished flow runs, by final state",
            metrics.task_duration.clone(),
        );
        registry.register(
            "flow_run_lateness_seconds",
            "Scheduling lateness: first Running minus expected start, by deployment",
            metrics.lateness.clone(),
        );
        registry.register(
            "flow_run_pickup_latency_seconds",
            "Time from a run falling due to a worker claiming it, by work pool",
            metrics.pickup.clone(),
        );
        registry.register(
            "flow_run_retries",
            "Flow run retries granted (AwaitingRetry), by deployment",
            metrics.flow_retries.clone(),
        );
        registry.register(
            "task_run_retries",
            "Task run retries (attempts beyond the first) of finished flow runs",
            metrics.task_retries.clone(),
        );
        registry.register(
            "flow_run_cpu_seconds",
            "CPU time (user and system) of each finished attempt's processes, by deployment",
            metrics.cpu.clone(),
        );
        registry.register(
            "flow_run_max_rss_bytes",
            "Peak resident memory of each finished attempt's largest process, by deployment",
            metrics.max_rss.clone(),
        );
        registry.register(
            "flow_runs",
            "Flow runs in the database by deployment and current state type",
            metrics.runs.clone(),
        );
        registry.register(
            "workers_online",
            "Workers heartbeating within their lease, by work pool",
            metrics.workers_online.clone(),
        );
        registry.register(
            "work_pool_queue_depth",
            "Scheduled runs due and not yet claimed, by work pool",
            metrics.queue_depth.clone(),
        );
        registry.register(
            "work_pool_runs_in_flight",
            "Runs Pending, Running or Cancelling, by work pool",
            metrics.in_flight.clone(),
        );
        metrics.maintenance.register(&mut registry);
        metrics.automations.register(&mut registry);
        registry.register(
            "database_writable",
            "1 while the database stores writes, 0 while writes fail (disk full, I/O error)",
            metrics.database_writable.clone(),
        );
        registry.register(
            "database_write_failures",
            "Write transactions that failed because the database could not store them, since start",
            metrics.database_write_failures.clone(),
        );
        Metrics {
            registry,
            ..metrics
        }
    }
}

fn seconds(micros: i64) -> f64 {
    micros.max(0) as f64 / 1e6
}

fn state_label(run: &FlowRun) -> String {
    run.state.kind.display_name().to_string()
}

/// Records a transition (see [`crate::effects`]). A claim also records the
/// pickup latency; at a final state, the run's duration and, in the
/// background, its task runs' durations and retries.
pub(crate) fn observe_transition(state: &AppState, transition: &Transition) {
    let run = &transition.run;
    let metrics = state.metrics();
    if transition.cause == Cause::Claim {
        metrics
            .pickup
            .get_or_create(&PoolLabel {
                work_pool: run.work_pool.clone(),
            })
            .observe(seconds(run.state.timestamp - run.expected_start));
    }
    let deployment = run.deployment.clone();
    observe_usage(metrics, transition);
    metrics
        .transitions
        .get_or_create(&DeploymentState {
            deployment: deployment.clone(),
            state: state_label(run),
        })
        .inc();
    match run.state.kind {
        StateType::Scheduled if run.state.name == names::AWAITING_RETRY => {
            metrics
                .flow_retries
                .get_or_create(&DeploymentLabel { deployment })
                .inc();
        }
        // A subflow run starts as it is created: it is never late.
        StateType::Running if run.run_count == 1 && !run.is_subflow() => {
            if let Some(start) = run.start_time {
                metrics
                    .lateness
                    .get_or_create(&DeploymentLabel { deployment })
                    .observe(seconds(start - run.expected_start));
            }
        }
        kind if kind.is_terminal() => {
            if let (Some(start), Some(end)) = (run.start_time, run.end_time) {
                metrics
                    .run_duration
                    .get_or_create(&DeploymentState {
                        deployment,
                        state: state_label(run),
                    })
                    .observe(seconds(end - start));
            }
            // Only a run that has task runs has any to read (none of a run
            // that never started).
            if transition.task_runs {
                let state = state.clone();
                let run_id = run.id.clone();
                tokio::spawn(async move { observe_tasks(&state, &run_id).await });
            }
        }
        _ => {}
    }
}

/// Observes the resource usage a worker reported with the end of an
/// attempt. The store clears a run's usage when it enters Running, so usage
/// on a run leaving Running (or Cancelling) came with this very transition.
fn observe_usage(metrics: &Metrics, transition: &Transition) {
    let run = &transition.run;
    let Some(usage) = run.usage else {
        return;
    };
    let from_running = matches!(
        transition.from,
        Some(StateType::Running | StateType::Cancelling)
    );
    if !from_running || transition.to == StateType::Cancelling {
        return;
    }
    let label = DeploymentLabel {
        deployment: run.deployment.clone(),
    };
    metrics
        .cpu
        .get_or_create(&label)
        .observe(usage.cpu_seconds());
    metrics
        .max_rss
        .get_or_create(&label)
        .observe(usage.max_rss_bytes as f64);
}

async fn observe_tasks(state: &AppState, run_id: &str) {
    let metrics = state.metrics();
    let tasks = match state.store().task_runs().list_task_runs(run_id).await {
        Ok(tasks) => tasks,
        Err(error) => {
            tracing::warn!(%error, run = run_id, "cannot read task runs for metrics");
            return;
        }
    };
    for task in tasks {
        if let (Some(start), Some(end)) = (task.start_time, task.end_time) {
            metrics
                .task_duration
                .get_or_create(&StateLabel {
                    state: task.state.kind.display_name().to_string(),
                })
                .observe(seconds(end - start));
        }
        metrics
            .task_retries
            .inc_by(u64::from(task.attempt.saturating_sub(1)));
    }
}

/// Reads the database gauges.
async fn refresh(state: &AppState) -> Result<(), orch_store::StoreError> {
    let store = state.store();
    let metrics = state.metrics();
    let health = store.write_health();
    metrics.database_writable.set(i64::from(health.ok));
    metrics
        .database_write_failures
        .set(i64::try_from(health.failures).unwrap_or(i64::MAX));
    let deployments = store.deployments().list_deployments(None).await?;
    let name_of = |id: &Option<String>| -> String {
        id.as_ref()
            .and_then(|id| deployments.iter().find(|d| &d.id == id))
            .map(|d| d.full_name())
            .unwrap_or_default()
    };
    let counts = store.stats().runs_by_deployment_and_state().await?;
    let pools = store
        .work_pools()
        .list_work_pools(state.online_since())
        .await?;
    let queues = store.stats().pool_queues(state.now()).await?;
    metrics.runs.clear();
    for count in counts {
        metrics
            .runs
            .get_or_create(&DeploymentState {
                deployment: name_of(&count.deployment_id),
                state: count.state_type.display_name().to_string(),
            })
            .inc_by(count.count);
    }
    metrics.workers_online.clear();
    metrics.in_flight.clear();
    for pool in pools {
        let label = PoolLabel {
            work_pool: pool.name.clone(),
        };
        metrics
            .workers_online
            .get_or_create(&label)
            .set(pool.workers_online);
        metrics
            .in_flight
            .get_or_create(&label)
            .set(pool.runs_in_flight);
    }
    metrics.queue_depth.clear();
    for queue in queues {
        metrics
            .queue_depth
            .get_or_create(&PoolLabel {
                work_pool: queue.work_pool,
            })
            .set(queue.due);
    }
    Ok(())
}

/// `GET /metrics`.
pub(crate) async fn handler(State(state): State<AppState>) -> Response {
    let metrics = state.metrics();
    let _scrape = metrics.scrape.lock().await;
    if let Err(error) = refresh(&state).await {
        tracing::error!(%error, "metrics scrape failed");
        return crate::api::ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: format!("cannot read metrics from the database: {error}"),
        }
        .into_response();
    }
    let mut text = String::new();
    if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &metrics.registry) {
        return crate::api::ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: format!("cannot encode metrics: {error}"),
        }
        .into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
