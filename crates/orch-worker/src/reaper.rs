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
//! tokio's `Child` reaps with `waitpid`, which drops the rusage, so the
//! reaper is this module's: a pidfd (Linux 5.3+) registered with the
//! runtime's reactor says when the process ended, and `wait4` then reaps it
//! without blocking; no thread per run. Where pidfds are not available (an
//! older kernel, no runtime), a small thread blocks in `wait4` instead.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Instant;

use nix::unistd::Pid;
use orch_core::ResourceUsage;
use tokio::io::unix::AsyncFd;
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
    pending: Option<Pending>,
    done: Option<Result<Reaped, String>>,
}

/// How the end of a process still running is awaited.
#[derive(Debug)]
enum Pending {
    /// Its pidfd turns readable when it ends.
    PidFd {
        fd: AsyncFd<OwnedFd>,
        pid: Pid,
        started: Instant,
    },
    /// A thread blocked in `wait4` sends the answer.
    Thread(oneshot::Receiver<Result<Reaped, String>>),
}

impl Reaper {
    /// Starts waiting for `pid`, a child of this process spawned at `started`.
    pub(crate) fn start(pid: Pid, started: Instant) -> Reaper {
        let pending = match pidfd(pid) {
            Some(fd) => Pending::PidFd { fd, pid, started },
            None => Pending::Thread(thread(pid, started)),
        };
        Reaper {
            pending: Some(pending),
            done: None,
        }
    }

    /// A reaper that blocks a thread of its own in `wait4` (the fallback).
    #[cfg(test)]
    fn start_thread(pid: Pid, started: Instant) -> Reaper {
        Reaper {
            pending: Some(Pending::Thread(thread(pid, started))),
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
        if let Some(pending) = &mut self.pending {
            let result = match pending {
                Pending::PidFd { fd, pid, started } => loop {
                    let mut ready = match fd.readable().await {
                        Ok(ready) => ready,
                        Err(error) => break Err(format!("cannot wait for process {pid}: {error}")),
                    };
                    match try_reap(*pid, *started) {
                        Ok(Some(reaped)) => break Ok(reaped),
                        Ok(None) => ready.clear_ready(),
                        Err(message) => break Err(message),
                    }
                },
                Pending::Thread(receiver) => receiver.await.unwrap_or_else(|_| {
                    Err("the waiting thread ended without an answer".to_owned())
                }),
            };
            self.pending = None;
            self.done = Some(result);
        }
        match self.done.as_ref().expect("set once pending is gone") {
            Ok(reaped) => Ok(*reaped),
            Err(message) => Err(io::Error::other(message.clone())),
        }
    }
}

/// A pidfd of `pid` registered with the runtime's reactor, if the kernel
/// and the context allow.
fn pidfd(pid: Pid) -> Option<AsyncFd<OwnedFd>> {
    tokio::runtime::Handle::try_current().ok()?;
    // SAFETY: a plain system call with integer arguments.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    let raw = i32::try_from(raw).ok().filter(|raw| *raw >= 0)?;
    // SAFETY: the kernel just returned this descriptor, owned by no one else.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: the `AsyncFd` owns the descriptor and neither replaces nor
    // closes it while registered (it is closed when the `AsyncFd` drops).
    unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }.ok()
}

/// Starts a small thread blocked in `wait4` for `pid`; its answer.
fn thread(pid: Pid, started: Instant) -> oneshot::Receiver<Result<Reaped, String>> {
    // A thread of its own: the blocking pool is bounded, and a long run
    // must not hold one of its threads.
    let (sender, receiver) = oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name(format!("orch-reap-{pid}"))
        .stack_size(64 * 1024)
        .spawn(move || {
            let _ = sender.send(reap(pid, started));
        });
    match spawned {
        Ok(_) => receiver,
        Err(_) => {
            let (sender, receiver) = oneshot::channel();
            tokio::task::spawn_blocking(move || {
                let _ = sender.send(reap(pid, started));
            });
            receiver
        }
    }
}

/// Blocks until `pid` ends; its status and usage.
fn reap(pid: Pid, started: Instant) -> Result<Reaped, String> {
    wait4(pid, started, 0).map(|reaped| reaped.expect("a blocking wait4 returns an end"))
}

/// Reaps `pid` if it ended, without blocking.
fn try_reap(pid: Pid, started: Instant) -> Result<Option<Reaped>, String> {
    wait4(pid, started, libc::WNOHANG)
}

/// `wait4` for `pid` with `flags`, retried when interrupted: `None` when
/// `WNOHANG` found it still running.
fn wait4(pid: Pid, started: Instant, flags: libc::c_int) -> Result<Option<Reaped>, String> {
    loop {
        let mut status = 0;
        // SAFETY: `rusage` is plain data the kernel fills in; zeroed is a
        // valid value of it, and both pointers outlive the call.
        let mut rusage: libc::rusage = unsafe { std::mem::zeroed() };
        let reaped = unsafe { libc::wait4(pid.as_raw(), &mut status, flags, &mut rusage) };
        if reaped == pid.as_raw() {
            return Ok(Some(Reaped {
                status: ExitStatus::from_raw(status),
                usage: usage(&rusage, started.elapsed()),
            }));
        }
        if reaped == 0 {
            return Ok(None);
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
    async fn in_a_runtime_the_end_comes_through_a_pidfd() {
        let (reaper, pid) = spawn("exit 0");
        assert!(
            matches!(reaper.pending, Some(Pending::PidFd { .. })),
            "{reaper:?}"
        );
        drop(reaper);
        // Not reaped by the dropped reaper: reap it here.
        nix::sys::wait::waitpid(pid, None).unwrap();
    }

    // The reaper waits for it.
    #[allow(clippy::zombie_processes)]
    #[tokio::test]
    async fn the_thread_fallback_reports_the_same() {
        let started = Instant::now();
        let child = std::process::Command::new("sh")
            .args(["-c", "exit 4"])
            .spawn()
            .unwrap();
        let pid = Pid::from_raw(child.id() as i32);
        let mut reaper = Reaper::start_thread(pid, started);
        assert!(matches!(reaper.pending, Some(Pending::Thread(_))));
        assert_eq!(reaper.wait().await.unwrap().code(), Some(4));
        assert!(reaper.usage().is_some());
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
