//! Reading input files (deploy and calendar files, the config file, a
//! secret's value) with a size limit, so that a file that never ends
//! (`/dev/zero`, a FIFO, a device) is refused with a message instead of
//! filling memory.

use std::io::Read;
use std::path::Path;

use orch_core::limits::{MAX_INPUT_FILE_BYTES, input_too_large};

/// Reads `reader` as UTF-8 text, at most [`MAX_INPUT_FILE_BYTES`];
/// `what` names it in the error.
pub fn read_limited(reader: impl Read, what: &str) -> std::io::Result<String> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_INPUT_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() > MAX_INPUT_FILE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            input_too_large(what),
        ));
    }
    String::from_utf8(bytes).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{what} is not UTF-8 text"),
        )
    })
}

/// Reads the file at `path` as [`read_limited`] does.
pub fn read_file(path: &Path) -> std::io::Result<String> {
    read_limited(std::fs::File::open(path)?, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_never_ends_is_refused_with_its_name() {
        let error = read_file(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
        assert_eq!(
            error.to_string(),
            "/dev/zero is larger than 4.0 MiB, the most orch reads from one input file; \
             check that it names the right file"
        );
        assert_eq!(read_limited(&b"x = 1\n"[..], "f").unwrap(), "x = 1\n");
        assert!(read_limited(&[0xff_u8][..], "f").is_err());
    }
}
