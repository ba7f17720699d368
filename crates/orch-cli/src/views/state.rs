//! Run states: the proto enum mapped to [`orch_core::StateType`], and their JSON view.

use orch_core::StateType;
use orch_proto::v1 as proto;
use serde::Serialize;

use crate::output::{colour, time};

/// The domain state type of a proto enum value; `None` when unspecified or unknown.
pub fn state_type(value: i32) -> Option<StateType> {
    match proto::StateType::try_from(value).ok()? {
        proto::StateType::Unspecified => None,
        proto::StateType::Scheduled => Some(StateType::Scheduled),
        proto::StateType::Pending => Some(StateType::Pending),
        proto::StateType::Running => Some(StateType::Running),
        proto::StateType::Completed => Some(StateType::Completed),
        proto::StateType::Failed => Some(StateType::Failed),
        proto::StateType::Crashed => Some(StateType::Crashed),
        proto::StateType::Cancelling => Some(StateType::Cancelling),
        proto::StateType::Cancelled => Some(StateType::Cancelled),
        proto::StateType::Paused => Some(StateType::Paused),
    }
}

/// One state of a run.
#[derive(Debug, Clone, Serialize)]
pub struct StateView {
    /// The type, e.g. `COMPLETED`; `UNKNOWN` if the server sent none.
    #[serde(rename = "type")]
    pub type_name: String,
    /// The display name, e.g. `Late` or `Completed`.
    pub name: String,
    /// Why the run entered it; empty if no reason was given.
    pub message: String,
    /// When it was entered (RFC 3339).
    pub timestamp: Option<String>,
    /// The type, for colours and decisions.
    #[serde(skip)]
    pub state_type: Option<StateType>,
    /// When it was entered, in microseconds since the epoch.
    #[serde(skip)]
    pub timestamp_micros: i64,
}

impl StateView {
    /// The view of `state`; a run without a state shows as `Unknown`.
    pub fn from_proto(state: Option<&proto::State>) -> Self {
        let Some(state) = state else {
            return Self {
                type_name: "UNKNOWN".to_owned(),
                name: "Unknown".to_owned(),
                message: String::new(),
                timestamp: None,
                state_type: None,
                timestamp_micros: 0,
            };
        };
        let state_type = state_type(state.r#type);
        let name = match (&state.name, state_type) {
            (name, _) if !name.is_empty() => name.clone(),
            (_, Some(state_type)) => state_type.to_string(),
            (_, None) => "Unknown".to_owned(),
        };
        Self {
            type_name: state_type.map_or("UNKNOWN", StateType::as_str).to_owned(),
            name,
            message: state.message.clone(),
            timestamp: time::rfc3339(state.timestamp_micros),
            state_type,
            timestamp_micros: state.timestamp_micros,
        }
    }

    /// Whether the run can no longer change (Completed, Failed, Crashed, Cancelled).
    pub fn is_terminal(&self) -> bool {
        self.state_type.is_some_and(StateType::is_terminal)
    }

    /// Whether the run ended well.
    pub fn is_completed(&self) -> bool {
        self.state_type == Some(StateType::Completed)
    }

    /// The colour of the state's name.
    pub fn colour(&self) -> Option<colour::Colour> {
        colour::for_state(self.state_type, &self.name)
    }

    /// The name, coloured for a terminal.
    pub fn painted_name(&self) -> String {
        colour::paint(&self.name, self.colour())
    }

    /// `Name` or `Name (message)` on one line, the name coloured.
    pub fn painted_summary(&self) -> String {
        let message = self.message_on_one_line();
        if message.is_empty() {
            self.painted_name()
        } else {
            format!("{} ({message})", self.painted_name())
        }
    }

    /// The message with its lines joined by spaces.
    pub fn message_on_one_line(&self) -> String {
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
    use super::*;

    #[test]
    fn named_states_keep_their_name_and_type() {
        let late = proto::State {
            r#type: proto::StateType::Scheduled as i32,
            name: "Late".to_owned(),
            message: String::new(),
            timestamp_micros: 0,
        };
        let view = StateView::from_proto(Some(&late));
        assert_eq!(view.name, "Late");
        assert_eq!(view.type_name, "SCHEDULED");
        assert!(!view.is_terminal());
    }

    #[test]
    fn summaries_fit_on_one_line() {
        let failed = proto::State {
            r#type: proto::StateType::Failed as i32,
            name: "Failed".to_owned(),
            message: "exit code 3; last stderr lines:\nno feed\n".to_owned(),
            timestamp_micros: 0,
        };
        assert_eq!(
            StateView::from_proto(Some(&failed)).message_on_one_line(),
            "exit code 3; last stderr lines: no feed"
        );
    }

    #[test]
    fn a_missing_name_falls_back_to_the_type() {
        let completed = proto::State {
            r#type: proto::StateType::Completed as i32,
            ..Default::default()
        };
        let view = StateView::from_proto(Some(&completed));
        assert_eq!(view.name, "Completed");
        assert!(view.is_completed() && view.is_terminal());
        assert_eq!(StateView::from_proto(None).type_name, "UNKNOWN");
    }
}
