//! The crate's single error type.

use crate::state::StateType;
use crate::suggest::{close_matches, did_you_mean};

/// Result alias used throughout orch-core.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong in orch's domain rules.
///
/// Every message says what was wrong, where, and how to fix it, so callers
/// can show it to a user as is.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum Error {
    /// A run was asked to move between two states that the state machine
    /// does not connect.
    #[error("cannot move the run from {from} to {to}: {reason}")]
    InvalidTransition {
        /// The run's current state type.
        from: StateType,
        /// The proposed state type.
        to: StateType,
        /// A sentence explaining why the move is refused.
        reason: String,
    },

    /// A new run was proposed with a state it cannot start in.
    #[error("cannot create a run in state {to}: {reason}")]
    InvalidInitialState {
        /// The proposed first state type.
        to: StateType,
        /// A sentence explaining why the state is refused.
        reason: String,
    },

    /// A flow, deployment, work pool or schedule name breaks the naming rule.
    #[error("invalid {kind} name {name:?}: it {reason}")]
    InvalidName {
        /// What the name is for, e.g. `"work pool"`.
        kind: String,
        /// The name as given.
        name: String,
        /// Which rule it breaks and what is allowed.
        reason: String,
    },

    /// A `--param KEY=VALUE` argument could not be understood.
    #[error("invalid --param {arg:?}: {reason} (expected KEY=VALUE, e.g. --param force=true)")]
    InvalidParam {
        /// The argument as given on the command line.
        arg: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The `--params` JSON could not be understood.
    #[error(
        "invalid --params: {reason} (expected a JSON object, e.g. --params '{{\"force\": true}}')"
    )]
    InvalidParams {
        /// What is wrong with it.
        reason: String,
    },

    /// A deployment file (`deploy/orch.toml`) is malformed or inconsistent.
    ///
    /// Displays as `path:line:column: message`, leaving out the parts that
    /// are unknown.
    #[error("{}", deploy_file_location(.path, *.line, *.column, .message))]
    DeployFile {
        /// The file's path, as given by the caller.
        path: String,
        /// 1-based line of the offending text, when known.
        line: Option<usize>,
        /// 1-based column (in characters) of the offending text, when known.
        column: Option<usize>,
        /// What is wrong and how to fix it, on one line.
        message: String,
    },

    /// A schedule's cron expression, time zone, interval, anchor or
    /// recurrence rule is invalid. `message` names the field, the value,
    /// what is wrong and an example of a valid value.
    #[error("{message}")]
    InvalidSchedule {
        /// The offending key: `"cron"`, `"timezone"`, `"interval_seconds"`,
        /// `"anchor"` or `"rrule"`.
        field: &'static str,
        /// What is wrong and how to fix it, on one line.
        message: String,
    },

    /// A calendar is unknown, or a calendar's date, time, zone or day of
    /// the week is malformed.
    #[error("{message}")]
    InvalidCalendar {
        /// What is wrong and how to fix it, on one line.
        message: String,
    },

    /// An artifact is malformed or too large.
    #[error("{message}")]
    InvalidArtifact {
        /// What is wrong and how to fix it, on one line.
        message: String,
    },

    /// A deployment setting has a value outside its choices.
    #[error("invalid `{key}`: {message}")]
    InvalidSetting {
        /// The setting's key, e.g. `"catch_up"`.
        key: String,
        /// What is wrong, with the valid choices.
        message: String,
    },

    /// A state type name was not recognised.
    #[error(
        "unknown state type {0:?}{hint}; expected one of {valid}",
        hint = unknown_state_hint(.0),
        valid = valid_state_types()
    )]
    UnknownStateType(String),

    /// A value is larger than orch's limit for it (see [`crate::limits`]).
    #[error("{0}")]
    TooLarge(String),

    /// A state filter named neither a state type nor a state name.
    #[error("unknown state \"{0}\": use one of {valid}", valid = valid_state_filters())]
    UnknownState(String),
}

fn valid_state_filters() -> String {
    let mut valid: Vec<&str> = StateType::ALL.iter().map(|k| k.display_name()).collect();
    valid.extend([
        crate::state::names::LATE,
        crate::state::names::AWAITING_RETRY,
        crate::state::names::RETRYING,
    ]);
    valid.join(", ")
}

fn deploy_file_location(
    path: &str,
    line: Option<usize>,
    column: Option<usize>,
    message: &str,
) -> String {
    let mut out = path.to_owned();
    if let Some(line) = line {
        out.push_str(&format!(":{line}"));
        if let Some(column) = column {
            out.push_str(&format!(":{column}"));
        }
    }
    out.push_str(": ");
    out.push_str(message);
    out
}

fn unknown_state_hint(given: &str) -> String {
    did_you_mean(&close_matches(
        given,
        StateType::ALL.iter().map(|t| t.display_name()),
    ))
}

fn valid_state_types() -> String {
    StateType::ALL
        .iter()
        .map(|t| t.display_name())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deploy_error(line: Option<usize>, column: Option<usize>) -> String {
        Error::DeployFile {
            path: "deploy/orch.toml".into(),
            line,
            column,
            message: "bad".into(),
        }
        .to_string()
    }

    #[test]
    fn deploy_file_error_shows_every_known_part_of_the_location() {
        assert_eq!(deploy_error(Some(3), Some(7)), "deploy/orch.toml:3:7: bad");
        assert_eq!(deploy_error(Some(3), None), "deploy/orch.toml:3: bad");
        assert_eq!(deploy_error(None, None), "deploy/orch.toml: bad");
        // A column without a line means nothing; it is left out.
        assert_eq!(deploy_error(None, Some(7)), "deploy/orch.toml: bad");
    }

    #[test]
    fn invalid_param_message_shows_the_expected_form() {
        let message = Error::InvalidParam {
            arg: "force".into(),
            reason: "there is no '='".into(),
        }
        .to_string();
        assert_eq!(
            message,
            "invalid --param \"force\": there is no '=' (expected KEY=VALUE, e.g. --param force=true)"
        );
    }

    #[test]
    fn invalid_params_message_shows_an_example() {
        let message = Error::InvalidParams {
            reason: "it is an array".into(),
        }
        .to_string();
        assert_eq!(
            message,
            "invalid --params: it is an array (expected a JSON object, e.g. --params '{\"force\": true}')"
        );
    }

    #[test]
    fn unknown_state_type_lists_valid_values_and_suggests_the_closest() {
        let message = Error::UnknownStateType("runing".into()).to_string();
        assert_eq!(
            message,
            "unknown state type \"runing\" (did you mean \"Running\"?); expected one of \
             Scheduled, Pending, Running, Completed, Failed, Crashed, Cancelling, Cancelled, Paused"
        );
    }

    #[test]
    fn invalid_transition_names_both_states_and_the_reason() {
        let message = Error::InvalidTransition {
            from: StateType::Completed,
            to: StateType::Running,
            reason: "the run is already Completed, a terminal state".into(),
        }
        .to_string();
        assert_eq!(
            message,
            "cannot move the run from Completed to Running: \
             the run is already Completed, a terminal state"
        );
    }
}
