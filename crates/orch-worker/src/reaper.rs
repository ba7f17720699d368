//! Waiting for a run's process and measuring what its tree used.
//!
//! `wait4` returns the exit status together with the rusage of the process
//! and of every descendant it (or a descendant) waited for: CPU time in user
//! and kernel mode, and the peak resident memory of the largest one. A
//! sandboxed flow runs two levels down (the outer sandbox process, the
//! namespace's PID 1, then the flow), and each level waits for the next, so
//! the flow's usage reaches the worker through the same call. Processes the
//! flow leaves behind unwaited are reparented away and not counted (inside a
//! sandbox PID 1 reaps them, so there they are).
//!
//! The wait runs on a thread of its own: tokio's `Child` reaps with
//! `waitpid`, which drops the rusage.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Instant;

use nix::unistd::Pid;
use orch_core::ResourceUsage;
use tokio::sync::oneshot;

/// How a reaped process ended and what it used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Reaped {
    /// Its exit status.
    pub status: ExitStatus,
    /// Its tree's usage, wall time from the spawn to the reap.
    pub usage: ResourceUsage,
}

/// The waiter of one child process: [`Reaper::wait`] completes when it ended.
#[derive(Debug)]
pub(crate) struct Reaper {
    pending: Option<oneshot::Receiver<Result<Reaped, String>>>,
    done: Option<Result<Reaped, String>>,
}

impl Reaper {
    /// Starts waiting for `pid`, a child of this process spawned at `started`.
    pub(crate) fn start(pid: Pid, started: Instant) -> Reaper {
        // A small thread of its own: the blocking pool is bounded, and a
        // long run must not hold one of its threads.
        let (sender, receiver) = oneshot::channel();
        let spawned = std::thread::Builder::new()
            .name(format!("orch-reap-{pid}"))
            .stack_size(64 * 1024)
            .spawn(move || {
                let _ = sender.send(reap(pid, started));
            });
        let receiver = match spawned {
            Ok(_) => receiver,
            Err(_) => {
                let (sender, receiver) = oneshot::channel();
                tokio::task::spawn_blocking(move || {
                    let _ = sender.send(reap(pid, started));
                });
                receiver
            }
        };
        Reaper {
            pending: Some(receiver),
            done: None,
        }
    }

    /// Waits for the process to end (at once if it already did). Cancel
    /// safe: a wait dropped half-way leaves the reaper as it was.
    ///
    /// # Errors
    ///
    /// Waiting failed (the process was reaped elsewhere).
    pub(crate) async fn wait(&mut self) -> io::Result<ExitStatus> {
        self.reaped().await.map(|reaped| reaped.status)
    }

    /// What the process used, once [`Reaper::wait`] returned successfully.
    pub(crate) fn usage(&self) -> Option<ResourceUsage> {
        match &self.done {
            Some(Ok(reaped)) => Some(reaped.usage),
            _ => None,
        }
    }

    async fn reaped(&mut self) -> io::Result<Reaped> {
        if let Some(receiver) = &mut self.pending {
            let result = receiver
                .await
                .unwrap_or_else(|_| Err("the waiting thread ended without an answer".to_owned()));
            self.pending = None;
            self.done = Some(result);
        }
        match self.done.as_ref().expect("set once pending is gone") {
            Ok(reaped) => Ok(*reaped),
            Err(message) => Err(io::Error::other(message.clone())),
        }
    }
}

/// Blocks until `pid` ends; its status and usage.
fn reap(pid: Pid, started: Instant) -> Result<Reaped, String> {
    loop {
        let mut status = 0;
        // SAFETY: `rusage` is plain data the kernel fills in; zeroed is a
        // valid value of it, and both pointers outlive the call.
        let mut rusage: libc::rusage = unsafe { std::mem::zeroed() };
        let reaped = unsafe { libc::wait4(pid.as_raw(), &mut status, 0, &mut rusage) };
        if reaped == pid.as_raw() {
            return Ok(Reaped {
                status: ExitStatus::from_raw(status),
                usage: usage(&rusage, started.elapsed()),
            });
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(format!("cannot wait for process {pid}: {error}"));
        }
    }
}

/// The usage of a `wait4` answer.
// `time_t`, `suseconds_t` and `c_long` are `i64` here, `i32` on 32-bit targets.
#[allow(clippy::useless_conversion)]
fn usage(rusage: &libc::rusage, wall: std::time::Duration) -> ResourceUsage {
    let micros = |time: libc::timeval| {
        i64::from(time.tv_sec)
            .saturating_mul(1_000_000)
            .saturating_add(i64::from(time.tv_usec))
    };
    ResourceUsage {
        cpu_user_micros: micros(rusage.ru_utime),
        cpu_system_micros: micros(rusage.ru_stime),
        // Linux counts kibibytes (macOS bytes, but workers run on Linux).
        max_rss_bytes: i64::from(rusage.ru_maxrss).saturating_mul(1024),
        wall_micros: i64::try_from(wall.as_micros()).unwrap_or(i64::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The reaper waits for it.
    #[allow(clippy::zombie_processes)]
    fn spawn(script: &str) -> (Reaper, Pid) {
        let started = Instant::now();
        let child = std::process::Command::new("sh")
            .args(["-c", script])
            .spawn()
            .unwrap();
        let pid = Pid::from_raw(child.id() as i32);
        (Reaper::start(pid, started), pid)
    }

    #[tokio::test]
    async fn reports_status_and_the_cpu_of_grandchildren() {
        // The CPU burns in a grandchild that the child waits for.
        let (mut reaper, _) =
            spawn("sh -c 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done'; exit 3");
        assert_eq!(reaper.usage(), None);
        let status = reaper.wait().await.unwrap();
        assert_eq!(status.code(), Some(3));
        let usage = reaper.usage().unwrap();
        assert!(usage.cpu_user_micros > 10_000, "{usage:?}");
        assert!(usage.max_rss_bytes > 100 * 1024, "{usage:?}");
        assert!(usage.wall_micros >= usage.cpu_user_micros, "{usage:?}");
        // A second wait answers the same.
        assert_eq!(reaper.wait().await.unwrap().code(), Some(3));
    }

    #[tokio::test]
    async fn a_dropped_wait_loses_nothing() {
        let (mut reaper, pid) = spawn("sleep 30");
        let early = tokio::time::timeout(std::time::Duration::from_millis(10), reaper.wait()).await;
        assert!(early.is_err(), "the process cannot have ended yet");
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
        let status = reaper.wait().await.unwrap();
        assert_eq!(status.signal(), Some(9), "{status:?}");
        assert!(reaper.usage().is_some());
    }
}
