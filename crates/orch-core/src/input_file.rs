//! Reading a file a user names (deploy and calendar files, the config file,
//! TLS certificates and keys, a CA file, a secret's value, a parameters
//! file) with one size limit, [`MAX_INPUT_FILE_BYTES`], so that a file that
//! never ends (`/dev/zero`, a FIFO, a device) is refused with a message
//! instead of filling memory.
//!
//! The one exception to this crate's "no I/O": every part of orch (CLI,
//! server, client, worker, SDK) depends on orch-core, and every one of them
//! must read such files the same way.
//!
//! A regular file larger than the limit is refused before it is read; any
//! other kind of file (a device, a pipe) is read up to the limit and
//! refused past it; a folder is refused with a message saying so.

use std::io::Read;
use std::path::Path;

pub use crate::limits::MAX_INPUT_FILE_BYTES;
use crate::limits::human_bytes;

/// Why an input file cannot be used: its path and what to do, in
/// [`std::fmt::Display`]; [`InputFileError::kind`] tells a missing file
/// from the others.
#[derive(Debug)]
pub struct InputFileError {
    kind: std::io::ErrorKind,
    message: String,
}

impl InputFileError {
    /// The I/O error kind: `NotFound` for a missing file, `InvalidData` for
    /// one too large or not text.
    pub fn kind(&self) -> std::io::ErrorKind {
        self.kind
    }

    fn new(kind: std::io::ErrorKind, message: String) -> InputFileError {
        InputFileError { kind, message }
    }
}

impl std::fmt::Display for InputFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for InputFileError {}

impl From<InputFileError> for std::io::Error {
    fn from(error: InputFileError) -> std::io::Error {
        std::io::Error::new(error.kind, error.message)
    }
}

/// The error of an input (a file or a stream, named by `what`) over
/// [`MAX_INPUT_FILE_BYTES`]: which input, the limit, how to fix it.
pub fn too_large(what: &str) -> String {
    format!(
        "{what} is larger than {}, the most orch reads from one input file; \
         check that it names the right file",
        human_bytes(MAX_INPUT_FILE_BYTES)
    )
}

/// Reads `reader` whole, at most [`MAX_INPUT_FILE_BYTES`]; `what` names it
/// in errors.
///
/// # Errors
///
/// `InvalidData` past the limit, or the reader's own error.
pub fn read_bytes_limited(reader: impl Read, what: &str) -> Result<Vec<u8>, InputFileError> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_INPUT_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| {
            InputFileError::new(error.kind(), format!("cannot read {what}: {error}"))
        })?;
    if bytes.len() > MAX_INPUT_FILE_BYTES {
        return Err(InputFileError::new(
            std::io::ErrorKind::InvalidData,
            too_large(what),
        ));
    }
    Ok(bytes)
}

/// [`read_bytes_limited`], as UTF-8 text.
///
/// # Errors
///
/// As [`read_bytes_limited`], and `InvalidData` for bytes that are not UTF-8.
pub fn read_limited(reader: impl Read, what: &str) -> Result<String, InputFileError> {
    String::from_utf8(read_bytes_limited(reader, what)?).map_err(|_| {
        InputFileError::new(
            std::io::ErrorKind::InvalidData,
            format!("{what} is not UTF-8 text"),
        )
    })
}

/// Reads the file at `path` whole, within [`MAX_INPUT_FILE_BYTES`].
///
/// # Errors
///
/// The file is missing (`NotFound`) or unreadable, a folder, larger than
/// the limit, each saying which file.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>, InputFileError> {
    let what = path.display().to_string();
    let metadata = std::fs::metadata(path).map_err(|error| open_error(&what, &error))?;
    if metadata.is_dir() {
        return Err(InputFileError::new(
            std::io::ErrorKind::InvalidInput,
            format!("{what} is a folder; name a file"),
        ));
    }
    if metadata.is_file() && metadata.len() > MAX_INPUT_FILE_BYTES as u64 {
        return Err(InputFileError::new(
            std::io::ErrorKind::InvalidData,
            too_large(&what),
        ));
    }
    let file = std::fs::File::open(path).map_err(|error| open_error(&what, &error))?;
    read_bytes_limited(file, &what)
}

/// [`read_bytes`], as UTF-8 text.
///
/// # Errors
///
/// As [`read_bytes`], and `InvalidData` for a file that is not UTF-8.
pub fn read_text(path: &Path) -> Result<String, InputFileError> {
    String::from_utf8(read_bytes(path)?).map_err(|_| {
        InputFileError::new(
            std::io::ErrorKind::InvalidData,
            format!("{} is not UTF-8 text", path.display()),
        )
    })
}

fn open_error(what: &str, error: &std::io::Error) -> InputFileError {
    let hint = match error.kind() {
        std::io::ErrorKind::NotFound => " (check the path)",
        std::io::ErrorKind::PermissionDenied => " (check the file's permissions)",
        _ => "",
    };
    InputFileError::new(error.kind(), format!("cannot read {what}: {error}{hint}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_never_ends_is_refused_with_its_name_and_the_limit() {
        let error = read_text(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
        assert_eq!(
            error.to_string(),
            "/dev/zero is larger than 4.0 MiB, the most orch reads from one input file; \
             check that it names the right file"
        );
    }

    #[test]
    fn a_large_regular_file_is_refused_before_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.toml");
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(MAX_INPUT_FILE_BYTES as u64 + 1).unwrap();
        let error = read_bytes(&path).unwrap_err().to_string();
        assert!(error.contains("big.toml is larger than 4.0 MiB"), "{error}");
        std::fs::write(&path, "x = 1\n").unwrap();
        assert_eq!(read_text(&path).unwrap(), "x = 1\n");
    }

    #[test]
    fn folders_missing_files_and_binary_text_say_which_file() {
        let dir = tempfile::tempdir().unwrap();
        let error = read_text(dir.path()).unwrap_err().to_string();
        assert!(error.ends_with("is a folder; name a file"), "{error}");
        let missing = dir.path().join("nope.pem");
        let error = read_text(&missing).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
        assert!(error.to_string().contains("nope.pem"), "{error}");
        assert!(error.to_string().ends_with("(check the path)"), "{error}");
        assert_eq!(read_limited(&b"x = 1\n"[..], "f").unwrap(), "x = 1\n");
        let error = read_limited(&[0xff_u8][..], "stdin").unwrap_err();
        assert_eq!(error.to_string(), "stdin is not UTF-8 text");
    }
}
