//! How results reach stdout: aligned tables for people, stable JSON for programs.

pub mod colour;
pub mod table;
pub mod time;

use std::fmt::Display;
use std::io::{self, Write};

use serde::Serialize;

/// The shape of a read command's output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned tables and lines for people.
    #[default]
    Table,
    /// Pretty-printed JSON for programs (one object per line when streaming).
    Json,
}

/// Writes one line to stdout, reporting a failed write (e.g. a closed pipe) instead of panicking.
pub fn write_line(line: impl Display) -> io::Result<()> {
    writeln!(io::stdout().lock(), "{line}")
}

/// Writes `bytes` to stdout as they are (e.g. a generated script).
pub fn write_raw(bytes: &[u8]) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    stdout.write_all(bytes)?;
    stdout.flush()
}

/// Writes `value` to stdout as pretty-printed JSON.
pub fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    write_line(text)?;
    Ok(())
}

/// Writes `value` to stdout as one line of JSON, for streams of events.
pub fn print_json_line(value: &impl Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string(value)?;
    write_line(text)?;
    Ok(())
}

/// The first 8 characters of an id, for tables.
pub fn short_id(id: &str) -> &str {
    id.char_indices().nth(8).map_or(id, |(end, _)| &id[..end])
}

/// `value`, or `-` when it is empty.
pub fn or_dash(value: &str) -> String {
    if value.is_empty() {
        "-".to_owned()
    } else {
        value.to_owned()
    }
}

/// Writes a line to stdout: `outln!("Created {name}")?`.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::write_line(format_args!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_keep_eight_characters() {
        assert_eq!(short_id("0199a0b2-7c1d-7e55-9f00-1234567890ab"), "0199a0b2");
        assert_eq!(short_id("abc"), "abc");
        assert_eq!(short_id(""), "");
    }
}
