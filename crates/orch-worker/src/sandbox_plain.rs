//! The sandbox without namespaces: Landlock rules alone (`--isolation
//! landlock`) and/or another user (`--run-as`), in the process the worker
//! started, which then executes the flow's program itself.
//!
//! One case forks: a flow run as another user that needs files from hidden
//! folders (a large parameters file, the CA certificate), which that user
//! may not read where they are. The sandbox copies them into a folder of the
//! user's own, points the environment at the copies, forks the flow, waits
//! for it, removes the copies and ends as the flow ended (as the namespaces'
//! outer process does).

use std::ffi::OsString;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::sys::signal::{self, SigHandler};
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, fork};

use crate::confine::{self, Rules};
use crate::run_as::RunAs;
use crate::sandbox::{self, PASSED_ON, Plan};

/// Confines this process as `plan` says and executes the flow (or forks it,
/// see the module's docs); never returns but with a setup error.
pub(crate) fn run(plan: &Plan) -> Result<std::convert::Infallible, String> {
    let copies = match &plan.run_as {
        Some(user) if !plan.keep.is_empty() && !plan.probe => Some(copy_for(user, &plan.keep)?),
        _ => None,
    };
    let readable: Vec<PathBuf> = match &copies {
        Some((dir, copied)) => copied.clone().into_iter().chain([dir.clone()]).collect(),
        None => plan.keep.clone(),
    };
    let Some((dir, _)) = copies else {
        return confine_and_exec(plan, &readable);
    };
    for signal in PASSED_ON {
        // SAFETY: setting a disposition to SIG_IGN installs no handler code.
        unsafe { signal::signal(signal, SigHandler::SigIgn) }
            .map_err(|errno| format!("cannot ignore {signal}: {errno}"))?;
    }
    // SAFETY: the process is single-threaded (see `sandbox`).
    match unsafe { fork() }.map_err(|errno| format!("cannot fork: {errno}"))? {
        ForkResult::Child => match confine_and_exec(plan, &readable) {
            Ok(never) => match never {},
            Err(message) => {
                eprintln!("orch sandbox: {message}");
                std::process::exit(sandbox::SETUP_FAILED)
            }
        },
        ForkResult::Parent { child } => {
            let status = waitpid(child, None);
            let _ = std::fs::remove_dir_all(&dir);
            sandbox::mirror(None, status)
        }
    }
}

/// Applies the Landlock rules (when asked), becomes the flow's user (when
/// asked) and executes the program, or ends a probe.
fn confine_and_exec(plan: &Plan, readable: &[PathBuf]) -> Result<std::convert::Infallible, String> {
    let abi = if plan.landlock {
        Some(confine::enforce(Rules::Files {
            hide: &plan.hide,
            readable,
        })?)
    } else {
        None
    };
    match &plan.run_as {
        Some(user) => sandbox::switch_user(user)?,
        // A root flow keeps uid 0 but no capability (see `drop_capabilities`).
        None if plan.landlock && nix::unistd::geteuid().is_root() => {
            confine::drop_capabilities()?;
        }
        None => {}
    }
    if plan.probe {
        sandbox::probed(abi);
    }
    sandbox::exec_program(plan)
}

/// Copies `files` into a new folder owned by `user` (mode 0700, the files
/// 0600) in the system's temporary folder, and points every variable naming
/// one of them at its copy. Returns the folder and the copies.
fn copy_for(user: &RunAs, files: &[PathBuf]) -> Result<(PathBuf, Vec<PathBuf>), String> {
    let template = std::env::temp_dir().join("orch-run-XXXXXX");
    let dir = nix::unistd::mkdtemp(&template)
        .map_err(|errno| format!("cannot make a folder in {}: {errno}", template.display()))?;
    std::os::unix::fs::chown(&dir, Some(user.uid), Some(user.gid))
        .map_err(|error| format!("cannot give {} to {}: {error}", dir.display(), user.name))?;
    let mut copies = Vec::new();
    for (index, file) in files.iter().enumerate() {
        let name = file.file_name().map_or_else(
            || OsString::from(index.to_string()),
            std::ffi::OsStr::to_os_string,
        );
        let copy = dir.join(name);
        copy_one(file, &copy, user)?;
        // SAFETY: the sandbox is single-threaded (see `sandbox`).
        for (key, value) in std::env::vars_os() {
            if Path::new(&value) == file {
                unsafe { std::env::set_var(&key, &copy) };
            }
        }
        copies.push(copy);
    }
    Ok((dir, copies))
}

/// Copies `from` to a new `to` readable by `user` only.
fn copy_one(from: &Path, to: &Path, user: &RunAs) -> Result<(), String> {
    let content =
        std::fs::read(from).map_err(|error| format!("cannot read {}: {error}", from.display()))?;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to)
        .and_then(|mut file| std::io::Write::write_all(&mut file, &content))
        .and_then(|()| std::os::unix::fs::chown(to, Some(user.uid), Some(user.gid)))
        .map_err(|error| format!("cannot copy {} for {}: {error}", from.display(), user.name))
}
