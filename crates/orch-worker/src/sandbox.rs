//! `orch __sandbox` (and the small `orch-sandbox`): starts one flow
//! confined as the worker's isolation mode says, so that it cannot see what
//! the worker keeps on this host. The command line is a [`Plan`]:
//! `--namespaces`, `--landlock`, `--run-as ...`, `--hide DIR...`,
//! `--keep FILE...`, `-- PROGRAM ARGS...`. Without `--namespaces` see
//! `sandbox_plain` (Landlock file rules and/or another user, no fork in
//! the common case). With it, the worker starts the sandbox in the run's
//! process group instead of the program itself, and that process
//! (the *outer* one, the only one the worker sees):
//! 1. enters new mount and PID namespaces (and a user namespace when it is
//!    not root, which is what gives an ordinary user the right to mount);
//! 2. hides each `--hide` folder behind an empty tmpfs (`$ORCH_HOME`: the
//!    credentials, the secret key, the database; the worker's state), then
//!    puts back the `--keep` files the run needs (its parameters file, the
//!    CA certificate), owned by the `--run-as` user when there is one;
//! 3. forks the namespace's PID 1, which mounts a fresh `/proc` (only the
//!    run's own processes, none of the worker's) and forks the flow;
//! 4. the flow enters one more user and mount namespace, which locks every
//!    mount above (even a flow running as root cannot unmount the tmpfs),
//!    or, with `--run-as`, becomes that user (without capabilities it
//!    cannot unmount anything either); with `--landlock` it adds Landlock
//!    scopes (no signals or abstract UNIX sockets outside the run); then it
//!    executes PROGRAM.
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
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use nix::sys::signal::{self, SigHandler, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};

use crate::confine::{self, Rules};
use crate::run_as::RunAs;
pub(crate) use crate::sandbox_plan::{Plan, parse};

/// The hidden subcommand of `orch` that runs [`main`].
pub const SUBCOMMAND: &str = "__sandbox";

/// Exit code when the sandbox itself cannot be set up (the flow never ran).
pub(crate) const SETUP_FAILED: i32 = 125;
/// Exit code when the flow's program cannot be executed.
const EXEC_FAILED: i32 = 127;

/// Signals the outer process ignores: the worker's SIGTERM is for the flow.
pub(crate) const PASSED_ON: [Signal; 3] = [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP];

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
    if !plan.namespaces {
        return crate::sandbox_plain::run(plan);
    }
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
        hide(path, plan.run_as.is_some())?;
    }
    for (path, content) in &kept {
        put_back(path, content, plan.run_as.as_ref())?;
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

/// Puts an empty tmpfs over a folder (or `/dev/null` over a file); one that
/// other users may cross (not list) when the flow runs as one of them, to
/// reach the files put back for it.
fn hide(path: &Path, crossable: bool) -> Result<(), String> {
    let options = if crossable {
        "mode=0711,size=16m"
    } else {
        "mode=0700,size=16m"
    };
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    let result = if path.is_dir() {
        mount(
            Some("tmpfs"),
            path,
            Some("tmpfs"),
            flags | MsFlags::MS_NOEXEC,
            Some(options),
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

/// Writes a kept file back at its path, readable by its owner only: the
/// flow's user when it runs as another one.
fn put_back(path: &Path, content: &[u8], user: Option<&RunAs>) -> Result<(), String> {
    let written = path
        .parent()
        .map_or(Ok(()), |dir| {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o711)
                .create(dir)
        })
        .and_then(|()| {
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(path)
        })
        .and_then(|mut file| std::io::Write::write_all(&mut file, content))
        .and_then(|()| match user {
            Some(user) => std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid)),
            None => Ok(()),
        });
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

/// The flow: locks the mounts behind one more user namespace (or, to run
/// as another user, becomes it: without capabilities it cannot unmount
/// anything either), applies the Landlock scopes, and executes the program.
fn exec_flow(plan: &Plan) -> ! {
    let confined = match &plan.run_as {
        None => unshare_as_self(CloneFlags::CLONE_NEWNS),
        Some(_) => Ok(()),
    }
    .and_then(|()| {
        if plan.landlock {
            confine::enforce(Rules::ScopesOnly).map(Some)
        } else {
            Ok(None)
        }
    })
    .and_then(|abi| match &plan.run_as {
        Some(user) => switch_user(user).map(|()| abi),
        None => Ok(abi),
    });
    match confined {
        Err(message) => {
            eprintln!("orch sandbox: {message}");
            std::process::exit(SETUP_FAILED);
        }
        Ok(abi) if plan.probe => probed(abi),
        Ok(_) => exec_program(plan),
    }
}

/// Becomes the flow's user, and enters the working directory again as that
/// user (saying so when it may not).
pub(crate) fn switch_user(user: &RunAs) -> Result<(), String> {
    let cwd = std::env::current_dir()
        .map_err(|error| format!("cannot read the working directory: {error}"))?;
    user.become_user()?;
    std::env::set_current_dir(&cwd).map_err(|error| {
        format!(
            "user {} cannot enter the run's working directory {} ({error}): make it (and the \
             folders above it) readable by that user, e.g. chmod o+rx, or choose another \
             --run-as user",
            user.name,
            cwd.display()
        )
    })
}

/// Ends a probe: prints the Landlock ABI in force, if any.
pub(crate) fn probed(abi: Option<i32>) -> ! {
    if let Some(abi) = abi {
        println!("landlock abi {abi}");
    }
    std::process::exit(0)
}

/// Restores the signal dispositions and mask the flow should start with,
/// and executes its program.
pub(crate) fn exec_program(plan: &Plan) -> ! {
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
pub(crate) fn mirror(reported: Option<[u8; 2]>, init: nix::Result<WaitStatus>) -> ! {
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
