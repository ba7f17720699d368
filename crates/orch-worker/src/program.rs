//! Where a flow's program is: relative to its deployment's folder, or on
//! the flow's own `PATH`.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// The program to execute for `program`: a relative path is taken from
/// `base_dir` when such a file exists there, otherwise it is left as given
/// for the OS to find on `PATH`.
pub(crate) fn resolve_program(program: &str, base_dir: &Path) -> PathBuf {
    let path = Path::new(program);
    if path.is_relative() && !base_dir.as_os_str().is_empty() {
        let candidate = base_dir.join(path);
        if candidate.is_file() {
            return candidate;
        }
    }
    path.to_path_buf()
}

/// Where a bare program name is found on the flow's `PATH` (relative
/// entries taken from `base_dir`, the flow's working directory), as `execvp`
/// would find it: the first executable file. `None` for a path, or a name
/// found nowhere (left for the spawn to fail on).
pub(crate) fn on_path(
    resolved: &Path,
    base_dir: &Path,
    env: &BTreeMap<OsString, OsString>,
) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    if resolved.components().count() != 1 || resolved.is_absolute() {
        return None;
    }
    let path = env.get(OsStr::new("PATH"))?;
    std::env::split_paths(path)
        .map(|dir| base_dir.join(dir).join(resolved))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
}

/// Whether `resolved` names an existing file: a path as it is (relative to
/// `base_dir`), a bare name on the flow's `PATH`.
pub(crate) fn found(resolved: &Path, base_dir: &Path, env: &BTreeMap<OsString, OsString>) -> bool {
    if resolved.components().count() > 1 || resolved.is_absolute() {
        return base_dir.join(resolved).is_file();
    }
    env.get(OsStr::new("PATH")).is_some_and(|path| {
        std::env::split_paths(path).any(|dir| base_dir.join(dir).join(resolved).is_file())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_program_found_in_base_dir() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("flow.sh"), "#!/bin/sh\n").unwrap();
        assert_eq!(
            resolve_program("flow.sh", dir.path()),
            dir.path().join("flow.sh")
        );
        assert_eq!(
            resolve_program("./flow.sh", dir.path()),
            dir.path().join("./flow.sh")
        );
    }

    #[test]
    fn program_missing_from_base_dir_is_left_to_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("python3")).unwrap();
        // A folder of the same name is not a program.
        assert_eq!(
            resolve_program("python3", dir.path()),
            PathBuf::from("python3")
        );
        assert_eq!(resolve_program("sh", Path::new("")), PathBuf::from("sh"));
        assert_eq!(
            resolve_program("/bin/sh", dir.path()),
            PathBuf::from("/bin/sh")
        );
    }

    #[test]
    fn bare_names_are_found_on_the_flows_path() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        std::fs::write(bin.join("plain"), "").unwrap();
        std::fs::write(bin.join("tool"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(bin.join("tool"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let env = [("PATH".into(), "/nonexistent:bin".into())].into();
        // A relative PATH entry is taken from the flow's working directory.
        assert_eq!(
            on_path(Path::new("tool"), dir.path(), &env),
            Some(bin.join("tool"))
        );
        // Not executable: skipped, as execvp would.
        assert_eq!(on_path(Path::new("plain"), dir.path(), &env), None);
        assert_eq!(on_path(Path::new("missing"), dir.path(), &env), None);
        // Paths are left as they are.
        assert_eq!(on_path(Path::new("bin/tool"), dir.path(), &env), None);
        assert_eq!(on_path(Path::new("/bin/sh"), dir.path(), &env), None);
    }
}
