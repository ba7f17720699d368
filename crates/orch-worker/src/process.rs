//! Starting a run's entrypoint as a child process in its own process group,
//! and stopping that whole group.
//!
//! The group matters twice: a flow's own children die with it on cancel, and
//! a Ctrl-C in the worker's terminal (sent to the terminal's foreground
//! group) does not reach the flows, so the worker decides how they end.

use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use orch_client::flow_env;

use crate::guard::Guard;
use crate::isolation::{self, Sandbox};
use crate::program::{found, on_path, resolve_program};
use crate::reaper::Reaper;
use tokio::process::{ChildStderr, ChildStdout};
use tokio::time::Instant;

/// How often to look whether a group's last members are gone once its
/// leader has exited.
const GROUP_POLL: Duration = Duration::from_millis(20);

/// What to start: the claimed run's entrypoint and where.
#[derive(Debug)]
pub(crate) struct Launch<'a> {
    /// Program and arguments.
    pub entrypoint: &'a [String],
    /// The folder of the deployment file; relative programs are looked up
    /// there first, and it is the working directory when it exists.
    pub base_dir: &'a Path,
    /// The flow's whole environment (see `environment`): nothing else of
    /// the worker's is inherited.
    pub env: std::collections::BTreeMap<std::ffi::OsString, std::ffi::OsString>,
    /// The run's parameters as JSON: `ORCH_PARAMETERS` when small enough
    /// for the environment, else a file named by `ORCH_PARAMETERS_FILE`.
    pub parameters: &'a str,
    /// Where such a file is written (the system's temporary folder if `None`).
    pub parameters_dir: Option<&'a Path>,
    /// The run, to name the file.
    pub flow_run_id: &'a str,
    /// The sandbox to start the flow in (see `isolation`), if any.
    pub sandbox: Option<&'a Sandbox>,
    /// Files the flow needs even when they sit in a hidden folder (the CA
    /// certificate).
    pub keep: Vec<PathBuf>,
    /// The worker's flow guard, which kills the flow's group if the worker
    /// dies; without one (or in a sandbox) the flow gets a parent-death
    /// signal instead (see `die_with_worker`).
    pub guard: Option<&'a Guard>,
}

/// A started entrypoint: the child (leader of its process group) and its pipes.
#[derive(Debug)]
pub(crate) struct RunningProcess {
    /// The child's waiter: waiting on it reaps it and measures its usage.
    pub child: Reaper,
    /// The id of its process group (equal to its pid).
    pub group: Pid,
    /// Its standard output.
    pub stdout: ChildStdout,
    /// Its standard error.
    pub stderr: ChildStderr,
    /// The parameters file to remove once the run ended, if one was written.
    pub parameters_file: Option<PathBuf>,
}

/// Starts `launch` in a new process group with null stdin and piped output.
///
/// # Errors
///
/// The message to fail the run with: the entrypoint is empty, the program
/// was not found, or the OS refused to start it.
pub(crate) fn spawn(launch: &Launch<'_>) -> Result<RunningProcess, String> {
    let Some((program, args)) = launch.entrypoint.split_first() else {
        return Err("cannot start the run: its deployment has an empty entrypoint".to_owned());
    };
    let base_dir_exists = launch.base_dir.is_dir();
    let resolved = resolve_program(program, launch.base_dir);
    let mut command = match launch.sandbox {
        // An absolute path: with the flow's own PATH and a bare name the
        // standard library would fork instead of using `posix_spawn`.
        None => {
            let cwd = if base_dir_exists {
                launch.base_dir
            } else {
                Path::new("")
            };
            let mut command = Command::new(
                on_path(&resolved, cwd, &launch.env).unwrap_or_else(|| resolved.clone()),
            );
            // The flow still sees its program's name as written in argv[0].
            command.arg0(&resolved);
            command
        }
        Some(sandbox) => {
            // Inside the sandbox a missing program could only show as exit
            // code 127: say where it was sought as without a sandbox.
            if !found(&resolved, launch.base_dir, &launch.env) {
                let error = io::Error::from(io::ErrorKind::NotFound);
                return Err(spawn_failure(
                    program,
                    &resolved,
                    launch.base_dir,
                    base_dir_exists,
                    &error,
                ));
            }
            Command::new(&sandbox.program)
        }
    };
    command
        .env_clear()
        .envs(&launch.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    // The sandbox (namespaces, Landlock, another user) is set up in the
    // child anyway; the plain path stays a `posix_spawn` under a guard.
    let guard = launch
        .guard
        .filter(|guard| launch.sandbox.is_none() && guard.is_running());
    if guard.is_none() {
        die_with_worker(&mut command);
    }
    if base_dir_exists {
        command.current_dir(launch.base_dir);
    }
    let parameters_file = pass_parameters(&mut command, launch)?;
    match launch.sandbox {
        None => {
            command.args(args);
        }
        Some(sandbox) => {
            let keep = parameters_file
                .iter()
                .chain(&launch.keep)
                .filter(|path| isolation::is_hidden(path, &sandbox.hide))
                .cloned()
                .collect();
            let flow = std::iter::once(resolved.clone().into_os_string())
                .chain(args.iter().map(Into::into))
                .collect();
            command.args(sandbox.wrap(flow, keep));
        }
    }
    let started = std::time::Instant::now();
    // A std child: nothing reaps it but its `Reaper` (tokio's would, with
    // `waitpid`, losing the usage), and dropping it neither kills nor waits.
    let mut child = command.spawn().map_err(|error| {
        spawn_failure(program, &resolved, launch.base_dir, base_dir_exists, &error)
    })?;
    let group = Pid::from_raw(i32::try_from(child.id()).expect("pids fit in i32"));
    // At once: until the guard has it, a worker killed with SIGKILL would
    // leave it running.
    if let Some(guard) = launch.guard {
        guard.watch(group);
    }
    let reaper = Reaper::start(group, started);
    let pipes =
        ChildStdout::from_std(child.stdout.take().expect("stdout is piped")).and_then(|stdout| {
            ChildStderr::from_std(child.stderr.take().expect("stderr is piped"))
                .map(|stderr| (stdout, stderr))
        });
    let (stdout, stderr) = match pipes {
        Ok(pipes) => pipes,
        Err(error) => {
            // Not tracked, so not left running.
            signal_group(group, Signal::SIGKILL);
            if let Some(guard) = launch.guard {
                guard.forget(group);
            }
            return Err(format!(
                "cannot start entrypoint {program:?}: cannot read its output: {error}"
            ));
        }
    };
    Ok(RunningProcess {
        stdout,
        stderr,
        child: reaper,
        group,
        parameters_file,
    })
}

/// Sets `ORCH_PARAMETERS`, or writes the parameters to a file and sets
/// `ORCH_PARAMETERS_FILE` when they are too large for the environment.
fn pass_parameters(command: &mut Command, launch: &Launch<'_>) -> Result<Option<PathBuf>, String> {
    if launch.parameters.len() <= flow_env::MAX_ENV_PARAMETERS {
        command.env(flow_env::PARAMETERS, launch.parameters);
        return Ok(None);
    }
    let dir = launch
        .parameters_dir
        .map_or_else(std::env::temp_dir, Path::to_path_buf)
        .join("parameters");
    let path = dir.join(format!("{}.json", launch.flow_run_id));
    // Readable by the worker's user only: parameters may hold secrets.
    orch_proto::private_files::create_dir(&dir)
        .and_then(|()| orch_proto::private_files::write(&path, launch.parameters.as_bytes()))
        .map_err(|error| {
            format!(
                "cannot start the run: its parameters ({} bytes) are too large for the environment \
                 and cannot be written to {}: {error}",
                launch.parameters.len(),
                path.display()
            )
        })?;
    command
        .env_remove(flow_env::PARAMETERS)
        .env(flow_env::PARAMETERS_FILE, &path);
    Ok(Some(path))
}

/// Makes the child get SIGKILL when the worker dies (even by `kill -9`), so a
/// dead worker's flow cannot run on while the server retries its run on
/// another worker. What the flow starts itself is killed by the next worker
/// to start on this host (see `leftovers`).
#[cfg(target_os = "linux")]
fn die_with_worker(command: &mut Command) {
    let worker = nix::unistd::getpid();
    // SAFETY: between fork and exec the closure only makes two system calls
    // (prctl, getppid), both async-signal-safe, and allocates nothing.
    unsafe {
        command.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(io::Error::from)?;
            // The worker died before the signal was armed: do not start.
            if nix::unistd::getppid() != worker {
                return Err(io::Error::other(
                    "the worker exited while starting the flow",
                ));
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_worker(_command: &mut Command) {}

/// The failure message for a spawn error, saying where the program was sought.
fn spawn_failure(
    program: &str,
    resolved: &Path,
    base_dir: &Path,
    base_dir_exists: bool,
    error: &io::Error,
) -> String {
    let reason = match error.kind() {
        io::ErrorKind::NotFound if Path::new(program).is_absolute() => {
            "program not found".to_owned()
        }
        io::ErrorKind::NotFound if base_dir_exists => {
            format!(
                "program not found (looked in {} and PATH)",
                base_dir.display()
            )
        }
        io::ErrorKind::NotFound => "program not found (looked in PATH)".to_owned(),
        io::ErrorKind::PermissionDenied => {
            format!("permission denied (is {} executable?)", resolved.display())
        }
        _ => error.to_string(),
    };
    format!("cannot start entrypoint {program:?}: {reason}")
}

/// Sends `signal` to every process of `group`; a group already gone is fine.
pub(crate) fn signal_group(group: Pid, signal: Signal) {
    match killpg(group, signal) {
        Ok(()) | Err(Errno::ESRCH) => {}
        Err(errno) => tracing::warn!("cannot send {signal} to process group {group}: {errno}"),
    }
}

/// Whether any process of `group` is still running (the reaped leader aside).
fn group_alive(group: Pid) -> bool {
    // Signal "0" checks existence without delivering anything; EPERM means a
    // member exists but changed its credentials.
    if matches!(killpg(group, None), Err(Errno::ESRCH)) {
        return false;
    }
    has_live_member(group)
}

/// Whether `group` has a member that is not a zombie.
///
/// Killed orphans are reparented to init, and in a container whose init does
/// not reap (no `--init`) they stay zombies forever: signal 0 still finds
/// them, so only `/proc` tells a dead group from a live one.
#[cfg(target_os = "linux")]
fn has_live_member(group: Pid) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return true;
    };
    entries
        .filter_map(Result::ok)
        .filter(|entry| {
            entry
                .file_name()
                .to_str()
                .is_some_and(|name| name.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter_map(|entry| std::fs::read_to_string(entry.path().join("stat")).ok())
        .any(|stat| {
            parse_stat(&stat).is_some_and(|(state, pgrp)| pgrp == group.as_raw() && state != 'Z')
        })
}

#[cfg(not(target_os = "linux"))]
fn has_live_member(_group: Pid) -> bool {
    true
}

/// The state letter and process group of a `/proc/PID/stat` line:
/// `pid (comm) state ppid pgrp ...`, where `comm` may contain anything.
#[cfg(target_os = "linux")]
fn parse_stat(stat: &str) -> Option<(char, i32)> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_comm.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    let pgrp = fields.nth(1)?.parse().ok()?;
    Some((state, pgrp))
}

/// Stops a process group: SIGTERM to the group, then SIGKILL to whatever is
/// left of it after `grace`. Returns the leader's exit status.
///
/// # Errors
///
/// Waiting on the leader failed (it was already reaped elsewhere).
pub(crate) async fn terminate_group(
    child: &mut Reaper,
    group: Pid,
    grace: Duration,
) -> io::Result<ExitStatus> {
    let deadline = Instant::now() + grace;
    signal_group(group, Signal::SIGTERM);
    let Ok(status) = tokio::time::timeout_at(deadline, child.wait()).await else {
        signal_group(group, Signal::SIGKILL);
        return child.wait().await;
    };
    // The leader is gone; its children get the rest of the grace period.
    while group_alive(group) {
        if Instant::now() >= deadline {
            signal_group(group, Signal::SIGKILL);
            break;
        }
        tokio::time::sleep(GROUP_POLL).await;
    }
    status
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    fn launch<'a>(entrypoint: &'a [String], base_dir: &'a Path) -> Launch<'a> {
        Launch {
            entrypoint,
            base_dir,
            env: std::env::vars_os()
                .filter(|(name, _)| name == "PATH")
                .collect(),
            parameters: "{}",
            parameters_dir: None,
            flow_run_id: "run",
            sandbox: None,
            keep: Vec::new(),
            guard: None,
        }
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|item| (*item).to_owned()).collect()
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn stat_lines_parse_despite_odd_command_names() {
        let stat = "4242 (my (odd) flow) Z 1 4240 4240 0 -1 4194372";
        assert_eq!(parse_stat(stat), Some(('Z', 4240)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[tokio::test]
    async fn missing_program_fails_with_where_it_looked() {
        let dir = tempfile::tempdir().unwrap();
        let entrypoint = strings(&["sentinel-that-does-not-exist"]);
        let error = spawn(&launch(&entrypoint, dir.path())).unwrap_err();
        assert_eq!(
            error,
            format!(
                "cannot start entrypoint \"sentinel-that-does-not-exist\": program not found (looked in {} and PATH)",
                dir.path().display()
            )
        );
        let error = spawn(&launch(&[], dir.path())).unwrap_err();
        assert!(error.contains("empty entrypoint"), "{error}");
    }

    #[tokio::test]
    async fn runs_in_base_dir_with_env() {
        use tokio::io::AsyncReadExt;

        let dir = tempfile::tempdir().unwrap();
        let entrypoint = strings(&["sh", "-c", "pwd; echo \"$ORCH_FLOW_RUN_ID\""]);
        let mut launch = launch(&entrypoint, dir.path());
        launch.env.insert("ORCH_FLOW_RUN_ID".into(), "run-1".into());
        let mut process = spawn(&launch).unwrap();
        let mut output = String::new();
        process.stdout.read_to_string(&mut output).await.unwrap();
        assert!(process.child.wait().await.unwrap().success());
        let cwd = dir.path().canonicalize().unwrap();
        assert_eq!(output, format!("{}\nrun-1\n", cwd.display()));
    }

    #[tokio::test]
    async fn a_program_found_on_path_keeps_its_name_as_argv0() {
        use tokio::io::AsyncReadExt;

        let entrypoint = strings(&["sh", "-c", "tr '\\0' ' ' < /proc/$$/cmdline"]);
        let mut process = spawn(&launch(&entrypoint, Path::new(""))).unwrap();
        let mut output = String::new();
        process.stdout.read_to_string(&mut output).await.unwrap();
        assert!(process.child.wait().await.unwrap().success());
        assert!(output.starts_with("sh -c "), "{output:?}");
    }

    #[tokio::test]
    async fn terminate_stops_with_sigterm() {
        let entrypoint = strings(&["sh", "-c", "sleep 30"]);
        let mut process = spawn(&launch(&entrypoint, Path::new(""))).unwrap();
        // Ended by SIGTERM itself: SIGKILL (after the grace) was never needed.
        let status = terminate_group(&mut process.child, process.group, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(status.signal(), Some(Signal::SIGTERM as i32), "{status:?}");
    }

    #[tokio::test]
    async fn terminate_reaches_the_whole_group() {
        let entrypoint = strings(&["sh", "-c", "sleep 30 & wait"]);
        let mut process = spawn(&launch(&entrypoint, Path::new(""))).unwrap();
        // Ended by SIGTERM itself: SIGKILL (after the grace) was never needed.
        let status = terminate_group(&mut process.child, process.group, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(status.signal(), Some(Signal::SIGTERM as i32), "{status:?}");
        assert!(
            group_gone_soon(process.group).await,
            "the background sleep survived"
        );
    }

    #[tokio::test]
    async fn terminate_sigkills_after_grace_when_sigterm_is_ignored() {
        let entrypoint = strings(&["sh", "-c", "trap '' TERM; sleep 30"]);
        let mut process = spawn(&launch(&entrypoint, Path::new(""))).unwrap();
        // Give sh time to install the trap before the signal arrives.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let started = std::time::Instant::now();
        let status = terminate_group(
            &mut process.child,
            process.group,
            Duration::from_millis(300),
        )
        .await
        .unwrap();
        assert_eq!(status.signal(), Some(Signal::SIGKILL as i32), "{status:?}");
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
        assert!(
            group_gone_soon(process.group).await,
            "the sleep survived SIGKILL"
        );
    }

    /// Whether `group` disappears within a second.
    async fn group_gone_soon(group: Pid) -> bool {
        for _ in 0..50 {
            if !group_alive(group) {
                return true;
            }
            tokio::time::sleep(GROUP_POLL).await;
        }
        false
    }
}
