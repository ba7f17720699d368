//! The worker's life: register, claim runs while there is room, drain on
//! shutdown, deregister.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use orch_proto::v1::{
    ClaimRunsRequest, ClaimedRun, DeregisterWorkerRequest, RegisterWorkerRequest,
};
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, MissedTickBehavior};
use tonic::Code;
use uuid::Uuid;

use crate::outcome::StopReason;
use crate::registry::Registry;
use crate::supervisor::{self, Context};
use crate::{WorkerConfig, WorkerError, events};
use orch_client::{
    Api, ClientOptions, Shipper, ShipperOptions, StateReports, attempt, describe, retry,
};
use orch_core::defaults;

/// How many runs to ask for at once when the worker has no limit.
const UNLIMITED_CLAIM: u32 = 64;

/// At shutdown, how long runs may take to store their logs and final state
/// (after being stopped, if they were) before the worker gives up on an
/// unreachable server.
const SHUTDOWN_REPORT_GRACE: Duration = Duration::from_secs(30);

/// How long deregistering may take at shutdown.
const DEREGISTER_GRACE: Duration = Duration::from_secs(5);

/// A registered worker and everything running on its behalf.
pub(crate) struct Worker {
    config: WorkerConfig,
    name: String,
    context: Arc<Context>,
    registry: Registry,
    supervisors: JoinSet<()>,
    /// Notified when runs may be ready (wake-up, reconnect).
    claim: Arc<Notify>,
    /// Whether the last claim failed, to log an outage once.
    claim_failing: bool,
    background: Vec<JoinHandle<()>>,
    shipper: JoinHandle<()>,
}

impl Worker {
    /// Connects, registers and starts the event stream, heartbeat and log
    /// shipper.
    pub(crate) async fn start(config: WorkerConfig) -> Result<Self, WorkerError> {
        if let Some(dir) = &config.state_dir {
            // Private to the worker's user: it holds what its flows run with.
            if let Err(error) = orch_proto::private_files::create_dir(dir) {
                tracing::warn!(dir = %dir.display(), %error, "cannot make the worker's state folder owner-only");
            }
            // Before anything is claimed, and before the server is even
            // reached: the server retries those runs, so no process of their
            // previous attempt may run on (the process pool's reconcile).
            crate::pool::process::kill_leftovers(dir);
        }
        // Before connecting: a worker that cannot isolate as asked claims nothing.
        let hidden = crate::isolation::hidden_paths(
            config.hidden_paths.iter().chain(&config.state_dir).cloned(),
        );
        let run_as = config
            .run_as
            .as_deref()
            .map(|user| crate::run_as::RunAs::lookup(user, nix::unistd::geteuid().as_raw()))
            .transpose()
            .map_err(WorkerError::Isolation)?;
        let program = config.sandbox_program.clone();
        let sandbox = crate::isolation::settle(config.isolation, program, hidden, run_as)
            .await
            .map_err(WorkerError::Isolation)?;
        let options = ClientOptions::new(&config.api_url)
            .with_request_timeout(defaults::CALL_TIMEOUT)
            .with_api_key(config.api_key.clone())
            .with_tls_ca(config.tls_ca.clone());
        let api = Api::connect(&options).await?;
        let url = api.url();
        let hostname = hostname();
        let name = config
            .name
            .clone()
            .unwrap_or_else(|| default_name(&hostname));
        let request = RegisterWorkerRequest {
            name: name.clone(),
            work_pool: config.pool.clone(),
            hostname,
            limit: config.limit.unwrap_or(0),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            heartbeat_interval_seconds: config.heartbeat_interval.as_secs_f64(),
        };
        let registered = attempt(api.workers().register_worker(request))
            .await
            .map_err(|status| match status.code() {
                Code::NotFound => WorkerError::PoolNotFound {
                    pool: config.pool.clone(),
                },
                Code::Unavailable | Code::DeadlineExceeded => WorkerError::Unreachable {
                    url: url.clone(),
                    cause: describe(&status),
                },
                code => WorkerError::Register {
                    name: name.clone(),
                    pool: config.pool.clone(),
                    code,
                    message: status.message().to_owned(),
                },
            })?;
        let name = if registered.name.is_empty() {
            name
        } else {
            registered.name
        };
        tracing::info!("worker {name} started on pool {}", config.pool);
        let others: Vec<String> = api
            .urls()
            .into_iter()
            .filter(|other| *other != url)
            .collect();
        let failover = if others.is_empty() {
            String::new()
        } else {
            format!(" (failing over to {})", others.join(", "))
        };
        println!(
            "worker {name} ({}) polling pool {} at {url}{failover}",
            registered.id, config.pool
        );

        let pool = crate::pool::for_type(
            &registered.work_pool_type,
            &config,
            sandbox,
            crate::pool::Identity {
                pool: config.pool.clone(),
                worker_id: registered.id.clone(),
                worker_name: name.clone(),
            },
        )
        .await?;
        let (logs, shipper) = Shipper::start(&api, ShipperOptions::default());
        let context = Arc::new(Context {
            api: api.clone(),
            worker_id: registered.id.clone(),
            kill_grace: config.kill_grace,
            logs,
            reports: StateReports::start(api.clone()),
            tls_ca: config.tls_ca.clone(),
            pool,
        });
        let registry = Registry::default();
        // Before anything is claimed: what a previous worker left running
        // is stopped or adopted, never run twice.
        let mut supervisors = JoinSet::new();
        crate::adopt::reconcile(
            &context,
            &registry,
            &mut supervisors,
            config.heartbeat_interval,
        )
        .await;
        let claim = Arc::new(Notify::new());
        let background = vec![
            tokio::spawn(events::subscribe(
                api.clone(),
                registered.id.clone(),
                registry.clone(),
                claim.clone(),
                config.poll_interval,
            )),
            tokio::spawn(events::heartbeat(
                api,
                registered.id,
                registry.clone(),
                config.heartbeat_interval,
            )),
        ];
        Ok(Self {
            config,
            name,
            context,
            registry,
            supervisors,
            claim,
            claim_failing: false,
            background,
            shipper,
        })
    }

    /// Claims and runs work until `shutdown` resolves, then drains.
    pub(crate) async fn run(mut self, shutdown: impl Future<Output = ()>) {
        let mut fallback = tokio::time::interval(self.config.poll_interval);
        fallback.set_missed_tick_behavior(MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                Some(joined) = self.supervisors.join_next() => {
                    if let Err(error) = joined {
                        tracing::error!("a run's supervisor failed: {error}");
                    }
                    // A run that ended frees room only under a limit; the
                    // server wakes the worker when runs are ready anyway.
                    if frees_room(self.config.limit) {
                        self.claim().await;
                    }
                }
                () = self.claim.notified() => self.claim().await,
                _ = fallback.tick() => self.claim().await,
            }
        }
        self.drain().await;
    }

    /// Claims runs while there is room and the server has some.
    async fn claim(&mut self) {
        loop {
            let room = room(self.config.limit, self.registry.len());
            if room == 0 {
                return;
            }
            let request = ClaimRunsRequest {
                worker_id: self.context.worker_id.clone(),
                max_runs: room,
            };
            let claimed = match attempt(self.context.api.workers().claim_runs(request)).await {
                Ok(response) => response.runs,
                Err(status) => {
                    if !self.claim_failing {
                        tracing::warn!(
                            "cannot claim runs: {}; trying again on the next wake-up or in {:?}",
                            describe(&status),
                            self.config.poll_interval
                        );
                    }
                    self.claim_failing = true;
                    return;
                }
            };
            if std::mem::take(&mut self.claim_failing) {
                tracing::info!("claiming runs again");
            }
            let full = claimed.len() >= room as usize;
            for run in claimed {
                self.launch(run);
            }
            if !full {
                return;
            }
        }
    }

    /// Starts supervising a claimed run.
    fn launch(&mut self, claimed: ClaimedRun) {
        let flow_run_id = claimed
            .run
            .as_ref()
            .map(|run| run.id.clone())
            .unwrap_or_default();
        let Some((slot, stop)) = self.registry.insert(&flow_run_id) else {
            tracing::warn!("claimed run {flow_run_id:?} twice (or without an id); ignoring it");
            return;
        };
        self.supervisors.spawn(supervisor::supervise(
            self.context.clone(),
            claimed,
            slot,
            stop,
        ));
    }

    /// Lets running flows finish within the grace period, stops the rest,
    /// stores their logs and final states, and deregisters.
    async fn drain(mut self) {
        let grace = self.config.shutdown_grace;
        let in_flight = self.registry.len();
        println!(
            "worker {} shutting down: waiting up to {}s for {in_flight} running flow runs",
            self.name,
            grace.as_secs_f64()
        );
        tracing::info!("worker {} shutting down", self.name);
        let mut deadline = SHUTDOWN_REPORT_GRACE;
        if tokio::time::timeout(grace, join_all(&mut self.supervisors))
            .await
            .is_err()
        {
            let stopping = self.registry.stop_all(StopReason::Shutdown);
            tracing::warn!(
                "{stopping} flow runs still running after {}s; stopping them",
                grace.as_secs_f64()
            );
            deadline += self.config.kill_grace;
        }
        // Whatever is left now is stopping or reporting; with the server
        // down that could take forever, so give up at a deadline.
        let deadline = Instant::now() + deadline;
        if tokio::time::timeout_at(deadline, join_all(&mut self.supervisors))
            .await
            .is_err()
        {
            tracing::error!(
                "could not report the final state of runs {:?}: the orch server is unreachable",
                self.registry.ids()
            );
            self.supervisors.abort_all();
        }
        // At least a moment, for a flush with nothing left to send.
        let flush_deadline = deadline.max(Instant::now() + Duration::from_secs(1));
        if tokio::time::timeout_at(flush_deadline, self.context.logs.flush())
            .await
            .is_err()
        {
            tracing::error!("could not store the last log lines: the orch server is unreachable");
        }
        for task in &self.background {
            task.abort();
        }
        self.shipper.abort();
        self.deregister().await;
    }

    /// Tells the server the worker is gone, so it shows offline at once.
    async fn deregister(&self) {
        let request = DeregisterWorkerRequest {
            worker_id: self.context.worker_id.clone(),
        };
        let deregistered = tokio::time::timeout(
            DEREGISTER_GRACE,
            retry("deregistering the worker", || {
                let mut workers = self.context.api.workers();
                let request = request.clone();
                async move { attempt(workers.deregister_worker(request)).await }
            }),
        )
        .await;
        match deregistered {
            Ok(Ok(_)) => tracing::info!("worker {} deregistered", self.name),
            Ok(Err(status)) => {
                tracing::warn!("cannot deregister the worker: {}", describe(&status))
            }
            Err(_) => tracing::warn!(
                "cannot deregister the worker: no answer within {}s; the server will mark it offline",
                DEREGISTER_GRACE.as_secs()
            ),
        }
    }
}

/// Waits for every task of `set`.
async fn join_all(set: &mut JoinSet<()>) {
    while let Some(joined) = set.join_next().await {
        if let Err(error) = joined {
            tracing::error!("a run's supervisor failed: {error}");
        }
    }
}

/// How many more runs the worker may take. A limit of 0 means none, like
/// on the wire.
fn room(limit: Option<u32>, in_flight: usize) -> u32 {
    match limit.filter(|&limit| limit > 0) {
        Some(limit) => limit.saturating_sub(u32::try_from(in_flight).unwrap_or(u32::MAX)),
        None => UNLIMITED_CLAIM,
    }
}

/// Whether a run ending makes room for another: only under a limit (a
/// worker without one always has room).
fn frees_room(limit: Option<u32>) -> bool {
    limit.is_some_and(|limit| limit > 0)
}

/// This machine's name, or "localhost" if it cannot be read.
fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|name| name.into_string().ok())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// "<hostname>-<6 random hex digits>", unique enough among a pool's
/// workers; a host name character that no worker name may hold
/// (`orch_core::NameKind::Worker`) becomes '-'.
fn default_name(hostname: &str) -> String {
    let random = Uuid::new_v4().simple().to_string();
    let host: String = hostname
        .chars()
        .take(orch_core::identifier::MAX_NAME_CHARS - 7)
        .map(|c| {
            if orch_core::identifier::is_name_char(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{host}-{}", &random[..6])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_respects_the_limit() {
        assert_eq!(room(Some(3), 0), 3);
        assert_eq!(room(Some(3), 2), 1);
        assert_eq!(room(Some(3), 3), 0);
        assert_eq!(room(Some(3), 5), 0);
        assert_eq!(room(None, 1000), UNLIMITED_CLAIM);
        assert_eq!(room(Some(0), 10), UNLIMITED_CLAIM);
        assert!(frees_room(Some(3)));
        assert!(!frees_room(None));
        assert!(!frees_room(Some(0)));
    }

    #[test]
    fn default_names_are_host_and_random_suffix() {
        let name = default_name("box");
        assert!(name.starts_with("box-"), "{name}");
        assert_eq!(name.len(), "box-".len() + 6);
        assert_ne!(default_name("box"), name);
        let odd = default_name("my box/é");
        assert!(odd.starts_with("my-box--"), "{odd}");
        assert_eq!(orch_core::NameKind::Worker.check(&odd), Ok(()));
    }
}
