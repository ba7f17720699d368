//! The pool abstraction: how a claimed run is started, watched, stopped and,
//! after a worker restart, reconciled. One implementation per pool type:
//! [`process`] (a subprocess of the worker) and [`docker`] (one container per
//! run). The supervisor (`crate::supervisor`) owns everything else that
//! is the same for every type: reporting states, shipping output as logs,
//! cancels, shutdown.
//!
//! A Kubernetes Job type fits the same two traits (see docs/work-pools.md):
//! `start` creates a Job labelled with the run id, its output is the pod's
//! log stream, `wait` watches the Job's status, `stop` deletes it with a
//! grace period, `release` deletes what is kept, and `reconcile` lists the
//! Jobs labelled with the worker's pool and name.

pub(crate) mod docker;
mod docker_execution;
mod docker_spec;
mod docker_usage;
pub(crate) mod process;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::process::ExitStatus;
use std::time::Duration;

use orch_proto::v1::ClaimedRun;
use tokio::io::AsyncRead;

use std::sync::Arc;

use crate::environment::RunVariables;
use crate::isolation::Sandbox;
use crate::{WorkerConfig, WorkerError};

/// A boxed future, so that the traits can be used as objects.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A stream of a run's output, read line by line into its logs.
pub(crate) type OutputStream = Box<dyn AsyncRead + Send + Unpin>;

/// What a pool needs to start one run.
pub(crate) struct Job<'a> {
    /// The run.
    pub flow_run_id: &'a str,
    /// The claim: entrypoint, base folder, parameters, container settings.
    pub claimed: &'a ClaimedRun,
    /// Its variables (deployment `env`, secrets, `ORCH_*`); a pool may
    /// change the ones that differ where the run executes (`ORCH_API_URL`,
    /// `ORCH_TLS_CA`).
    pub variables: RunVariables<'a>,
}

/// A started run: its execution and its output.
pub(crate) struct Started {
    /// Handle to wait for or stop the run.
    pub execution: Box<dyn Execution>,
    /// Its standard output.
    pub stdout: OutputStream,
    /// Its standard error.
    pub stderr: OutputStream,
    /// How to name it in the worker's own log ("pid 42", "container 3f2a...").
    pub description: String,
}

/// How a run's execution ended.
#[derive(Debug)]
pub(crate) struct Ended {
    /// Its exit status (a container's exit code is mapped onto one).
    pub status: io::Result<ExitStatus>,
    /// Set when the infrastructure itself ended the run and says why (a
    /// container killed for exceeding its memory limit): the run is Crashed
    /// with this message unless the worker stopped it.
    pub crash: Option<String>,
    /// What the run's processes used (CPU, peak memory, wall time), when
    /// the pool measures it (the process pool from `wait4`, the docker pool
    /// from the engine's stats).
    pub usage: Option<orch_core::ResourceUsage>,
}

impl Ended {
    /// An end seen as an exit status only.
    pub(crate) fn status(status: io::Result<ExitStatus>) -> Self {
        Self {
            status,
            crash: None,
            usage: None,
        }
    }
}

/// The kind of work a worker runs: one per pool type.
pub(crate) trait Pool: Send + Sync + std::fmt::Debug {
    /// Starts the run of `job`.
    ///
    /// Errors are the message the run fails with (nothing was started).
    fn start<'a>(&'a self, job: Job<'a>) -> BoxFuture<'a, Result<Started, String>>;

    /// At worker start, before any claim: finds what a previous worker of
    /// this host and pool left running. What must not run on is stopped
    /// here; what may be adopted is returned (never a run executed twice).
    fn reconcile(&self) -> BoxFuture<'_, Vec<Leftover>>;
}

/// One run's execution, once started.
pub(crate) trait Execution: Send {
    /// Waits for the run to end. Cancel-safe: dropping the future leaves
    /// the run running.
    fn wait(&mut self) -> BoxFuture<'_, Ended>;

    /// Stops the run: asks it to end, forces it after `grace`, and returns
    /// how it ended.
    fn stop(&mut self, grace: Duration) -> BoxFuture<'_, Ended>;

    /// Right after the run ended, before its output is drained.
    fn exited(&mut self) {}

    /// Once its logs are stored and its outcome known: frees what is left
    /// (a container is removed unless kept because the run did not complete).
    fn release(self: Box<Self>, completed: bool) -> BoxFuture<'static, ()>;
}

/// Who the worker is, for pools that label what they start.
#[derive(Debug)]
pub(crate) struct Identity {
    /// The pool's name.
    pub pool: String,
    /// The worker's id.
    pub worker_id: String,
    /// The worker's name.
    pub worker_name: String,
}

/// The implementation of pool type `pool_type` (as the server says at
/// registration; empty from a server that predates pool types: `process`).
///
/// # Errors
///
/// A type this worker cannot run, or a Docker engine that cannot be reached.
pub(crate) async fn for_type(
    pool_type: &str,
    config: &WorkerConfig,
    sandbox: Option<Sandbox>,
    identity: Identity,
) -> Result<Arc<dyn Pool>, WorkerError> {
    match pool_type {
        "" | "process" => Ok(Arc::new(process::ProcessPool {
            state_dir: config.state_dir.clone(),
            journal: config.state_dir.as_deref().and_then(|dir| {
                crate::leftovers::Journal::create(dir)
                    .map_err(|message| {
                        tracing::warn!(
                            "{message}: a flow left running by this worker if it dies would not \
                             be killed by the next one"
                        );
                    })
                    .ok()
                    .map(Arc::new)
            }),
            guard: crate::guard::start(config.sandbox_program.as_deref()).map(Arc::new),
            pass_env: config.pass_env.clone(),
            tls_ca: config.tls_ca.clone(),
            sandbox,
        })),
        "docker" => {
            let identity = docker::DockerIdentity {
                pool: identity.pool,
                worker_id: identity.worker_id,
                worker_name: identity.worker_name,
            };
            Ok(Arc::new(
                docker::DockerPool::connect(config, identity).await?,
            ))
        }
        other => Err(WorkerError::PoolType {
            pool: identity.pool,
            pool_type: other.to_owned(),
        }),
    }
}

/// An execution a previous worker left, found by [`Pool::reconcile`].
pub(crate) struct Leftover {
    /// The run it executes.
    pub flow_run_id: String,
    /// The worker that started it (the run's owner on the server).
    pub worker_id: String,
    /// The execution and its output from now on.
    pub started: Started,
}
