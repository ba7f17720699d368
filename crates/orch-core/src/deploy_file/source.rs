//! Positions in a deployment file's text, and turning problems found in it
//! into [`Error::DeployFile`].

use crate::error::Error;
use crate::suggest::{close_matches, did_you_mean};

/// A deployment file being parsed: its path (for messages) and its text.
#[derive(Debug, Clone, Copy)]
pub(super) struct Source<'a> {
    path: &'a str,
    text: &'a str,
}

impl<'a> Source<'a> {
    /// Wraps the file at `path` (used only in messages) whose content is `text`.
    pub(super) fn new(path: &'a str, text: &'a str) -> Self {
        Self { path, text }
    }

    /// An error at byte `offset` of the text, or for the whole file when
    /// `offset` is `None`.
    pub(super) fn error(&self, offset: Option<usize>, message: impl Into<String>) -> Error {
        let (line, column) = match offset {
            Some(offset) => {
                let (line, column) = self.line_column(offset);
                (Some(line), Some(column))
            }
            None => (None, None),
        };
        Error::DeployFile {
            path: self.path.to_owned(),
            line,
            column,
            message: message.into(),
        }
    }

    /// Converts a TOML syntax or shape error, keeping its reason but not its
    /// multi-line snippet.
    pub(super) fn toml_error(&self, err: &toml::de::Error) -> Error {
        let offset = err.span().map(|span| span.start);
        let mut message = clean_toml_message(err.message());
        let is_value_error =
            message.starts_with("invalid type") || message.starts_with("invalid value");
        if let Some(key) = offset
            .filter(|_| is_value_error)
            .and_then(|o| self.key_before(o))
        {
            message = format!("`{key}`: {message}");
        }
        self.error(offset, message)
    }

    /// The key assigned on the same line just before byte `offset`, as in
    /// `key = <offset>` or `{ key = <offset>`, if that is what precedes it.
    fn key_before(&self, offset: usize) -> Option<&'a str> {
        let line_start = self.text.get(..offset)?.rfind('\n').map_or(0, |i| i + 1);
        let before = self.text[line_start..offset].trim_end().strip_suffix('=')?;
        let before = before.trim_end();
        let is_key_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
        let start = before
            .char_indices()
            .rev()
            .take_while(|&(_, c)| is_key_char(c))
            .last()?
            .0;
        Some(&before[start..])
    }

    /// The 1-based line of byte `offset`.
    pub(super) fn line(&self, offset: usize) -> usize {
        self.line_column(offset).0
    }

    /// The 1-based line and column (counted in characters) of byte `offset`.
    /// Offsets past the end point just after the last character; offsets
    /// inside a multi-byte character point at that character.
    fn line_column(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.text[..offset];
        let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
        let line = before.matches('\n').count() + 1;
        let column = before[line_start..].chars().count() + 1;
        (line, column)
    }
}

/// The kind of a TOML value with its article, for messages: "an integer".
pub(super) fn toml_kind(value: &toml::Value) -> &'static str {
    match value {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a float",
        toml::Value::Boolean(_) => "a boolean",
        toml::Value::Datetime(_) => "a date-time",
        toml::Value::Array(_) => "an array",
        toml::Value::Table(_) => "a table",
    }
}

/// One line of text from toml's reason, with a "did you mean" hint added to
/// unknown-field errors.
fn clean_toml_message(message: &str) -> String {
    let one_line = message
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    match unknown_field_hint(&one_line) {
        Some(hint) => format!("{one_line}{hint}"),
        None => one_line,
    }
}

/// For serde's "unknown field `x`, expected one of `a`, `b`" (or "expected
/// `a`"), the "did you mean" hint naming the closest expected fields.
fn unknown_field_hint(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (field, expected) = rest.split_once('`')?;
    let expected: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    let hint = did_you_mean(&close_matches(field, expected));
    (!hint.is_empty()).then_some(hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position(text: &str, offset: usize) -> (usize, usize) {
        Source::new("f.toml", text).line_column(offset)
    }

    #[test]
    fn positions_are_one_based_lines_and_character_columns() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(position(text, 0), (1, 1));
        assert_eq!(position(text, 4), (1, 5));
        assert_eq!(position(text, 6), (2, 1));
        // 'é' is two bytes but one column.
        assert_eq!(position(text, 10), (2, 4));
    }

    #[test]
    fn positions_past_the_end_or_inside_a_character_are_clamped() {
        assert_eq!(position("ab\n", 99), (2, 1));
        assert_eq!(position("é", 1), (1, 1));
        assert_eq!(position("", 0), (1, 1));
    }

    #[test]
    fn errors_carry_the_path_and_position() {
        let error = Source::new("deploy/orch.toml", "x\ny = 1").error(Some(2), "bad key");
        assert_eq!(error.to_string(), "deploy/orch.toml:2:1: bad key");
        let whole_file = Source::new("deploy/orch.toml", "").error(None, "empty");
        assert_eq!(whole_file.to_string(), "deploy/orch.toml: empty");
    }

    #[test]
    fn the_key_before_a_value_is_found_on_its_line() {
        let text = "a = 1\nretries = \"x\"\np = { force = 1 }\n[t]\n";
        let source = Source::new("f.toml", text);
        assert_eq!(
            source.key_before(text.find("\"x").unwrap()),
            Some("retries")
        );
        assert_eq!(source.key_before(text.find("1 }").unwrap()), Some("force"));
        assert_eq!(source.key_before(text.find("[t]").unwrap()), None);
        assert_eq!(source.key_before(0), None);
    }

    #[test]
    fn toml_messages_become_one_line() {
        assert_eq!(
            clean_toml_message("invalid string\nexpected `\"`\n"),
            "invalid string; expected `\"`"
        );
    }

    #[test]
    fn unknown_fields_get_a_did_you_mean_hint() {
        assert_eq!(
            clean_toml_message("unknown field `entripoint`, expected one of `flow`, `entrypoint`"),
            "unknown field `entripoint`, expected one of `flow`, `entrypoint` \
             (did you mean \"entrypoint\"?)"
        );
        assert_eq!(
            clean_toml_message("unknown field `zzz`, expected `flow`"),
            "unknown field `zzz`, expected `flow`"
        );
    }
}
