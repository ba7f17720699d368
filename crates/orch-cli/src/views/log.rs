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
            self.message.trim_end_matches(['\r', '\n'])
        )
    }
}

#[cfg(test)]
mod tests {
    use orch_proto::v1 as proto;

    use super::*;

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
