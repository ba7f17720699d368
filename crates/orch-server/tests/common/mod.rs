//! A server state over a fresh database (SQLite or PostgreSQL, per the test
//! binary's [`crate::BACKEND`]) and a manual clock: tests
//! drive the scheduler pass and the sweep themselves, so an hour passes in
//! no time and nothing sleeps.
#![allow(dead_code)]

use std::time::Duration;

use chrono::{DateTime, Utc};
use orch_core::StateType;
use orch_server::{AppState, ServerConfig};
use orch_store::{
    Backend, DeploymentInput, FlowRun, FlowRunFilter, ManualClock, NewState, Proposal, Store,
    TransitionResult, Worker,
};
use orch_testkit::TestDatabase;
use tokio::sync::watch;

/// The key sealing the test server's secrets.
pub const TEST_SECRET_KEY: &str =
    "8f1c0e2d4b6a7988a7b6c5d4e3f201f1e2d3c4b5a69788796a5b4c3d2e1f0a1b";

/// A server state on its own database, with a clock that moves only when told.
pub struct Harness {
    pub state: AppState,
    pub clock: ManualClock,
    database: TestDatabase,
    _stop: watch::Sender<bool>,
}

/// A caller with authentication off: what the use cases called directly
/// here act for.
pub fn anyone() -> orch_server::caller::Caller {
    orch_server::caller::Caller {
        name: orch_server::caller::Caller::ANONYMOUS.to_owned(),
        address: None,
        credential_id: None,
        principal: orch_core::auth::Principal::Unchecked,
    }
}

/// Parses an RFC 3339 time.
pub fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .with_timezone(&Utc)
}

/// Microseconds of an RFC 3339 time.
pub fn micros(text: &str) -> i64 {
    utc(text).timestamp_micros()
}

async fn open(url: &str, clock: &ManualClock) -> (AppState, watch::Sender<bool>) {
    open_with(url, clock, false, orch_core::defaults::TOKEN_CACHE).await
}

async fn open_with(
    url: &str,
    clock: &ManualClock,
    auth: bool,
    token_cache: Duration,
) -> (AppState, watch::Sender<bool>) {
    let store = Store::connect(url)
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"))
        .with_clock(clock.clock());
    let (stop, stopped) = watch::channel(false);
    let mut config = ServerConfig::new(url);
    config.secret_key = Some(orch_server::SecretKeySource::Value(
        TEST_SECRET_KEY.to_owned(),
    ));
    // These suites exercise use cases; `auth.rs` tests the authentication layer.
    config.auth = auth;
    config.token_cache = token_cache;
    (AppState::new(store, config, stopped), stop)
}

impl Harness {
    /// A new database, the clock at `start`, and pool `pool`.
    pub async fn start(start: &str, pool: &str) -> Harness {
        let database = match crate::BACKEND {
            Backend::Sqlite => TestDatabase::sqlite(),
            Backend::Postgres => TestDatabase::postgres(),
        };
        let clock = ManualClock::new(utc(start));
        let (state, stop) = open(database.url(), &clock).await;
        state
            .store()
            .work_pools()
            .create_work_pool(pool, "process", "", None)
            .await
            .expect("create pool");
        Harness {
            state,
            clock,
            database,
            _stop: stop,
        }
    }

    /// A server restart: a new state and connection on the same database and clock.
    pub async fn restart(&mut self) {
        self.state.store().close().await;
        let (state, stop) = open(self.database.url(), &self.clock).await;
        self.state = state;
        self._stop = stop;
    }

    /// The store.
    pub fn store(&self) -> &Store {
        self.state.store()
    }

    /// A second server on the same database and clock, with connections of
    /// its own, as another replica would be.
    pub async fn replica(&self) -> Replica {
        let (state, stop) = open(self.database.url(), &self.clock).await;
        Replica { state, _stop: stop }
    }

    /// A server on the same database with authentication on (the harness's
    /// own state has it off).
    pub async fn secured(&self) -> Replica {
        self.secured_with_token_cache(orch_core::defaults::TOKEN_CACHE)
            .await
    }

    /// [`Harness::secured`] with `--token-cache-seconds` (zero: off). Its
    /// token cache hears other replicas' revocations once
    /// `orch_server::auth::cache::listen` is called, as `orch server start` does.
    pub async fn secured_with_token_cache(&self, token_cache: Duration) -> Replica {
        let (state, stop) = open_with(self.database.url(), &self.clock, true, token_cache).await;
        Replica { state, _stop: stop }
    }

    /// A run of `deployment` (`flow/name`) due now, through the use case
    /// `RunDeployment` calls (its effects included).
    pub async fn run_now(&self, deployment: &str) -> orch_store::FlowRun {
        orch_server::ops::deployments::run(
            &self.state,
            deployment,
            &Default::default(),
            None,
            "",
            None,
        )
        .await
        .expect("run the deployment")
    }

    /// Registers the deployments of a deploy file, as `orch deploy` does.
    pub async fn deploy(&self, toml: &str) {
        let specs = orch_core::parse_deploy_file("orch.toml", toml).expect("a valid deploy file");
        let inputs: Vec<DeploymentInput> = specs
            .into_iter()
            .map(|spec| DeploymentInput {
                spec,
                base_dir: "/srv/project".into(),
            })
            .collect();
        self.store()
            .deployments()
            .apply_deployments(&inputs)
            .await
            .expect("apply deployments");
    }

    /// One scheduler pass; returns how many runs it created.
    pub async fn schedule(&self) -> usize {
        orch_server::scheduler::run_once(&self.state)
            .await
            .expect("scheduler pass")
            .created
    }

    /// One background sweep (late runs, leases, slots).
    pub async fn sweep(&self) {
        orch_server::background::sweep(&self.state).await;
    }

    /// Moves the clock on.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// Runs of a deployment ("flow/name"), oldest due first.
    pub async fn runs(&self, deployment: &str) -> Vec<FlowRun> {
        let deployment = self
            .store()
            .deployments()
            .deployment(deployment)
            .await
            .expect("deployment");
        let mut runs = self
            .store()
            .flow_runs()
            .list_flow_runs(&FlowRunFilter {
                deployment_id: Some(deployment.id),
                limit: 10_000,
                ..FlowRunFilter::default()
            })
            .await
            .expect("list runs");
        runs.sort_by(|a, b| (a.expected_start, &a.id).cmp(&(b.expected_start, &b.id)));
        runs
    }

    /// Runs of a deployment in state type `kind`, oldest due first.
    pub async fn runs_in(&self, deployment: &str, kind: StateType) -> Vec<FlowRun> {
        self.runs(deployment)
            .await
            .into_iter()
            .filter(|run| run.state.kind == kind)
            .collect()
    }

    /// Registers a worker of `pool`.
    pub async fn worker(&self, name: &str, pool: &str) -> Worker {
        self.store()
            .workers()
            .register_worker(name, pool, "host-1", 0, "test")
            .await
            .expect("register worker")
    }

    /// Claims up to `max` runs for the worker; returns them.
    pub async fn claim(&self, worker: &Worker, max: u32) -> Vec<FlowRun> {
        self.store()
            .claims()
            .claim_runs(&worker.id, max)
            .await
            .expect("claim")
            .value
            .into_iter()
            .map(|claimed| claimed.run)
            .collect()
    }

    /// The worker reports a run in state `kind`.
    pub async fn report(&self, worker: &Worker, run_id: &str, kind: StateType) -> FlowRun {
        let proposal = Proposal {
            state: NewState::new(kind, "", ""),
            transition_id: String::new(),
            worker_id: Some(worker.id.clone()),
        };
        match self
            .store()
            .flow_runs()
            .set_flow_run_state(run_id, proposal)
            .await
            .expect("set state")
            .value
        {
            TransitionResult::Accepted(run) => run,
            TransitionResult::Rejected { reason, .. } => panic!("rejected: {reason}"),
        }
    }

    /// A new run of `deployment`, claimed by a new worker `worker_name` of
    /// `pool` and reported Running.
    pub async fn running_run(
        &self,
        deployment: &str,
        pool: &str,
        worker_name: &str,
    ) -> (FlowRun, Worker) {
        let run = self
            .store()
            .flow_runs()
            .create_flow_run(deployment, &orch_store::JsonObject::new(), None, "")
            .await
            .expect("create run")
            .value;
        let worker = self.worker(worker_name, pool).await;
        self.claim(&worker, 1).await;
        let run = self.report(&worker, &run.id, StateType::Running).await;
        (run, worker)
    }

    /// A run by id.
    pub async fn run(&self, run_id: &str) -> FlowRun {
        self.store()
            .flow_runs()
            .flow_run(run_id)
            .await
            .expect("run")
    }
}

/// Another server's state on a [`Harness`]'s database.
pub struct Replica {
    pub state: AppState,
    _stop: watch::Sender<bool>,
}

/// Expected starts of runs as RFC 3339 UTC strings.
pub fn starts(runs: &[FlowRun]) -> Vec<String> {
    runs.iter()
        .map(|run| {
            orch_store::micros_to_utc(run.expected_start)
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string()
        })
        .collect()
}
