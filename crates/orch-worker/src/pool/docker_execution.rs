//! One run's container once started: its output streamed from the engine,
//! its end (exit code, out-of-memory kill) and what it used, stopping it,
//! and removing it (or keeping it when asked).

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::query_parameters::{LogsOptions, RemoveContainerOptions, StopContainerOptions};
use futures::StreamExt;
use tokio::io::AsyncWriteExt;

use super::docker_usage::UsageWatch;
use super::{BoxFuture, Ended, Execution, Started};

/// How long to wait before asking the engine again when it did not answer.
const ENGINE_RETRY: Duration = Duration::from_secs(1);

/// How often, and how far apart, a SIGKILLed container with a memory limit
/// is inspected again for an OOM kill the engine had not yet recorded.
const OOM_EVENT_CHECKS: u32 = 10;
const OOM_EVENT_WAIT: Duration = Duration::from_millis(50);

/// Buffer between the engine's log stream and the line reader.
const PIPE_BYTES: usize = 64 * 1024;

/// One run's container.
pub(super) struct DockerExecution {
    docker: Docker,
    id: String,
    /// The memory limit, to quote when the container is killed for it.
    memory: Option<String>,
    /// Keep the container when the run did not complete.
    keep: bool,
    parameters_file: Option<PathBuf>,
    /// What it uses, from the engine's stats, once it is started.
    usage: Option<UsageWatch>,
}

impl DockerExecution {
    /// The container `id`; `memory` its limit as the deployment wrote it,
    /// `keep` whether to keep it if its run does not complete,
    /// `parameters_file` a file to delete when it is released.
    pub(super) fn new(
        docker: Docker,
        id: String,
        memory: Option<String>,
        keep: bool,
        parameters_file: Option<PathBuf>,
    ) -> Self {
        Self {
            docker,
            id,
            memory,
            keep,
            parameters_file,
            usage: None,
        }
    }

    /// The started run: output streamed from `since` (seconds since the
    /// epoch; 0 for all of it), usage sampled from now on.
    pub(super) fn started(mut self, name: &str, since: i32) -> Started {
        self.usage = Some(UsageWatch::start(&self.docker, &self.id));
        let (stdout, stdout_writer) = tokio::io::simplex(PIPE_BYTES);
        let (stderr, stderr_writer) = tokio::io::simplex(PIPE_BYTES);
        let options = LogsOptions {
            follow: true,
            stdout: true,
            stderr: true,
            since,
            ..LogsOptions::default()
        };
        let logs = self.docker.logs(&self.id, Some(options));
        tokio::spawn(stream_logs(logs, stdout_writer, stderr_writer));
        Started {
            description: format!("container {name} ({})", short(&self.id)),
            stdout: Box::new(stdout),
            stderr: Box::new(stderr),
            execution: Box::new(self),
        }
    }

    /// Waits until the container is not running and says how it ended.
    async fn ended(&self) -> Ended {
        loop {
            // The stream ends when the container stops; a non-zero exit
            // shows as an error item, which the inspection below reads.
            let mut waiting = std::pin::pin!(self.docker.wait_container(&self.id, None));
            while waiting.next().await.is_some() {}
            match self.docker.inspect_container(&self.id, None).await {
                Ok(inspected) => {
                    let state = inspected.state.unwrap_or_default();
                    if state.running == Some(true) {
                        tokio::time::sleep(ENGINE_RETRY).await;
                        continue;
                    }
                    let code = state.exit_code.unwrap_or_default();
                    let oom_killed = state.oom_killed.unwrap_or(false) || self.late_oom(code).await;
                    let crash = oom_killed.then(|| {
                        let limit = self
                            .memory
                            .as_deref()
                            .map(|memory| format!(" of {memory}"))
                            .unwrap_or_default();
                        format!("out of memory: the container exceeded its memory limit{limit}")
                    });
                    return Ended {
                        crash,
                        usage: self.usage.as_ref().and_then(|usage| usage.usage(&state)),
                        ..Ended::status(Ok(exit_status(code)))
                    };
                }
                Err(error) if is_not_found(&error) => {
                    return Ended::status(Err(std::io::Error::other(format!(
                        "container {} is gone",
                        short(&self.id)
                    ))));
                }
                Err(error) => {
                    tracing::warn!("cannot inspect container {}: {error}", short(&self.id));
                    tokio::time::sleep(ENGINE_RETRY).await;
                }
            }
        }
    }
}

impl DockerExecution {
    /// Whether a container with a memory limit that died of SIGKILL was
    /// killed for its memory after all: the engine records an OOM kill when
    /// the kernel's event reaches it, which can be just after the exit of a
    /// container whose main process was the one killed.
    async fn late_oom(&self, code: i64) -> bool {
        if code != 137 || self.memory.is_none() {
            return false;
        }
        for _ in 0..OOM_EVENT_CHECKS {
            tokio::time::sleep(OOM_EVENT_WAIT).await;
            if let Ok(inspected) = self.docker.inspect_container(&self.id, None).await
                && inspected.state.and_then(|state| state.oom_killed) == Some(true)
            {
                return true;
            }
        }
        false
    }
}

impl Execution for DockerExecution {
    fn wait(&mut self) -> BoxFuture<'_, Ended> {
        Box::pin(self.ended())
    }

    fn stop(&mut self, grace: Duration) -> BoxFuture<'_, Ended> {
        Box::pin(async move {
            let seconds = i32::try_from(grace.as_secs_f64().ceil() as i64).unwrap_or(i32::MAX);
            let options = StopContainerOptions {
                t: Some(seconds.max(1)),
                ..StopContainerOptions::default()
            };
            // SIGTERM, then SIGKILL after the grace period (the engine's own).
            if let Err(error) = self.docker.stop_container(&self.id, Some(options)).await {
                tracing::warn!("cannot stop container {}: {error}", short(&self.id));
            }
            self.ended().await
        })
    }

    fn release(self: Box<Self>, completed: bool) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            if let Some(file) = &self.parameters_file {
                let _ = std::fs::remove_file(file);
            }
            if self.keep && !completed {
                tracing::info!(
                    "kept container {} of a run that did not complete (keep_container)",
                    short(&self.id)
                );
                return;
            }
            let options = RemoveContainerOptions {
                force: true,
                v: true,
                ..RemoveContainerOptions::default()
            };
            if let Err(error) = self.docker.remove_container(&self.id, Some(options)).await
                && !is_not_found(&error)
            {
                tracing::warn!("cannot remove container {}: {error}", short(&self.id));
            }
        })
    }
}

/// Copies the engine's log stream into the two pipes the line reader reads.
async fn stream_logs(
    logs: impl futures::Stream<Item = Result<LogOutput, bollard::errors::Error>>,
    mut stdout: tokio::io::WriteHalf<tokio::io::SimplexStream>,
    mut stderr: tokio::io::WriteHalf<tokio::io::SimplexStream>,
) {
    let mut logs = std::pin::pin!(logs);
    while let Some(item) = logs.next().await {
        let written = match item {
            Ok(LogOutput::StdOut { message } | LogOutput::Console { message }) => {
                stdout.write_all(&message).await
            }
            Ok(LogOutput::StdErr { message }) => stderr.write_all(&message).await,
            Ok(LogOutput::StdIn { .. }) => Ok(()),
            Err(error) => {
                tracing::debug!("the container's log stream ended: {error}");
                break;
            }
        };
        if written.is_err() {
            // The reader gave up (the run ended long ago).
            break;
        }
    }
    let _ = stdout.shutdown().await;
    let _ = stderr.shutdown().await;
}

/// A container's exit code as a process status: 128+N is death by signal N
/// (as the engine reports it), anything else an exit code.
fn exit_status(code: i64) -> ExitStatus {
    match code {
        129..=192 => ExitStatus::from_raw((code - 128) as i32),
        code => ExitStatus::from_raw(((code & 0xff) as i32) << 8),
    }
}

/// Whether the engine answered 404.
pub(super) fn is_not_found(error: &bollard::errors::Error) -> bool {
    matches!(
        error,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// The first 12 characters of a container id, as `docker ps` shows it.
fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_map_onto_process_statuses() {
        assert_eq!(exit_status(0).code(), Some(0));
        assert_eq!(exit_status(3).code(), Some(3));
        assert_eq!(exit_status(137).signal(), Some(9));
        assert_eq!(exit_status(143).signal(), Some(15));
        assert_eq!(exit_status(255).code(), Some(255));
    }
}
