//! How far a flow is kept from the worker's own files and process
//! (`orch worker start --isolation`), and which mode is in force.
//!
//! - `namespaces`: each flow runs through [`crate::sandbox`] in its own mount,
//!   PID and user namespaces: `$ORCH_HOME` and the worker's state folder are
//!   empty to it, and its `/proc` shows its own processes only.
//! - `none`: the flow runs as the worker's user beside it (the worker is
//!   still made non-dumpable, which keeps an ordinary user's flow out of
//!   `/proc/<worker>/environ` and `/mem`, but not a root flow).
//! - `auto` (the default of `orch worker start`): `namespaces` where the
//!   kernel allows it (checked at start by running the sandbox once), else
//!   `none`, said once as a warning.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::sandbox::{self, Plan};

/// The isolation a worker is asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Isolation {
    /// The strongest mode this host allows.
    Auto,
    /// Mount, PID and user namespaces (Linux; no root needed where the
    /// kernel allows unprivileged user namespaces).
    Namespaces,
    /// None: flows run beside the worker as its user.
    #[default]
    None,
}

impl Isolation {
    /// The modes' names, as `--isolation` takes them.
    pub const NAMES: &'static [&'static str] = &["auto", "namespaces", "none"];
}

impl FromStr for Isolation {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        match name.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "namespaces" => Ok(Self::Namespaces),
            "none" => Ok(Self::None),
            other => Err(format!(
                "unknown isolation {other:?}: use one of {}",
                Self::NAMES.join(", ")
            )),
        }
    }
}

impl std::fmt::Display for Isolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Namespaces => "namespaces",
            Self::None => "none",
        })
    }
}

/// The small binary that only sets sandboxes up (`crates/orch-cli/src/bin/orch-sandbox.rs`).
pub(crate) const SANDBOX_BINARY: &str = "orch-sandbox";

/// How the worker starts flows once the mode is settled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Sandbox {
    /// The program that sets the sandbox up: `orch-sandbox`, or `orch`
    /// with its hidden `__sandbox` subcommand.
    pub program: PathBuf,
    /// Whether `program` needs the `__sandbox` subcommand first.
    pub subcommand: bool,
    /// What flows must not see.
    pub hide: Vec<PathBuf>,
}

impl Sandbox {
    /// The sandbox of `orch` binary `orch`: the small `orch-sandbox` beside
    /// it when there is one (it starts in well under a millisecond, where
    /// the whole `orch` binary takes several), else `orch __sandbox`.
    pub(crate) fn for_binary(orch: PathBuf, hide: Vec<PathBuf>) -> Sandbox {
        let small = orch.with_file_name(SANDBOX_BINARY);
        if small.is_file() {
            Sandbox {
                program: small,
                subcommand: false,
                hide,
            }
        } else {
            Sandbox {
                program: orch,
                subcommand: true,
                hide,
            }
        }
    }

    /// The program and arguments that run `command` in the sandbox, with
    /// `keep` (files under hidden folders the run needs) put back.
    pub(crate) fn wrap(&self, command: Vec<OsString>, keep: Vec<PathBuf>) -> Vec<OsString> {
        let plan = Plan {
            hide: self.hide.clone(),
            keep,
            probe: false,
            command,
        };
        let mut wrapped: Vec<OsString> = Vec::new();
        if self.subcommand {
            wrapped.push(sandbox::SUBCOMMAND.into());
        }
        wrapped.extend(plan.to_args());
        wrapped
    }
}

/// Settles `asked` on this host: the sandbox to start flows in, if any, or
/// why the mode asked for cannot be had. Logs the mode in force.
///
/// `program` is the binary with the `__sandbox` subcommand; `hide` what
/// flows must not see.
pub(crate) async fn settle(
    asked: Isolation,
    program: Option<PathBuf>,
    hide: Vec<PathBuf>,
) -> Result<Option<Sandbox>, String> {
    harden_worker();
    if asked == Isolation::None {
        tracing::info!(
            "flow isolation: none (--isolation none): flows run as this worker's user and can \
             read what it can, $ORCH_HOME included"
        );
        return Ok(None);
    }
    let sandbox = match program.map_or_else(std::env::current_exe, Ok) {
        Ok(program) => Sandbox::for_binary(program, hide),
        Err(error) => return unavailable(asked, &format!("cannot find the orch binary: {error}")),
    };
    match probe(&sandbox).await {
        Ok(()) => {
            tracing::info!(
                hidden = ?sandbox.hide,
                sandbox = %sandbox.program.display(),
                "flow isolation: namespaces (mount, PID and user namespaces): flows see neither \
                 these folders nor the worker's processes"
            );
            Ok(Some(sandbox))
        }
        Err(reason) => unavailable(asked, &reason),
    }
}

/// Without a sandbox: an error when it was asked for by name, else the one
/// warning that flows run unisolated.
fn unavailable(asked: Isolation, reason: &str) -> Result<Option<Sandbox>, String> {
    if asked == Isolation::Namespaces {
        return Err(format!(
            "--isolation namespaces is not available on this host: {reason}. Allow user \
             namespaces (sysctl user.max_user_namespaces, kernel.unprivileged_userns_clone), run \
             the worker as root, or start it with --isolation auto or none"
        ));
    }
    tracing::warn!(
        "flow isolation: NONE (no isolation is available on this host: {reason}): flows run as \
         this worker's user and can read $ORCH_HOME (credentials, database) and whatever else \
         it can read; allow user namespaces, or run the worker as root, to isolate them"
    );
    Ok(None)
}

/// Runs the sandbox once with nothing inside it.
async fn probe(sandbox: &Sandbox) -> Result<(), String> {
    let plan = Plan {
        hide: sandbox.hide.clone(),
        probe: true,
        ..Plan::default()
    };
    let mut command = tokio::process::Command::new(&sandbox.program);
    if sandbox.subcommand {
        command.arg(sandbox::SUBCOMMAND);
    }
    let output = command
        .args(plan.to_args())
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|error| format!("cannot run {}: {error}", sandbox.program.display()))?;
    if output.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&output.stderr);
    let said = said.lines().next().unwrap_or("").trim();
    Err(if said.is_empty() {
        format!("the sandbox check exited with {}", output.status)
    } else {
        said.trim_start_matches("orch sandbox: ").to_owned()
    })
}

/// Keeps same-user processes (flows among them) out of the worker's memory
/// and environment (`/proc/<pid>/mem`, `/environ`) and off ptrace.
fn harden_worker() {
    #[cfg(target_os = "linux")]
    if let Err(errno) = nix::sys::prctl::set_dumpable(false) {
        tracing::warn!("cannot make the worker non-dumpable: {errno}");
    }
}

/// Which of `paths` exist, made absolute, nested ones dropped.
pub(crate) fn hidden_paths(paths: impl IntoIterator<Item = PathBuf>) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = paths
        .into_iter()
        .filter_map(|path| path.canonicalize().ok())
        .collect();
    found.sort();
    found.dedup();
    let outer = found.clone();
    found.retain(|path| {
        !outer
            .iter()
            .any(|other| other != path && path.starts_with(other))
    });
    found
}

/// Whether `path` is inside one of `hidden`.
pub(crate) fn is_hidden(path: &Path, hidden: &[PathBuf]) -> bool {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    hidden.iter().any(|dir| path.starts_with(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_by_name_and_say_the_choices() {
        assert_eq!("auto".parse(), Ok(Isolation::Auto));
        assert_eq!(" Namespaces".parse(), Ok(Isolation::Namespaces));
        assert_eq!("none".parse(), Ok(Isolation::None));
        let error = "chroot".parse::<Isolation>().unwrap_err();
        assert!(error.contains("auto, namespaces, none"), "{error}");
        assert_eq!(Isolation::Namespaces.to_string(), "namespaces");
    }

    #[test]
    fn hidden_paths_keep_the_outermost_existing_folders() {
        let home = tempfile::tempdir().unwrap();
        let worker = home.path().join("worker");
        std::fs::create_dir(&worker).unwrap();
        let other = tempfile::tempdir().unwrap();
        let hidden = hidden_paths([
            worker.clone(),
            home.path().to_path_buf(),
            other.path().join("missing"),
            other.path().to_path_buf(),
        ]);
        let mut expected = vec![
            home.path().canonicalize().unwrap(),
            other.path().canonicalize().unwrap(),
        ];
        expected.sort();
        assert_eq!(hidden, expected);
        assert!(is_hidden(&worker.join("flows"), &hidden));
        assert!(!is_hidden(Path::new("/usr/bin"), &hidden));
    }
}
