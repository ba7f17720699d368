//! Log lines of a run: `HH:MM:SS  [stdout] message` for people, objects for JSON.

use crate::output::time;

pub use orch_proto::json::LogLine as LogLineView;

/// How the CLI shows a log line.
pub trait LogLineDisplay {
    /// `HH:MM:SS  [stdout] message`; SDK lines add their level: `[sdk INFO]`.
    fn line(&self) -> String;
}

impl LogLineDisplay for LogLineView {
    fn line(&self) -> String {
        let source = match &self.level {
            Some(level) if self.stream == "sdk" => format!("{} {level}", self.stream),
            _ => self.stream.clone(),
        };
        format!(
            "{}  [{source}] {}",
            time::clock(self.timestamp_micros),
            escape_controls(self.message.trim_end_matches(['\r', '\n']))
        )
    }
}

/// `text` with every control character but tab shown as an escape (`\e`,
/// `\x07`, `\u{9b}`), so flow output cannot drive the reader's terminal
/// (clear the screen, retitle the window, hide text). `--output json` keeps
/// the text as stored.
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\t') {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\t' => escaped.push(c),
            '\u{1b}' => escaped.push_str("\\e"),
            c if (c as u32) < 0x80 && c.is_control() => {
                escaped.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => escaped.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => escaped.push(c),
        }
    }
    std::borrow::Cow::Owned(escaped)
}

#[cfg(test)]
mod tests {
    use orch_proto::v1 as proto;

    use super::*;

    #[test]
    fn control_sequences_are_shown_not_obeyed() {
        assert_eq!(
            escape_controls("\u{1b}[2J\u{1b}]0;pwned\u{7}done\tok\u{9b}"),
            "\\e[2J\\e]0;pwned\\x07done\tok\\u{9b}"
        );
        assert!(matches!(
            escape_controls("plain text"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn a_line_shows_clock_stream_and_message() {
        let line = LogLineView::from(&proto::LogLine {
            id: 7,
            stream: "stdout".to_owned(),
            level: "INFO".to_owned(),
            message: "hello\n".to_owned(),
            timestamp_micros: 1_700_000_000_000_000,
            ..Default::default()
        });
        let text = line.line();
        assert!(text.ends_with("  [stdout] hello"), "{text}");
        assert_eq!(text.len(), "HH:MM:SS  [stdout] hello".len());
    }
}
