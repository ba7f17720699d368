//! `orch __sandbox`: starts one flow in its own mount, PID and user
//! namespaces, so that it cannot see what the worker keeps on this host.
//!
//! The worker starts `orch __sandbox --hide DIR... --keep FILE... -- PROGRAM ARGS...`
//! in the run's process group instead of the program itself. That process
//! (the *outer* one, the only one the worker sees):
//! 1. enters new mount and PID namespaces (and a user namespace when it is
//!    not root, which is what gives an ordinary user the right to mount);
//! 2. hides each `--hide` folder behind an empty tmpfs (`$ORCH_HOME`: the
//!    credentials, the secret key, the database; the worker's state), then
//!    puts back the `--keep` files the run needs (its parameters file, the
//!    CA certificate);
//! 3. forks the namespace's PID 1, which mounts a fresh `/proc` (only the
//!    run's own processes, none of the worker's) and forks the flow;
//! 4. the flow enters one more user and mount namespace, which locks every
//!    mount above (even a flow running as root cannot unmount the tmpfs),
//!    then executes PROGRAM.
//!
//! Signals and exit codes behave as without the sandbox: all three processes
//! stay in the run's process group, so the worker's SIGTERM reaches the flow
//! directly (the outer process ignores it and PID 1 of a namespace only gets
//! signals it handles); SIGKILL ends the outer process and PID 1, and with PID 1
//! every process of the namespace. PID 1 passes the flow's wait status to the
//! outer process through a pipe, and the outer process exits with the same
//! code or dies of the same signal.
//!
//! This code runs before any thread exists (`orch`'s `main` dispatches here
//! first): entering a user namespace requires a single-threaded process.

use std::ffi::{CString, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use nix::sys::signal::{self, SigHandler, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};

/// The hidden subcommand of `orch` that runs [`main`].
pub const SUBCOMMAND: &str = "__sandbox";

/// Exit code when the sandbox itself cannot be set up (the flow never ran).
const SETUP_FAILED: i32 = 125;
/// Exit code when the flow's program cannot be executed.
const EXEC_FAILED: i32 = 127;

/// Signals the outer process ignores: the worker's SIGTERM is for the flow.
const PASSED_ON: [Signal; 3] = [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP];

/// What to run and what to hide, from the command line.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Folders (or files) the flow must not see.
    pub hide: Vec<PathBuf>,
    /// Files inside hidden folders the flow still needs.
    pub keep: Vec<PathBuf>,
    /// Set up everything, then exit 0 instead of running a program.
    pub probe: bool,
    /// The program and its arguments.
    pub command: Vec<OsString>,
}

impl Plan {
    /// The arguments after the subcommand that [`parse`] reads back.
    pub(crate) fn to_args(&self) -> Vec<OsString> {
        let mut args = Vec::new();
        for path in &self.hide {
            args.push("--hide".into());
            args.push(path.clone().into_os_string());
        }
        for path in &self.keep {
            args.push("--keep".into());
            args.push(path.clone().into_os_string());
        }
        if self.probe {
            args.push("--probe".into());
        }
        args.push("--".into());
        args.extend(self.command.iter().cloned());
        args
    }
}

/// Reads the arguments after the subcommand.
pub(crate) fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Plan, String> {
    let mut plan = Plan::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--hide") => plan.hide.push(value(&mut args, "--hide")?),
            Some("--keep") => plan.keep.push(value(&mut args, "--keep")?),
            Some("--probe") => plan.probe = true,
            Some("--") => {
                plan.command = args.collect();
                break;
            }
            _ => return Err(format!("unexpected argument {arg:?}")),
        }
    }
    if plan.command.is_empty() && !plan.probe {
        return Err("no program given after --".to_owned());
    }
    Ok(plan)
}

/// The path after `flag`.
fn value(args: &mut impl Iterator<Item = OsString>, flag: &str) -> Result<PathBuf, String> {
    args.next()
        .map(PathBuf::from)
        .ok_or_else(|| format!("{flag} needs a path"))
}

/// Runs the sandbox for `args` (what follows the subcommand); never returns.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ! {
    let outcome = parse(args).and_then(|plan| run(&plan));
    match outcome {
        Ok(never) => match never {},
        Err(message) => {
            eprintln!("orch sandbox: {message}");
            std::process::exit(SETUP_FAILED)
        }
    }
}

/// Sets up the namespaces and runs the flow; ends the process with its status.
fn run(plan: &Plan) -> Result<std::convert::Infallible, String> {
    let kept = plan
        .keep
        .iter()
        .map(|path| {
            std::fs::read(path)
                .map(|content| (path.clone(), content))
                .map_err(|error| format!("cannot read {}: {error}", path.display()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let cwd = std::env::current_dir()
        .map_err(|error| format!("cannot read the working directory: {error}"))?;
    let root = nix::unistd::geteuid().is_root();
    if root {
        unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWPID)
            .map_err(|errno| format!("cannot enter new mount and PID namespaces: {errno}"))?;
    } else {
        unshare_as_self(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWPID)?;
    }
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|errno| format!("cannot make the mounts private: {errno}"))?;
    for path in &plan.hide {
        hide(path)?;
    }
    for (path, content) in &kept {
        put_back(path, content)?;
    }
    std::env::set_current_dir(&cwd).map_err(|error| {
        format!(
            "cannot enter the run's working directory {} ({error}): it is inside a folder hidden \
             from flows; move the deployment out of $ORCH_HOME or start the worker with \
             --isolation none",
            cwd.display()
        )
    })?;
    for signal in PASSED_ON {
        // SAFETY: setting a disposition to SIG_IGN installs no handler code.
        unsafe { signal::signal(signal, SigHandler::SigIgn) }
            .map_err(|errno| format!("cannot ignore {signal}: {errno}"))?;
    }
    let (status_read, status_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|errno| format!("cannot make a pipe: {errno}"))?;
    // SAFETY: the process is single-threaded (see the module's docs).
    match unsafe { fork() }.map_err(|errno| format!("cannot fork: {errno}"))? {
        ForkResult::Child => {
            drop(status_read);
            namespace_init(plan, status_write)
        }
        ForkResult::Parent { child } => {
            drop(status_write);
            let status = waitpid(child, None);
            let mut reported = [0_u8; 2];
            let reported = match std::io::Read::read_exact(
                &mut std::fs::File::from(status_read),
                &mut reported,
            ) {
                Ok(()) => Some(reported),
                Err(_) => None,
            };
            mirror(reported, status)
        }
    }
}

/// Enters `namespaces`, a new user namespace among them, in which the
/// process's user and group are mapped to themselves.
fn unshare_as_self(namespaces: CloneFlags) -> Result<(), String> {
    // Read before: inside the new namespace they are unmapped until written.
    let uid = nix::unistd::geteuid();
    let gid = nix::unistd::getegid();
    unshare(CloneFlags::CLONE_NEWUSER | namespaces).map_err(|errno| {
        format!("cannot enter new namespaces ({namespaces:?} and user): {errno}")
    })?;
    write_proc("/proc/self/uid_map", &format!("{uid} {uid} 1"))?;
    write_proc("/proc/self/setgroups", "deny")?;
    write_proc("/proc/self/gid_map", &format!("{gid} {gid} 1"))
}

/// Writes `content` to a `/proc` file (opened for writing only: neither
/// created nor truncated, which the kernel refuses before the maps exist).
fn write_proc(path: &str, content: &str) -> Result<(), String> {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut file| std::io::Write::write_all(&mut file, content.as_bytes()))
        .map_err(|error| format!("cannot write {path}: {error}"))
}

/// Puts an empty tmpfs over a folder (or `/dev/null` over a file).
fn hide(path: &Path) -> Result<(), String> {
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    let result = if path.is_dir() {
        mount(
            Some("tmpfs"),
            path,
            Some("tmpfs"),
            flags | MsFlags::MS_NOEXEC,
            Some("mode=0700,size=16m"),
        )
    } else if path.exists() {
        mount(
            Some("/dev/null"),
            path,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
    } else {
        return Ok(());
    };
    result.map_err(|errno| format!("cannot hide {}: {errno}", path.display()))
}

/// Writes a kept file back at its path, readable by its owner only.
fn put_back(path: &Path, content: &[u8]) -> Result<(), String> {
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| {
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(path)
        })
        .and_then(|mut file| std::io::Write::write_all(&mut file, content));
    written.map_err(|error| format!("cannot put {} back: {error}", path.display()))
}

/// PID 1 of the new namespace: mounts `/proc`, starts the flow, reaps every
/// process, and reports the flow's status through `status` when it ends.
fn namespace_init(plan: &Plan, status: std::os::fd::OwnedFd) -> ! {
    let setup = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
        .map_err(|errno| format!("cannot arm the parent-death signal: {errno}"))
        .and_then(|()| {
            mount(
                Some("proc"),
                "/proc",
                Some("proc"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                None::<&str>,
            )
            .map_err(|errno| format!("cannot mount a fresh /proc: {errno}"))
        });
    if let Err(message) = setup {
        eprintln!("orch sandbox: {message}");
        std::process::exit(SETUP_FAILED);
    }
    // SAFETY: still single-threaded.
    let flow = match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            drop(status);
            exec_flow(plan)
        }
        Ok(ForkResult::Parent { child }) => child,
        Err(errno) => {
            eprintln!("orch sandbox: cannot fork the flow: {errno}");
            std::process::exit(SETUP_FAILED);
        }
    };
    loop {
        match waitpid(None::<Pid>, None) {
            Ok(WaitStatus::Exited(pid, code)) if pid == flow => {
                report(&status, [0, u8::try_from(code).unwrap_or(u8::MAX)])
            }
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid == flow => {
                report(&status, [1, u8::try_from(signal as i32).unwrap_or(u8::MAX)])
            }
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(_) => std::process::exit(SETUP_FAILED),
        }
    }
}

/// Sends the flow's status to the outer process and ends PID 1 (and with it
/// whatever the flow left running in the namespace).
fn report(status: &std::os::fd::OwnedFd, message: [u8; 2]) -> ! {
    let _ = nix::unistd::write(status, &message);
    std::process::exit(0)
}

/// The flow: locks the mounts behind one more user namespace, restores the
/// signal dispositions, and executes the program.
fn exec_flow(plan: &Plan) -> ! {
    if let Err(message) = unshare_as_self(CloneFlags::CLONE_NEWNS) {
        eprintln!("orch sandbox: {message}");
        std::process::exit(SETUP_FAILED);
    }
    if plan.probe {
        std::process::exit(0);
    }
    for signal in PASSED_ON.into_iter().chain([Signal::SIGPIPE]) {
        // SAFETY: restoring the default disposition installs no handler code.
        let _ = unsafe { signal::signal(signal, SigHandler::SigDfl) };
    }
    let _ = signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    let arguments: Vec<CString> = plan
        .command
        .iter()
        .filter_map(|arg| CString::new(arg.clone().into_vec()).ok())
        .collect();
    let error = match arguments.first() {
        Some(program) if arguments.len() == plan.command.len() => {
            nix::unistd::execvp(program, &arguments).unwrap_err()
        }
        _ => nix::errno::Errno::EINVAL,
    };
    let program = plan.command.first().map(|p| p.as_bytes()).unwrap_or(&[]);
    eprintln!(
        "cannot start entrypoint {:?}: {error}",
        String::from_utf8_lossy(program)
    );
    std::process::exit(EXEC_FAILED)
}

/// Ends the outer process as the flow ended: `reported` is PID 1's message,
/// `init` how PID 1 itself ended (when it could not report, e.g. SIGKILL).
fn mirror(reported: Option<[u8; 2]>, init: nix::Result<WaitStatus>) -> ! {
    let signal = match (reported, init) {
        (Some([0, code]), _) => std::process::exit(i32::from(code)),
        (Some([_, signal]), _) => Signal::try_from(i32::from(signal)).ok(),
        (None, Ok(WaitStatus::Signaled(_, signal, _))) => Some(signal),
        (None, Ok(WaitStatus::Exited(_, code))) => std::process::exit(code),
        (None, _) => None,
    };
    if let Some(signal) = signal {
        // No core file of this process: the flow's own crash is what counts.
        let _ = nix::sys::prctl::set_dumpable(false);
        // SAFETY: restoring the default disposition installs no handler code.
        let _ = unsafe { signal::signal(signal, SigHandler::SigDfl) };
        let mut set = SigSet::empty();
        set.add(signal);
        let _ = signal::sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&set), None);
        let _ = signal::raise(signal);
        std::process::exit(128 + signal as i32);
    }
    std::process::exit(SETUP_FAILED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_survives_its_command_line() {
        let plan = Plan {
            hide: vec!["/home/w/.orch".into(), "/var/lib/orch worker".into()],
            keep: vec!["/home/w/.orch/worker/parameters/r.json".into()],
            probe: false,
            command: vec!["sh".into(), "-c".into(), "--hide x".into()],
        };
        assert_eq!(parse(plan.to_args()).unwrap(), plan);
    }

    #[test]
    fn bad_command_lines_say_what_is_wrong() {
        let error = parse(["--hide".into()]).unwrap_err();
        assert_eq!(error, "--hide needs a path");
        let error = parse(["--hide".into(), "/x".into()]).unwrap_err();
        assert_eq!(error, "no program given after --");
        let error = parse(["--frob".into()]).unwrap_err();
        assert!(error.contains("unexpected argument"), "{error}");
        assert!(parse(["--probe".into(), "--".into()]).unwrap().probe);
    }
}
