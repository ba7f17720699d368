//! State types between the API enum and [`orch_core::StateType`], written once for
//! the server and every client (CLI, worker, SDK).

use orch_core::StateType;

use crate::v1 as pb;

impl From<StateType> for pb::StateType {
    fn from(kind: StateType) -> pb::StateType {
        match kind {
            StateType::Scheduled => pb::StateType::Scheduled,
            StateType::Pending => pb::StateType::Pending,
            StateType::Running => pb::StateType::Running,
            StateType::Completed => pb::StateType::Completed,
            StateType::Failed => pb::StateType::Failed,
            StateType::Crashed => pb::StateType::Crashed,
            StateType::Cancelling => pb::StateType::Cancelling,
            StateType::Cancelled => pb::StateType::Cancelled,
            StateType::Paused => pb::StateType::Paused,
        }
    }
}

/// The domain state type of an API enum value; `None` when it is unspecified or
/// not a value this build knows.
pub fn state_type(value: i32) -> Option<StateType> {
    match pb::StateType::try_from(value).ok()? {
        pb::StateType::Unspecified => None,
        pb::StateType::Scheduled => Some(StateType::Scheduled),
        pb::StateType::Pending => Some(StateType::Pending),
        pb::StateType::Running => Some(StateType::Running),
        pb::StateType::Completed => Some(StateType::Completed),
        pb::StateType::Failed => Some(StateType::Failed),
        pb::StateType::Crashed => Some(StateType::Crashed),
        pb::StateType::Cancelling => Some(StateType::Cancelling),
        pb::StateType::Cancelled => Some(StateType::Cancelled),
        pb::StateType::Paused => Some(StateType::Paused),
    }
}

/// The API enum value of a domain state type.
pub fn state_type_value(kind: StateType) -> i32 {
    pb::StateType::from(kind) as i32
}

/// The display name of an API state type ("Running", "Completed", ...).
pub fn display_name(kind: pb::StateType) -> &'static str {
    state_type(kind as i32).map_or("Unspecified", StateType::display_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_type_survives_the_round_trip() {
        for kind in StateType::ALL {
            assert_eq!(state_type(state_type_value(kind)), Some(kind));
        }
        assert_eq!(state_type(pb::StateType::Unspecified as i32), None);
        assert_eq!(state_type(999), None);
        assert_eq!(display_name(pb::StateType::Cancelling), "Cancelling");
    }
}
