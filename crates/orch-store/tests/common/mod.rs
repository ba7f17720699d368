//! Shared helpers: a fresh SQLite database per test, and builders for the
//! objects most tests need. Each test binary uses a different subset.
#![allow(dead_code)]

use std::ops::Deref;

use orch_core::{DeploymentSpec, ScheduleSpec, StateType};
use orch_store::{
    Backend, Changed, Deployment, DeploymentInput, FlowRun, JsonObject, NewState, Proposal, Store,
    StoreError, TransitionResult, WorkPool, Worker,
};
use orch_testkit::TestDatabase;
use serde_json::Value;

/// A store on its own database (a SQLite file or a PostgreSQL database, per
/// the test binary's [`crate::BACKEND`]), deleted when the value is dropped.
pub struct TestStore {
    store: Store,
    _database: TestDatabase,
}

impl Deref for TestStore {
    type Target = Store;

    fn deref(&self) -> &Store {
        &self.store
    }
}

impl TestStore {
    /// The store itself, e.g. to move a clone into a task.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The database's URL, to reach it behind the store's back.
    pub fn url(&self) -> &str {
        self._database.url()
    }
}

/// Opens a new, migrated database of the binary's backend.
pub async fn store() -> TestStore {
    let database = match crate::BACKEND {
        Backend::Sqlite => TestDatabase::sqlite(),
        Backend::Postgres => TestDatabase::postgres(),
    };
    let store = Store::connect(database.url())
        .await
        .unwrap_or_else(|e| panic!("connect to {}: {e}", database.url()));
    TestStore {
        store,
        _database: database,
    }
}

/// A JSON object from a `json!({...})` literal.
pub fn object(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        other => panic!("not a JSON object: {other}"),
    }
}

/// Microseconds in a second.
pub const SECOND: i64 = 1_000_000;

/// Creates a `process` pool with no limit.
pub async fn create_pool(store: &Store, name: &str) -> WorkPool {
    store
        .work_pools()
        .create_work_pool(name, "process", "", None)
        .await
        .expect("create work pool")
}

/// A deployment of `flow/name` on `pool` with no parameters, retries or schedules.
pub fn spec(flow: &str, name: &str, pool: &str) -> DeploymentSpec {
    DeploymentSpec {
        flow: flow.into(),
        name: name.into(),
        entrypoint: vec!["python".into(), "-m".into(), flow.into()],
        work_pool: pool.into(),
        parameters: JsonObject::new(),
        tags: vec![],
        description: String::new(),
        retries: 0,
        retry_delay_seconds: 0,
        paused: false,
        schedules: vec![],
        policy: orch_core::RunPolicy::default(),
        retention: orch_core::Retention::default(),
        environment: orch_core::FlowEnvironment::default(),
        container: orch_core::ContainerSettings::default(),
    }
}

/// An interval schedule named `slug`.
pub fn interval_schedule(slug: &str, seconds: u64) -> ScheduleSpec {
    ScheduleSpec {
        slug: slug.into(),
        rule: orch_core::ScheduleRule {
            cron: None,
            interval_seconds: Some(seconds),
            anchor: None,
            rrule: None,
            timezone: "UTC".into(),
            active: true,
            parameters: JsonObject::new(),
        },
        calendar: None,
        skip_after_close: true,
    }
}

/// Wraps a spec as an apply input declared in `/srv/project`.
pub fn input(spec: DeploymentSpec) -> DeploymentInput {
    DeploymentInput {
        spec,
        base_dir: "/srv/project".into(),
    }
}

/// Applies one spec and returns the stored deployment.
pub async fn deploy(store: &Store, spec: DeploymentSpec) -> Deployment {
    let reference = format!("{}/{}", spec.flow, spec.name);
    store
        .deployments()
        .apply_deployments(&[input(spec)])
        .await
        .expect("apply deployment");
    store
        .deployments()
        .deployment(&reference)
        .await
        .expect("deployment")
}

/// Creates pool `pool` and deployment `flow/name` on it.
pub async fn pool_and_deployment(store: &Store, pool: &str, flow: &str, name: &str) -> Deployment {
    create_pool(store, pool).await;
    deploy(store, spec(flow, name, pool)).await
}

/// Registers a worker of `pool` with a run limit (0 = unlimited).
pub async fn register(store: &Store, name: &str, pool: &str, limit: u32) -> Worker {
    store
        .workers()
        .register_worker(name, pool, "host-1", limit, "0.1.0")
        .await
        .expect("register worker")
}

/// Creates a run of `deployment` due now, with no overrides.
pub async fn run_now(store: &Store, deployment: &Deployment) -> FlowRun {
    store
        .flow_runs()
        .create_flow_run(&deployment.id, &JsonObject::new(), None, "")
        .await
        .expect("create flow run")
        .value
}

/// Creates a run of `deployment` due at `at` (microseconds).
pub async fn run_at(store: &Store, deployment: &Deployment, at: i64) -> FlowRun {
    store
        .flow_runs()
        .create_flow_run(&deployment.id, &JsonObject::new(), Some(at), "")
        .await
        .expect("create flow run")
        .value
}

/// A proposal to enter `kind`, from no particular worker.
pub fn propose(kind: StateType) -> Proposal {
    Proposal {
        state: NewState::new(kind, "", ""),
        transition_id: String::new(),
        worker_id: None,
    }
}

/// A proposal to enter `kind`, made by worker `worker_id`.
pub fn propose_as(worker_id: &str, kind: StateType) -> Proposal {
    Proposal {
        worker_id: Some(worker_id.to_string()),
        ..propose(kind)
    }
}

/// The run of an accepted transition; panics on a rejection.
pub fn accepted(result: Changed<TransitionResult>) -> FlowRun {
    match result.value {
        TransitionResult::Accepted(run) => run,
        TransitionResult::Rejected { reason, .. } => panic!("transition rejected: {reason}"),
    }
}

/// The run and reason of a rejected transition; panics when it was accepted.
pub fn rejected(result: Changed<TransitionResult>) -> (FlowRun, String) {
    match result.value {
        TransitionResult::Rejected { run, reason } => (run, reason),
        TransitionResult::Accepted(run) => panic!("transition accepted: {:?}", run.state),
    }
}

/// Applies `kind` to a run and expects it accepted.
pub async fn move_to(store: &Store, run_id: &str, kind: StateType) -> FlowRun {
    accepted(
        store
            .flow_runs()
            .set_flow_run_state(run_id, propose(kind))
            .await
            .expect("set state"),
    )
}

/// Moves a Scheduled run through Pending to Running.
pub async fn start(store: &Store, run_id: &str) -> FlowRun {
    move_to(store, run_id, StateType::Pending).await;
    move_to(store, run_id, StateType::Running).await
}

/// Claims up to `max` runs for a worker and returns their ids, in claim order.
pub async fn claim_ids(store: &Store, worker_id: &str, max: u32) -> Vec<String> {
    store
        .claims()
        .claim_runs(worker_id, max)
        .await
        .expect("claim runs")
        .value
        .into_iter()
        .map(|claimed| claimed.run.id)
        .collect()
}

/// The state types of a run's history, oldest first.
pub async fn history_types(store: &Store, run_id: &str) -> Vec<StateType> {
    store
        .flow_runs()
        .flow_run_history(run_id)
        .await
        .expect("history")
        .into_iter()
        .map(|state| state.kind)
        .collect()
}

/// The display message of an error that must be `NotFound`.
pub fn not_found_message(error: StoreError) -> String {
    assert!(
        matches!(error, StoreError::NotFound { .. }),
        "expected NotFound, got {error:?}"
    );
    error.to_string()
}

/// Lets the wall clock move on, so that later timestamps are strictly greater.
pub async fn tick() {
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
}

/// A connection to the test's database behind the store's back, with
/// foreign keys on as the store has them (so deletes cascade).
pub async fn raw_connection(test_store: &TestStore) -> sqlx::pool::PoolConnection<sqlx::Any> {
    let pool = sqlx::AnyPool::connect(test_store.url()).await.unwrap();
    let mut conn = pool.acquire().await.unwrap();
    if crate::BACKEND == Backend::Sqlite {
        sqlx::query("PRAGMA foreign_keys = ON")
            .execute(&mut *conn)
            .await
            .unwrap();
    }
    conn
}
