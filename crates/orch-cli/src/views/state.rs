//! Run states for people: colours and one-line summaries of the shared state record.

pub use orch_core::records::State as StateView;

use crate::output::colour;

/// How the CLI shows a state.
pub trait StateDisplay {
    /// The colour of the state's name.
    fn colour(&self) -> Option<colour::Colour>;
    /// The name, coloured for a terminal.
    fn painted_name(&self) -> String;
    /// `Name` or `Name (message)` on one line, the name coloured.
    fn painted_summary(&self) -> String;
    /// The message with its lines joined by spaces.
    fn message_on_one_line(&self) -> String;
}

impl StateDisplay for StateView {
    fn colour(&self) -> Option<colour::Colour> {
        colour::for_state(Some(self.kind), &self.name)
    }

    fn painted_name(&self) -> String {
        colour::paint(&self.name, self.colour())
    }

    fn painted_summary(&self) -> String {
        let message = self.message_on_one_line();
        if message.is_empty() {
            self.painted_name()
        } else {
            format!("{} ({message})", self.painted_name())
        }
    }

    fn message_on_one_line(&self) -> String {
        self.message
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use orch_proto::v1 as proto;

    use super::*;

    #[test]
    fn summaries_fit_on_one_line() {
        let failed = proto::State {
            r#type: proto::StateType::Failed as i32,
            name: "Failed".to_owned(),
            message: "exit code 3; last stderr lines:\nno feed\n".to_owned(),
            timestamp_micros: 0,
        };
        assert_eq!(
            orch_proto::runs::state_from_wire(Some(&failed), "run")
                .unwrap()
                .message_on_one_line(),
            "exit code 3; last stderr lines: no feed"
        );
    }
}
