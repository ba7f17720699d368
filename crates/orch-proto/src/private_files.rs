//! Owner-only files and folders: `$ORCH_HOME` (credentials, secret key,
//! database, worker state) is readable by its owner alone, whatever the
//! umask, and an installation made before that rule is tightened at start.
//!
//! Folders get mode 0700 and files 0600 at most: bits are only ever taken
//! away (a 0400 file stays 0400).

use std::io;
use std::path::{Path, PathBuf};

/// Most a private folder's mode may be.
pub const DIR_MODE: u32 = 0o700;
/// Most a private file's mode may be.
pub const FILE_MODE: u32 = 0o600;

/// Takes from `path` every permission bit beyond `most`. Returns whether
/// anything changed; a missing path changes nothing.
///
/// # Errors
///
/// The mode could not be read or set.
pub fn restrict(path: &Path, most: u32) -> io::Result<bool> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let metadata = match std::fs::symlink_metadata(path) {
            Ok(metadata) => metadata,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(error) => return Err(error),
        };
        if metadata.file_type().is_symlink() {
            return Ok(false);
        }
        let mode = metadata.permissions().mode() & 0o7777;
        if mode & !most == 0 {
            return Ok(false);
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & most))?;
        Ok(true)
    }
    #[cfg(not(unix))]
    {
        let _ = (path, most);
        Ok(false)
    }
}

/// Creates `dir` (and its parents) and makes it owner-only.
///
/// # Errors
///
/// The folder could not be created or its mode set.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    restrict(dir, DIR_MODE).map(|_| ())
}

/// Writes `content` to `path` with mode 0600 (also when the file existed).
///
/// # Errors
///
/// The file could not be written.
pub fn write(path: &Path, content: &[u8]) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    let mut file = options.open(path)?;
    restrict(path, FILE_MODE)?;
    io::Write::write_all(&mut file, content)
}

/// Makes `root` and everything under it owner-only (folders 0700, files
/// 0600 at most). Returns the paths that changed; what cannot be changed
/// is logged and skipped.
pub fn tighten_tree(root: &Path) -> Vec<PathBuf> {
    let mut changed = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(path) = pending.pop() {
        let Ok(metadata) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let most = if metadata.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&path) {
                pending.extend(entries.filter_map(Result::ok).map(|entry| entry.path()));
            }
            DIR_MODE
        } else {
            FILE_MODE
        };
        match restrict(&path, most) {
            Ok(true) => changed.push(path),
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "cannot make this file owner-only");
            }
        }
    }
    changed
}

/// [`tighten_tree`] on the orch home folder, with one log line when an
/// existing installation had to be tightened.
pub fn tighten_home(home: &Path) {
    let changed = tighten_tree(home);
    if !changed.is_empty() {
        tracing::warn!(
            home = %home.display(),
            files = changed.len(),
            first = %changed[0].display(),
            "made the orch home folder owner-only (folders 0700, files 0600): it was readable by \
             other users of this machine"
        );
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    fn set(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn a_home_made_world_readable_is_tightened_and_only_bits_are_taken() {
        let home = tempfile::tempdir().unwrap();
        let worker = home.path().join("worker");
        std::fs::create_dir(&worker).unwrap();
        let db = home.path().join("orch.db");
        let key = home.path().join("secret.key");
        let record = worker.join("1.group");
        for file in [&db, &key, &record] {
            std::fs::write(file, "x").unwrap();
        }
        set(home.path(), 0o755);
        set(&worker, 0o775);
        set(&db, 0o644);
        set(&key, 0o400);
        set(&record, 0o666);
        let mut changed = tighten_tree(home.path());
        changed.sort();
        let mut expected = vec![
            home.path().to_path_buf(),
            db.clone(),
            worker.clone(),
            record.clone(),
        ];
        expected.sort();
        assert_eq!(changed, expected);
        assert_eq!(mode(home.path()), 0o700);
        assert_eq!(mode(&worker), 0o700);
        assert_eq!(mode(&db), 0o600);
        assert_eq!(mode(&key), 0o400);
        assert_eq!(mode(&record), 0o600);
        assert!(tighten_tree(home.path()).is_empty());
    }

    #[test]
    fn written_files_are_owner_only_even_when_they_existed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "old").unwrap();
        set(&file, 0o644);
        write(&file, b"new").unwrap();
        assert_eq!(mode(&file), 0o600);
        assert_eq!(std::fs::read(&file).unwrap(), b"new");
        let sub = dir.path().join("a/b");
        create_dir(&sub).unwrap();
        assert_eq!(mode(&sub), 0o700);
    }
}
