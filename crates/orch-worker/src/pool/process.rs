//! The `process` pool type: each run is a subprocess of the worker, in its
//! own process group (see `crate::process`), watched by the worker's flow
//! guard (killed if the worker dies, see `crate::guard`) and journaled in
//! the worker's state folder so that a worker restarted after a crash kills
//! what its predecessor left running (see `crate::leftovers`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use nix::unistd::Pid;

use super::{BoxFuture, Ended, Execution, Job, Leftover, Pool, Started};
use crate::environment;
use crate::guard::Guard;
use crate::isolation::Sandbox;
use crate::leftovers::{self, Journal};
use crate::process::{self, Launch};
use crate::reaper::Reaper;

/// Runs flows as subprocesses of the worker.
#[derive(Debug)]
pub(crate) struct ProcessPool {
    /// Where large parameters are written.
    pub state_dir: Option<PathBuf>,
    /// The journal of started process groups (in `state_dir`), if any.
    pub journal: Option<Arc<Journal>>,
    /// The process that kills the flows if the worker dies, if it started.
    pub guard: Option<Arc<Guard>>,
    /// The worker's variables flows receive besides the basics.
    pub pass_env: Vec<String>,
    /// The CA certificate flows need even inside a sandbox.
    pub tls_ca: Option<PathBuf>,
    /// The sandbox flows start in, if any.
    pub sandbox: Option<Sandbox>,
}

impl Pool for ProcessPool {
    fn start<'a>(&'a self, job: Job<'a>) -> BoxFuture<'a, Result<Started, String>> {
        Box::pin(async move {
            let claimed = job.claimed;
            let launch = Launch {
                entrypoint: &claimed.entrypoint,
                base_dir: Path::new(&claimed.base_dir),
                env: environment::flow_environment(
                    std::env::vars_os(),
                    &self.pass_env,
                    &job.variables,
                ),
                parameters: &claimed.parameters_json,
                parameters_dir: self.state_dir.as_deref(),
                flow_run_id: job.flow_run_id,
                sandbox: self.sandbox.as_ref(),
                keep: self.tls_ca.iter().cloned().collect(),
                guard: self.guard.as_deref(),
            };
            let process = process::spawn(&launch)?;
            if let Some(journal) = &self.journal {
                journal.started(process.group, job.flow_run_id);
            }
            Ok(Started {
                description: format!("pid {}", process.group),
                stdout: Box::new(process.stdout),
                stderr: Box::new(process.stderr),
                execution: Box::new(ProcessExecution {
                    child: process.child,
                    group: process.group,
                    journal: self.journal.clone(),
                    guard: self.guard.clone(),
                    parameters_file: process.parameters_file,
                }),
            })
        })
    }

    fn reconcile(&self) -> BoxFuture<'_, Vec<Leftover>> {
        // Done by [`kill_leftovers`] when the worker starts, before it even
        // reaches the server (a dead worker's flows died with it; nothing
        // of theirs is adopted).
        Box::pin(async { Vec::new() })
    }
}

/// Kills what flows of a previous worker that died left running on this
/// host (journaled in `state_dir`): the server retries those runs, so no
/// process of their previous attempt may run on.
pub(crate) fn kill_leftovers(state_dir: &Path) {
    let killed = leftovers::kill_leftovers(state_dir);
    if !killed.is_empty() {
        tracing::warn!(
            runs = ?killed,
            "killed flow processes left running by a previous worker that died"
        );
    }
}

/// A run's process group.
struct ProcessExecution {
    /// Waiting on it reaps the flow and measures what its process tree used.
    child: Reaper,
    group: Pid,
    /// Told once the leader is reaped (`exited`), each at most once.
    journal: Option<Arc<Journal>>,
    guard: Option<Arc<Guard>>,
    parameters_file: Option<PathBuf>,
}

impl ProcessExecution {
    fn ended(&self, status: std::io::Result<std::process::ExitStatus>) -> Ended {
        Ended {
            usage: self.child.usage(),
            ..Ended::status(status)
        }
    }
}

impl Execution for ProcessExecution {
    fn wait(&mut self) -> BoxFuture<'_, Ended> {
        Box::pin(async move {
            let status = self.child.wait().await;
            self.ended(status)
        })
    }

    fn stop(&mut self, grace: Duration) -> BoxFuture<'_, Ended> {
        Box::pin(async move {
            let status = process::terminate_group(&mut self.child, self.group, grace).await;
            self.ended(status)
        })
    }

    fn exited(&mut self) {
        if let Some(guard) = self.guard.take() {
            guard.forget(self.group);
        }
        if let Some(journal) = self.journal.take() {
            journal.ended(self.group);
        }
        if let Some(file) = self.parameters_file.take() {
            let _ = std::fs::remove_file(file);
        }
    }

    fn release(self: Box<Self>, _completed: bool) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}
