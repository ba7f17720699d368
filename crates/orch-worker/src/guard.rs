//! The flow guard: one small process per worker that kills its flows'
//! process groups when the worker dies, even by `kill -9`.
//!
//! The worker tells the guard each process group it starts (`+GROUP`) and
//! each one whose leader it reaped (`-GROUP`), one short line per event on
//! a pipe. The guard holds the only read end; the worker holds the only
//! write end (close-on-exec: no flow inherits it). When the worker's
//! process ends, however it ends, the kernel closes the write end and the
//! guard reads end-of-file: it sends SIGKILL to every group still listed
//! and exits. A worker that exits cleanly has forgotten every group by then.
//!
//! This replaces a parent-death signal armed in each flow between `fork`
//! and `exec`: such a hook makes the standard library fork the whole
//! multi-threaded worker for every run instead of using `posix_spawn`
//! (a `vfork`), which cost about a third of the worker's CPU per run. It
//! also covers more: the whole group, not only its leader. Unlike
//! `PR_SET_PDEATHSIG`, which fires when the *thread* that forked exits, a
//! pipe's end closes only with the process. The guard runs in a process
//! group of its own, so a Ctrl-C in the worker's terminal does not reach it.
//!
//! One window is left: between `posix_spawn` returning and the `+GROUP`
//! line being written (a few microseconds), a worker killed with SIGKILL
//! leaves that one flow running; the flows journal (`leftovers`) is written
//! right after and lets the next worker on the host kill it.
//!
//! The guard is the worker's own binary run with [`SUBCOMMAND`]. A thread of
//! the worker waits for it and restarts it (telling it every running group)
//! should it die. If it cannot be started, and while it is being restarted,
//! flows are started with the parent-death signal as before.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::io::{self, BufRead, PipeWriter, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// The hidden subcommand of `orch` that runs [`main`].
pub const SUBCOMMAND: &str = "__guard";

/// What the guard writes on its standard output once it listens.
const READY: &[u8] = b"orch guard ready\n";

/// How long a starting guard may take to say it is ready.
const HANDSHAKE: Duration = Duration::from_secs(5);

/// How long to wait before trying again to restart a guard that died.
const RESTART_DELAY: Duration = Duration::from_secs(1);

/// Starts the flow guard from `program` (the running binary if `None`);
/// `None`, logged, when it cannot be had.
pub(crate) fn start(program: Option<&Path>) -> Option<Guard> {
    let program = match program.map_or_else(std::env::current_exe, |path| Ok(path.to_path_buf())) {
        Ok(program) => program,
        Err(error) => {
            tracing::warn!(
                "no flow guard (cannot find the orch binary: {error}); flows are started with a \
                 parent-death signal instead, which forks the worker for each"
            );
            return None;
        }
    };
    match Guard::start(&program) {
        Ok(guard) => Some(guard),
        Err(message) => {
            tracing::warn!(
                "no flow guard ({message}); flows are started with a parent-death signal \
                 instead, which forks the worker for each"
            );
            None
        }
    }
}

/// The worker's side: tells the guard which groups to kill if it dies.
#[derive(Debug)]
pub(crate) struct Guard {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    program: PathBuf,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// The running guard; `None` while it is being restarted.
    process: Option<Running>,
    /// The groups it watches, to tell a restarted guard.
    groups: HashSet<i32>,
    /// The worker is done with it: not to be restarted.
    closed: bool,
}

#[derive(Debug)]
struct Running {
    pid: Pid,
    input: PipeWriter,
}

impl Guard {
    /// Starts the guard: `program` is the `orch` binary (with [`SUBCOMMAND`]).
    /// A thread of its own waits for it and restarts it should it die.
    ///
    /// # Errors
    ///
    /// Why the guard did not start or did not answer as a guard.
    pub(crate) fn start(program: &Path) -> Result<Guard, String> {
        let running = Running::start(program, &HashSet::new())?;
        let shared = Arc::new(Shared {
            program: program.to_path_buf(),
            state: Mutex::new(State {
                process: Some(running),
                groups: HashSet::new(),
                closed: false,
            }),
        });
        let watched = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("orch-guard".to_owned())
            .stack_size(64 * 1024)
            .spawn(move || watched.keep_running())
            .map_err(|error| format!("cannot start the thread that watches the guard: {error}"))?;
        Ok(Guard { shared })
    }

    /// Whether a guard is running (else flows need the parent-death signal).
    pub(crate) fn is_running(&self) -> bool {
        self.shared.lock().process.is_some()
    }

    /// Kill `group` if the worker dies.
    pub(crate) fn watch(&self, group: Pid) {
        let mut state = self.shared.lock();
        state.groups.insert(group.as_raw());
        state.send(&format!("+{group}\n"));
    }

    /// `group`'s leader was reaped: the guard no longer kills it.
    pub(crate) fn forget(&self, group: Pid) {
        let mut state = self.shared.lock();
        if state.groups.remove(&group.as_raw()) {
            state.send(&format!("-{group}\n"));
        }
    }
}

impl Drop for Guard {
    /// Closes the pipe: the guard kills what is still listed and exits.
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.closed = true;
        state.process = None;
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reaps the guard whenever it dies and starts another, which is told
    /// every group watched. Runs as long as the worker.
    fn keep_running(&self) {
        loop {
            let Some(pid) = self.lock().process.as_ref().map(|running| running.pid) else {
                return;
            };
            let status = loop {
                let mut status = 0;
                // SAFETY: a plain wait for our own child; `status` outlives it.
                let reaped = unsafe { libc::waitpid(pid.as_raw(), &mut status, 0) };
                if reaped == pid.as_raw() {
                    break format!("wait status {status:#x}");
                }
                let error = io::Error::last_os_error();
                if error.kind() != io::ErrorKind::Interrupted {
                    break format!("cannot wait for it: {error}");
                }
            };
            {
                let mut state = self.lock();
                if state.closed {
                    return;
                }
                state.process = None;
            }
            tracing::error!(
                "the flow guard (pid {pid}) ended ({status}); restarting it (meanwhile flows \
                 start with a parent-death signal)"
            );
            // The groups go into the new guard's pipe before it exists, so
            // a worker killed the moment it appears still has them killed.
            let told = self.lock().groups.clone();
            let mut failures = 0;
            let restarted = loop {
                match Running::start(&self.program, &told) {
                    Ok(restarted) => break restarted,
                    Err(message) => {
                        if failures == 0 {
                            tracing::error!("cannot restart the flow guard: {message}; retrying");
                        }
                        failures += 1;
                        std::thread::sleep(RESTART_DELAY);
                    }
                }
            };
            let mut state = self.lock();
            if state.closed {
                return;
            }
            // What changed while it started.
            let mut since: String = state
                .groups
                .difference(&told)
                .map(|group| format!("+{group}\n"))
                .collect();
            since.extend(
                told.difference(&state.groups)
                    .map(|group| format!("-{group}\n")),
            );
            state.process = Some(restarted);
            if since.is_empty() || state.send(&since) {
                tracing::info!(
                    "flow guard restarted (pid {})",
                    state.process.as_ref().map_or(0, |r| r.pid.as_raw())
                );
            }
        }
    }
}

impl State {
    /// Writes `text` to the guard. Returns whether a guard got it (if not,
    /// it died: `keep_running` restarts it and tells it every group).
    fn send(&mut self, text: &str) -> bool {
        let Some(running) = &mut self.process else {
            return false;
        };
        // A line is a few bytes, written at once to a pipe: whole or not at
        // all, and the guard reads far faster than runs start.
        running.input.write_all(text.as_bytes()).is_ok()
    }
}

impl Running {
    /// Starts a guard already told to watch `groups`: their lines are in
    /// its pipe before it runs (a pipe holds 64 KiB, some 8,000 groups;
    /// more are written once it answers).
    fn start(program: &Path, groups: &HashSet<i32>) -> Result<Running, String> {
        let (output, mut input) =
            io::pipe().map_err(|error| format!("cannot make a pipe for the guard: {error}"))?;
        let told: String = groups.iter().map(|group| format!("+{group}\n")).collect();
        let early = told.len() <= 32 * 1024;
        if early {
            input
                .write_all(told.as_bytes())
                .map_err(|error| format!("cannot write to the guard's pipe: {error}"))?;
        }
        // Both ends are close-on-exec; the child gets the read end as stdin.
        let mut child = Command::new(program)
            .arg(SUBCOMMAND)
            .env_clear()
            .stdin(Stdio::from(output))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            // Out of the worker's group: a Ctrl-C in its terminal is not for it.
            .process_group(0)
            .spawn()
            .map_err(|error| format!("cannot start {}: {error}", program.display()))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        if let Err(message) = handshake(stdout) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{} {SUBCOMMAND} is not a flow guard: {message}",
                program.display()
            ));
        }
        let pid = Pid::from_raw(i32::try_from(child.id()).expect("pids fit in i32"));
        if !early && let Err(error) = input.write_all(told.as_bytes()) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("cannot tell the guard its groups: {error}"));
        }
        // Reaped by `keep_running`; dropping a std child neither kills nor waits.
        drop(child);
        Ok(Running { pid, input })
    }
}

/// Reads the guard's [`READY`] line, waiting at most [`HANDSHAKE`].
fn handshake(mut stdout: ChildStdout) -> Result<(), String> {
    let deadline = Instant::now() + HANDSHAKE;
    let mut got = Vec::new();
    while got.len() < READY.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut poll = libc::pollfd {
            fd: stdout.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let millis = libc::c_int::try_from(left.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one valid pollfd, which outlives the call.
        let ready = unsafe { libc::poll(&mut poll, 1, millis) };
        if ready < 0 {
            let error = io::Error::last_os_error();
            if error.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(format!("cannot wait for its answer: {error}"));
        }
        if ready == 0 {
            return Err(format!("no answer within {HANDSHAKE:?}"));
        }
        let mut buffer = [0; 64];
        match stdout.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => got.extend_from_slice(&buffer[..read]),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(format!("cannot read its answer: {error}")),
        }
    }
    if got.starts_with(READY) {
        Ok(())
    } else {
        Err(format!("it answered {:?}", String::from_utf8_lossy(&got)))
    }
}

/// One line of the protocol: `+GROUP` (watch) or `-GROUP` (forget).
fn parse(line: &[u8]) -> Option<(bool, i32)> {
    let line = std::str::from_utf8(line).ok()?.trim_end();
    let (watch, group) = match line.split_at_checked(1)? {
        ("+", group) => (true, group),
        ("-", group) => (false, group),
        _ => return None,
    };
    let group: i32 = group.parse().ok()?;
    // 0 and negative ids would mean "my own group" or "every process".
    (group > 1).then_some((watch, group))
}

/// The guard process (`orch __guard`): never returns.
pub fn main(_args: impl IntoIterator<Item = impl AsRef<OsStr>>) -> ! {
    let mut stdout = io::stdout();
    // A worker killed while this guard started no longer reads the answer;
    // its groups are in the pipe all the same, so the guard goes on.
    let _ = stdout.write_all(READY).and_then(|()| stdout.flush());
    let groups = follow(io::stdin().lock());
    let mut killed = 0;
    for group in &groups {
        match killpg(Pid::from_raw(*group), Signal::SIGKILL) {
            Ok(()) => killed += 1,
            Err(Errno::ESRCH) => {}
            Err(errno) => eprintln!("orch guard: cannot kill process group {group}: {errno}"),
        }
    }
    if killed > 0 {
        eprintln!(
            "orch guard: the worker ended with {killed} flow process group(s) still running: \
             killed them"
        );
    }
    std::process::exit(0)
}

/// Reads the worker's lines until the pipe closes; the groups still watched.
fn follow(mut input: impl BufRead) -> HashSet<i32> {
    let mut groups = HashSet::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        match input.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return groups,
            Ok(_) => match parse(&line) {
                Some((true, group)) => {
                    groups.insert(group);
                }
                Some((false, group)) => {
                    groups.remove(&group);
                }
                None => eprintln!(
                    "orch guard: ignoring an unreadable line {:?}",
                    String::from_utf8_lossy(&line)
                ),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse() {
        assert_eq!(parse(b"+123\n"), Some((true, 123)));
        assert_eq!(parse(b"-123\n"), Some((false, 123)));
        assert_eq!(parse(b"-123"), Some((false, 123)));
        for bad in [
            &b"+0\n"[..],
            b"+1\n",
            b"+-5\n",
            b"*3\n",
            b"+\n",
            b"",
            b"+x\n",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_groups_left_are_those_not_forgotten() {
        let input = b"+10\n+11\n-10\n+12\ngarbage\n+13";
        let left = follow(&input[..]);
        assert_eq!(left, HashSet::from([11, 12, 13]));
    }

    #[test]
    fn a_binary_that_is_not_a_guard_is_refused() {
        // `true` says nothing and exits: no handshake.
        let error = Guard::start(Path::new("true")).unwrap_err();
        assert!(error.contains("is not a flow guard"), "{error}");
    }
}
