//! Landlock rules for one flow (through the maintained `landlock` crate),
//! applied by the sandbox just before it executes the flow's program.
//!
//! Landlock rules *allow* file hierarchies; what no rule covers is denied.
//! To keep a flow out of a few folders (`$ORCH_HOME`, the worker's state,
//! the database) while everything else works as before, the rules allow
//! every entry of the file system except those folders: each entry of `/`,
//! and, for an entry that contains a hidden folder, each entry inside it,
//! down to the hidden folder itself ([`allowed_entries`]). The folders on
//! the way (e.g. `/root` for `/root/.orch`) get no rule of their own: the
//! files they hold when the flow starts are allowed one by one, but a file
//! the flow creates directly in such a folder is not readable to it (see
//! docs/security.md: keep `$ORCH_HOME` out of folders flows write to).
//!
//! Besides files, every Landlock domain keeps the flow from ptracing
//! processes outside it, which is what closes `/proc/<worker>/environ` and
//! `/mem` even to a root flow; from ABI 6 on the rules also scope abstract
//! UNIX sockets and signals to the flow's own processes.

use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, CompatLevel, Compatible, LandlockStatus, PathBeneath, PathFd, Ruleset,
    RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope,
};

/// The newest file-system rights this code knows: ABI 5 (ioctl on devices)
/// added the last ones; ABI 6 and 7 added scopes and audit only.
const FS_ABI: ABI = ABI::V5;
/// The ABI that brought scopes (abstract UNIX sockets, signals).
const SCOPE_ABI: ABI = ABI::V6;

/// What the rules restrict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rules<'a> {
    /// Files: everything but `hide` (and within it only `readable`), plus
    /// the scopes where the kernel has them.
    Files {
        /// What the flow must not see.
        hide: &'a [PathBuf],
        /// Files inside `hide` the flow may still read.
        readable: &'a [PathBuf],
    },
    /// Only the scopes (abstract UNIX sockets, signals): the mount namespace
    /// already hides the files.
    ScopesOnly,
}

/// Restricts this process (and what it executes) by `rules`; returns the
/// kernel's Landlock ABI.
///
/// # Errors
///
/// Why the rules cannot be enforced: Landlock is not built in or not
/// enabled, or (for [`Rules::ScopesOnly`]) the kernel predates scopes.
pub(crate) fn enforce(rules: Rules<'_>) -> Result<i32, String> {
    let status = match rules {
        Rules::Files { hide, readable } => files(hide, readable),
        Rules::ScopesOnly => Ruleset::default()
            .set_compatibility(CompatLevel::HardRequirement)
            .scope(Scope::from_all(SCOPE_ABI))
            .and_then(|ruleset| ruleset.create())
            .and_then(|ruleset| ruleset.restrict_self())
            .map_err(|error| format!("cannot apply Landlock scopes: {error}")),
    }?;
    let abi = match status.landlock {
        LandlockStatus::Available {
            effective_abi,
            kernel_abi,
        } => kernel_abi.unwrap_or(effective_abi as i32),
        LandlockStatus::NotEnabled => {
            return Err(
                "Landlock is built into this kernel but not enabled (add landlock to \
                        the lsm= boot parameter)"
                    .to_owned(),
            );
        }
        LandlockStatus::NotImplemented => {
            return Err(
                "this kernel has no Landlock (Linux 5.13 or later built with \
                        CONFIG_SECURITY_LANDLOCK=y is needed)"
                    .to_owned(),
            );
        }
    };
    if status.ruleset == RulesetStatus::NotEnforced {
        return Err(format!(
            "the Landlock rules were not enforced (kernel ABI {abi})"
        ));
    }
    Ok(abi)
}

/// Drops every capability from this process's bounding set (and the
/// ambient and inheritable ones), so that the program it executes next, even
/// as root, has none: Landlock does not keep a root process with
/// `CAP_SYS_PTRACE` and friends from reading `/proc/<pid>/environ` of a
/// non-dumpable process (the worker).
pub(crate) fn drop_capabilities() -> Result<(), String> {
    use nix::libc;
    // SAFETY: these prctl calls take integers only and change no memory.
    unsafe {
        for capability in 0..64 {
            if libc::prctl(libc::PR_CAPBSET_DROP, capability, 0, 0, 0) != 0 {
                match nix::errno::Errno::last() {
                    // Past the last capability this kernel knows.
                    nix::errno::Errno::EINVAL => break,
                    errno => return Err(format!("cannot drop capability {capability}: {errno}")),
                }
            }
        }
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        );
    }
    Ok(())
}

/// The file rules: every right on what [`allowed_entries`] lists, reading
/// only on `readable`.
fn files(hide: &[PathBuf], readable: &[PathBuf]) -> Result<landlock::RestrictionStatus, String> {
    let all = AccessFs::from_all(FS_ABI);
    let file = AccessFs::from_file(FS_ABI);
    let mut ruleset = Ruleset::default()
        .handle_access(all)
        .and_then(|ruleset| ruleset.scope(Scope::from_all(SCOPE_ABI)))
        .and_then(|ruleset| ruleset.create())
        .map_err(|error| format!("cannot create the Landlock rules: {error}"))?;
    let entries = allowed_entries(Path::new("/"), hide);
    let kept = readable.iter().map(|path| (path.clone(), false));
    for (path, is_dir) in entries.into_iter().chain(kept) {
        let access = match (is_dir, readable.contains(&path)) {
            (_, true) => AccessFs::ReadFile.into(),
            (true, false) => all,
            (false, false) => file,
        };
        // An entry gone since it was listed (or unopenable) is simply not allowed.
        let Ok(fd) = PathFd::new(&path) else { continue };
        ruleset = ruleset
            .add_rule(PathBeneath::new(fd, access))
            .map_err(|error| format!("cannot allow {}: {error}", path.display()))?;
    }
    ruleset
        .restrict_self()
        .map_err(|error| format!("cannot apply the Landlock rules: {error}"))
}

/// The entries under `root` a flow may use, each with whether it is a
/// folder: every entry except the `hide` paths (absolute, canonical) and the
/// folders that contain one, whose own entries are listed instead. Symbolic
/// links are left out: a rule on one would allow its target, which may be
/// hidden (what they point to is reachable through its own entry).
pub(crate) fn allowed_entries(root: &Path, hide: &[PathBuf]) -> Vec<(PathBuf, bool)> {
    let mut allowed = Vec::new();
    if hide.iter().any(|hidden| hidden == root) {
        return allowed;
    }
    let Ok(entries) = std::fs::read_dir(root) else {
        return allowed;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(std::fs::DirEntry::path);
    for entry in entries {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_symlink() || hide.contains(&path) {
            continue;
        }
        if kind.is_dir() && hide.iter().any(|hidden| hidden.starts_with(&path)) {
            allowed.extend(allowed_entries(&path, hide));
        } else {
            allowed.push((path, kind.is_dir()));
        }
    }
    allowed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_but_the_hidden_ones_and_their_parents_is_allowed() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path().canonicalize().unwrap();
        for dir in [
            "usr/bin",
            "home/w/.orch/worker",
            "home/w/project",
            "var/lib/orch",
        ] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        for file in [
            "home/w/.profile",
            "var/lib/orch/orch.db",
            "var/lib/orch/notes",
        ] {
            std::fs::write(root.join(file), "x").unwrap();
        }
        std::os::unix::fs::symlink(root.join("home/w/.orch"), root.join("home/w/link")).unwrap();
        let hide = [root.join("home/w/.orch"), root.join("var/lib/orch/orch.db")];
        let allowed = allowed_entries(&root, &hide);
        let relative: Vec<(String, bool)> = allowed
            .iter()
            .map(|(path, dir)| {
                let path = path.strip_prefix(&root).unwrap();
                (path.display().to_string(), *dir)
            })
            .collect();
        let expected = [
            ("home/w/.profile", false),
            ("home/w/project", true),
            ("usr", true),
            ("var/lib/orch/notes", false),
        ];
        let expected: Vec<(String, bool)> = expected
            .iter()
            .map(|(p, d)| ((*p).to_owned(), *d))
            .collect();
        assert_eq!(relative, expected);
    }

    #[test]
    fn a_hidden_root_allows_nothing() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path().canonicalize().unwrap();
        std::fs::create_dir(root.join("a")).unwrap();
        assert!(allowed_entries(&root, std::slice::from_ref(&root)).is_empty());
    }
}
