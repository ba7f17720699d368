//! How far a flow is kept from the worker's own files and process
//! (`orch worker start --isolation`), and which mode is in force.
//!
//! - `namespaces`: each flow runs through [`crate::sandbox`] in its own mount,
//!   PID and user namespaces: `$ORCH_HOME` and the worker's state folder are
//!   empty to it, and its `/proc` shows its own processes only.
//! - `landlock`: Landlock rules (`confine`) allow the flow every file but
//!   `$ORCH_HOME`, the worker's state and the database, and keep it from
//!   ptracing (so from `/proc/<pid>/environ` of) any process outside its
//!   run; for hosts without (unprivileged) user namespaces.
//! - `none`: the flow runs as the worker's user beside it (the worker is
//!   still made non-dumpable, which keeps an ordinary user's flow out of
//!   `/proc/<worker>/environ` and `/mem`, but not a root flow).
//! - `auto` (the default of `orch worker start`): see [`decide`]: both
//!   namespaces and Landlock scopes where the kernel has them, else the one
//!   it has, else `none`, said once as a warning.
//!
//! `--run-as USER` (a root worker only) runs flows as that user on top of
//! any mode ([`crate::run_as`]).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub use crate::isolation_decide::{Available, Enforced, decide};
use crate::run_as::RunAs;
use crate::sandbox::{self, Plan};

/// The isolation a worker is asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Isolation {
    /// The strongest mode this host allows.
    Auto,
    /// Mount, PID and user namespaces (Linux; no root needed where the
    /// kernel allows unprivileged user namespaces).
    Namespaces,
    /// Landlock rules (Linux 5.13 or later, Landlock enabled).
    Landlock,
    /// None: flows run beside the worker as its user.
    #[default]
    None,
}

impl Isolation {
    /// The modes' names, as `--isolation` takes them.
    pub const NAMES: &'static [&'static str] = &["auto", "namespaces", "landlock", "none"];
}

impl FromStr for Isolation {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        match name.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "namespaces" => Ok(Self::Namespaces),
            "landlock" => Ok(Self::Landlock),
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
            Self::Landlock => "landlock",
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
    /// Whether flows get their own namespaces.
    pub namespaces: bool,
    /// Whether Landlock rules apply (scopes only with namespaces).
    pub landlock: bool,
    /// The user flows run as, if not the worker's.
    pub run_as: Option<RunAs>,
}

impl Sandbox {
    /// The sandbox of `orch` binary `orch`: the small `orch-sandbox` beside
    /// it when there is one (it starts in well under a millisecond, where
    /// the whole `orch` binary takes several), else `orch __sandbox`.
    pub(crate) fn for_binary(orch: PathBuf, hide: Vec<PathBuf>) -> Sandbox {
        let small = orch.with_file_name(SANDBOX_BINARY);
        let (program, subcommand) = if small.is_file() {
            (small, false)
        } else {
            (orch, true)
        };
        Sandbox {
            program,
            subcommand,
            hide,
            namespaces: false,
            landlock: false,
            run_as: None,
        }
    }

    /// This sandbox confining as `enforced` says.
    fn enforcing(mut self, enforced: Enforced) -> Sandbox {
        (self.namespaces, self.landlock) = match enforced {
            Enforced::NamespacesLandlock => (true, true),
            Enforced::Namespaces => (true, false),
            Enforced::Landlock => (false, true),
            Enforced::None => (false, false),
        };
        self
    }

    /// The plan of a run of this sandbox.
    fn plan(&self, command: Vec<OsString>, keep: Vec<PathBuf>, probe: bool) -> Plan {
        Plan {
            namespaces: self.namespaces,
            landlock: self.landlock,
            run_as: if probe { None } else { self.run_as.clone() },
            hide: self.hide.clone(),
            keep,
            probe,
            command,
        }
    }

    /// The program and arguments that run `command` in the sandbox, with
    /// `keep` (files under hidden folders the run needs) put back.
    pub(crate) fn wrap(&self, command: Vec<OsString>, keep: Vec<PathBuf>) -> Vec<OsString> {
        let plan = self.plan(command, keep, false);
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
/// flows must not see; `run_as` the user flows run as, if not the worker's.
pub(crate) async fn settle(
    asked: Isolation,
    program: Option<PathBuf>,
    hide: Vec<PathBuf>,
    run_as: Option<RunAs>,
) -> Result<Option<Sandbox>, String> {
    harden_worker();
    if asked == Isolation::None && run_as.is_none() {
        none_asked();
        return Ok(None);
    }
    let base = match program.map_or_else(std::env::current_exe, Ok) {
        Ok(program) => Sandbox::for_binary(program, hide),
        Err(error) => {
            let reason = format!("cannot find the orch binary: {error}");
            if run_as.is_some() {
                return Err(format!("--run-as needs the sandbox: {reason}"));
            }
            let available = Available {
                namespaces: Err(reason.clone()),
                landlock: Err(reason),
            };
            decide(asked, &available)?;
            say(Enforced::None, &available, &[], Path::new(""));
            return Ok(None);
        }
    };
    let tried = |enforced: Enforced| probe(base.clone().enforcing(enforced));
    let available = Available {
        namespaces: match asked {
            Isolation::Auto | Isolation::Namespaces => tried(Enforced::Namespaces).await.map(drop),
            _ => Err("not tried".to_owned()),
        },
        landlock: match asked {
            Isolation::Auto | Isolation::Landlock => tried(Enforced::Landlock)
                .await
                .and_then(|abi| abi.ok_or_else(|| "the sandbox did not say its ABI".to_owned())),
            _ => Err("not tried".to_owned()),
        },
    };
    let mut enforced = decide(asked, &available)?;
    if enforced == Enforced::NamespacesLandlock
        && let Err(reason) = tried(enforced).await
    {
        tracing::warn!("Landlock scopes cannot be added to the namespaces: {reason}");
        enforced = Enforced::Namespaces;
    }
    let mut sandbox = base.enforcing(enforced);
    if asked == Isolation::None {
        none_asked();
    } else {
        say(enforced, &available, &sandbox.hide, &sandbox.program);
    }
    if enforced == Enforced::None && run_as.is_none() {
        return Ok(None);
    }
    if let Some(user) = &run_as {
        tracing::info!(
            user = %user.name, uid = user.uid, gid = user.gid, groups = ?user.groups,
            home = %user.home.display(),
            "flows run as user {} (--run-as)", user.name
        );
    }
    sandbox.run_as = run_as;
    Ok(Some(sandbox))
}

/// Says that flows are not isolated, as asked.
fn none_asked() {
    tracing::info!(
        "flow isolation: none (--isolation none): flows run as this worker's user (or the \
         --run-as one) and can read what it can, $ORCH_HOME included"
    );
}

/// Logs the confinement in force.
fn say(enforced: Enforced, available: &Available, hidden: &[PathBuf], program: &Path) {
    let program = program.display();
    let landlock = match &available.landlock {
        Ok(abi) => format!("Landlock ABI {abi}"),
        Err(reason) => format!("no Landlock: {reason}"),
    };
    match enforced {
        Enforced::NamespacesLandlock => tracing::info!(
            ?hidden, sandbox = %program,
            "flow isolation: namespaces+landlock (mount, PID and user namespaces; {landlock} \
             scopes): flows see neither these folders nor the worker's processes, and cannot \
             signal or reach abstract UNIX sockets outside their run"
        ),
        Enforced::Namespaces => tracing::info!(
            ?hidden, sandbox = %program,
            "flow isolation: namespaces (mount, PID and user namespaces; {landlock}): flows see \
             neither these folders nor the worker's processes"
        ),
        Enforced::Landlock => {
            let namespaces = match &available.namespaces {
                Err(reason) if reason != "not tried" => format!(" (no namespaces: {reason})"),
                _ => String::new(),
            };
            tracing::info!(
                ?hidden, sandbox = %program,
                "flow isolation: landlock ({landlock} file rules){namespaces}: flows cannot \
                 read, write or list these folders nor read other processes' memory or \
                 environment; a file a flow creates directly in a folder above them is not \
                 readable to it (keep $ORCH_HOME out of the flows' HOME)"
            );
        }
        Enforced::None => {
            let namespaces = available
                .namespaces
                .as_ref()
                .err()
                .map_or("", String::as_str);
            let landlock = available.landlock.as_ref().err().map_or("", String::as_str);
            tracing::warn!(
                "flow isolation: NONE (no isolation is available on this host: namespaces: \
                 {namespaces}; landlock: {landlock}): flows run as this worker's user and can \
                 read $ORCH_HOME (credentials, database) and whatever else it can read; allow \
                 user namespaces, enable Landlock, or run the worker as root, to isolate them"
            );
        }
    }
}

/// Runs the sandbox once with nothing inside it; the Landlock ABI it
/// enforced, if any.
async fn probe(sandbox: Sandbox) -> Result<Option<i32>, String> {
    let plan = sandbox.plan(Vec::new(), Vec::new(), true);
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
        let said = String::from_utf8_lossy(&output.stdout);
        return Ok(said
            .lines()
            .find_map(|line| line.strip_prefix("landlock abi "))
            .and_then(|abi| abi.trim().parse().ok()));
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
        assert!(
            error.contains("auto, namespaces, landlock, none"),
            "{error}"
        );
        assert_eq!("LANDLOCK".parse(), Ok(Isolation::Landlock));
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
