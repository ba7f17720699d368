//! Run state types, the names of states that sit on them, and the rules for
//! moving a run from one state to another.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::suggest::join_prose;

/// The type of a run's state.
///
/// A state also carries a display name, which is the type's own name or one
/// of the named states in [`names`] (e.g. a `Late` run is `Scheduled`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum StateType {
    /// Waiting for its start time.
    Scheduled,
    /// Claimed by a worker, not yet started.
    Pending,
    /// Its process is running.
    Running,
    /// Finished successfully.
    Completed,
    /// Finished with an error raised by the flow itself.
    Failed,
    /// Stopped unexpectedly: the worker or its process died.
    Crashed,
    /// Cancellation was requested and is in progress.
    Cancelling,
    /// Cancelled before it could finish.
    Cancelled,
    /// Suspended, waiting to be resumed.
    Paused,
}

impl StateType {
    /// Every state type, in lifecycle order.
    pub const ALL: [StateType; 9] = [
        StateType::Scheduled,
        StateType::Pending,
        StateType::Running,
        StateType::Completed,
        StateType::Failed,
        StateType::Crashed,
        StateType::Cancelling,
        StateType::Cancelled,
        StateType::Paused,
    ];

    /// The states of a run that holds a worker and a concurrency slot:
    /// claimed, running, or being cancelled. Every count of "runs in flight"
    /// (pool, deployment and worker limits, slot release) uses this set.
    pub const IN_FLIGHT: &'static [StateType] = &[
        StateType::Pending,
        StateType::Running,
        StateType::Cancelling,
    ];

    /// Whether a run in this state is in flight ([`StateType::IN_FLIGHT`]).
    pub fn is_in_flight(self) -> bool {
        StateType::IN_FLIGHT.contains(&self)
    }

    /// The SQL condition `column IN ('PENDING', 'RUNNING', 'CANCELLING')`:
    /// `column` holds a state type as stored ([`StateType::as_str`]) and is
    /// one of [`StateType::IN_FLIGHT`].
    pub fn in_flight_sql(column: &str) -> String {
        sql_in(column, StateType::IN_FLIGHT)
    }

    /// Whether a run in this state is finished for good: no transition
    /// leaves a terminal state.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            StateType::Completed | StateType::Failed | StateType::Crashed | StateType::Cancelled
        )
    }

    /// The upper-case name stored in the database, e.g. `"SCHEDULED"`.
    pub fn as_str(self) -> &'static str {
        match self {
            StateType::Scheduled => "SCHEDULED",
            StateType::Pending => "PENDING",
            StateType::Running => "RUNNING",
            StateType::Completed => "COMPLETED",
            StateType::Failed => "FAILED",
            StateType::Crashed => "CRASHED",
            StateType::Cancelling => "CANCELLING",
            StateType::Cancelled => "CANCELLED",
            StateType::Paused => "PAUSED",
        }
    }

    /// The name shown to people, e.g. `"Scheduled"`; also the default name
    /// of a state of this type.
    pub fn display_name(self) -> &'static str {
        match self {
            StateType::Scheduled => "Scheduled",
            StateType::Pending => "Pending",
            StateType::Running => "Running",
            StateType::Completed => "Completed",
            StateType::Failed => "Failed",
            StateType::Crashed => "Crashed",
            StateType::Cancelling => "Cancelling",
            StateType::Cancelled => "Cancelled",
            StateType::Paused => "Paused",
        }
    }
}

impl fmt::Display for StateType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.display_name())
    }
}

impl FromStr for StateType {
    type Err = Error;

    /// Parses a state type name in any case: `"SCHEDULED"`, `"scheduled"`
    /// and `"Scheduled"` are all [`StateType::Scheduled`].
    fn from_str(s: &str) -> Result<Self> {
        StateType::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| Error::UnknownStateType(s.to_owned()))
    }
}

/// The SQL condition `column IN ('A', 'B')` over the stored names of `types`
/// (`1 = 0` for none, which matches nothing as an empty `IN ()` would).
pub fn sql_in(column: &str, types: &[StateType]) -> String {
    if types.is_empty() {
        return "1 = 0".to_owned();
    }
    let names: Vec<String> = types.iter().map(|t| format!("'{}'", t.as_str())).collect();
    format!("{column} IN ({})", names.join(", "))
}

/// Names of states that sit on a type.
pub mod names {
    /// A [`Scheduled`](super::StateType::Scheduled) run whose start time has passed.
    pub const LATE: &str = "Late";
    /// A [`Scheduled`](super::StateType::Scheduled) run waiting to be retried after a failure.
    pub const AWAITING_RETRY: &str = "AwaitingRetry";
    /// A [`Running`](super::StateType::Running) run on a retry attempt.
    pub const RETRYING: &str = "Retrying";
    /// A [`Scheduled`](super::StateType::Scheduled) run waiting for a free concurrency slot.
    pub const AWAITING_CONCURRENCY_SLOT: &str = "AwaitingConcurrencySlot";
}

/// Which type a state name belongs to, e.g. `"late"` -> `Scheduled`; also
/// accepts type names. Case-insensitive, and ignores `_`, `-` and spaces, so
/// `"awaiting_retry"` is `AwaitingRetry`.
pub fn state_type_of_name(name: &str) -> Option<StateType> {
    const NAMED: [(&str, StateType); 4] = [
        (names::LATE, StateType::Scheduled),
        (names::AWAITING_RETRY, StateType::Scheduled),
        (names::RETRYING, StateType::Running),
        (names::AWAITING_CONCURRENCY_SLOT, StateType::Scheduled),
    ];
    let wanted = normalize(name);
    NAMED
        .into_iter()
        .chain(StateType::ALL.map(|t| (t.display_name(), t)))
        .find(|(candidate, _)| normalize(candidate) == wanted)
        .map(|(_, t)| t)
}

/// A run filter on state: a type (`failed`: `(Some(Failed), None)`) or a
/// state name within a type (`late`: `(Some(Scheduled), Some("late"))`).
/// Empty text filters nothing.
pub fn parse_state_filter(text: &str) -> Result<(Option<StateType>, Option<String>)> {
    if text.is_empty() {
        return Ok((None, None));
    }
    if let Ok(kind) = text.parse::<StateType>() {
        return Ok((Some(kind), None));
    }
    match state_type_of_name(text) {
        Some(kind) => Ok((Some(kind), Some(text.to_string()))),
        None => Err(Error::UnknownState(text.to_string())),
    }
}

fn normalize(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The state types a run may move to from `from` (`None` for a new run).
pub fn allowed_transitions(from: Option<StateType>) -> &'static [StateType] {
    use StateType::*;
    match from {
        None => &[Scheduled, Pending],
        Some(Scheduled) => &[Scheduled, Pending, Cancelled],
        Some(Pending) => &[Running, Failed, Crashed, Cancelling, Cancelled, Scheduled],
        Some(Running) => &[
            Completed, Failed, Crashed, Cancelling, Cancelled, Paused, Scheduled, Running,
        ],
        Some(Cancelling) => &[Cancelled, Completed, Failed, Crashed],
        Some(Paused) => &[Running, Scheduled, Cancelling, Cancelled, Crashed],
        Some(Completed | Failed | Crashed | Cancelled) => &[],
    }
}

/// Validates a proposed transition. `from` is None for a new run.
///
/// # Errors
///
/// [`Error::InvalidInitialState`] when a new run would not start
/// `Scheduled` or `Pending`, and [`Error::InvalidTransition`] when the state
/// machine does not allow the move; both carry a sentence saying why.
pub fn validate_transition(from: Option<StateType>, to: StateType) -> Result<()> {
    if allowed_transitions(from).contains(&to) {
        return Ok(());
    }
    let Some(from) = from else {
        return Err(Error::InvalidInitialState {
            to,
            reason: "a new run must start Scheduled or Pending".to_owned(),
        });
    };
    Err(Error::InvalidTransition {
        from,
        to,
        reason: refusal_reason(from, to),
    })
}

/// Validates the one move outside the state machine: a worker's own final
/// report on a run the lease sweep ended for it (Crashed, or Scheduled to be
/// retried) while the worker was in fact alive. Its report is the truth, so
/// the run may move from there to any terminal state; nothing else.
///
/// # Errors
///
/// [`Error::InvalidTransition`] for any other move.
pub fn validate_lease_correction(from: StateType, to: StateType) -> Result<()> {
    let ended_by_sweep = matches!(from, StateType::Crashed | StateType::Scheduled);
    if ended_by_sweep && to.is_terminal() {
        return Ok(());
    }
    Err(Error::InvalidTransition {
        from,
        to,
        reason: "a worker's late report may only end a run its expired lease left \
                 Crashed or waiting for a retry"
            .to_owned(),
    })
}

/// Why the move `from` -> `to` is refused, as a sentence.
fn refusal_reason(from: StateType, to: StateType) -> String {
    use StateType::*;
    match (from, to) {
        (from, _) if from.is_terminal() => {
            format!("the run is already {from}, a terminal state")
        }
        (Pending, Pending) => "the run is already claimed by a worker".to_owned(),
        (Cancelling, Cancelling) => "the run is already being cancelled".to_owned(),
        (Paused, Paused) => "the run is already Paused".to_owned(),
        (Scheduled, Running) => {
            "a Scheduled run must be claimed by a worker (Pending) before it can run".to_owned()
        }
        (from, _) => {
            let allowed: Vec<String> = allowed_transitions(Some(from))
                .iter()
                .map(|t| t.to_string())
                .collect();
            format!(
                "a {from} run can only move to {}",
                join_prose(&allowed, "or")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use StateType::*;

    #[test]
    fn a_state_filter_is_a_type_a_state_name_or_nothing() {
        assert_eq!(parse_state_filter(""), Ok((None, None)));
        assert_eq!(parse_state_filter("failed"), Ok((Some(Failed), None)));
        assert_eq!(
            parse_state_filter("late"),
            Ok((Some(Scheduled), Some("late".to_string())))
        );
        assert_eq!(
            parse_state_filter("AwaitingRetry"),
            Ok((Some(Scheduled), Some("AwaitingRetry".to_string())))
        );
        let error = parse_state_filter("lately").unwrap_err().to_string();
        assert!(
            error.starts_with("unknown state \"lately\": use one of Scheduled, ")
                && error.contains("Late, AwaitingRetry, Retrying"),
            "{error}"
        );
    }

    #[test]
    fn in_flight_states_are_claimed_running_or_cancelling() {
        let in_flight: Vec<StateType> = StateType::ALL
            .into_iter()
            .filter(|t| t.is_in_flight())
            .collect();
        assert_eq!(in_flight, [Pending, Running, Cancelling]);
        assert!(StateType::IN_FLIGHT.iter().all(|t| !t.is_terminal()));
    }

    #[test]
    fn the_in_flight_sql_condition_lists_the_stored_names() {
        assert_eq!(
            StateType::in_flight_sql("r.state_type"),
            "r.state_type IN ('PENDING', 'RUNNING', 'CANCELLING')"
        );
        assert_eq!(sql_in("state_type", &[Failed]), "state_type IN ('FAILED')");
        assert_eq!(sql_in("state_type", &[]), "1 = 0");
    }

    #[test]
    fn a_lease_correction_only_ends_a_run_the_sweep_ended() {
        for to in StateType::ALL {
            let allowed = to.is_terminal();
            assert_eq!(
                validate_lease_correction(Crashed, to).is_ok(),
                allowed,
                "{to:?}"
            );
            assert_eq!(
                validate_lease_correction(Scheduled, to).is_ok(),
                allowed,
                "{to:?}"
            );
            assert!(validate_lease_correction(Running, to).is_err(), "{to:?}");
            assert!(validate_lease_correction(Completed, to).is_err(), "{to:?}");
        }
    }

    #[test]
    fn terminal_states_are_exactly_the_four_finished_ones() {
        let terminal: Vec<StateType> = StateType::ALL
            .into_iter()
            .filter(|t| t.is_terminal())
            .collect();
        assert_eq!(terminal, [Completed, Failed, Crashed, Cancelled]);
    }

    #[test]
    fn database_and_display_names_match_the_variant() {
        for t in StateType::ALL {
            assert_eq!(t.as_str(), format!("{t:?}").to_uppercase());
            assert_eq!(t.display_name(), format!("{t:?}"));
            assert_eq!(t.to_string(), t.display_name());
        }
    }

    #[test]
    fn from_str_accepts_any_case_of_every_type() {
        for t in StateType::ALL {
            assert_eq!(t.as_str().parse::<StateType>(), Ok(t));
            assert_eq!(t.display_name().parse::<StateType>(), Ok(t));
            assert_eq!(t.as_str().to_lowercase().parse::<StateType>(), Ok(t));
        }
    }

    #[test]
    fn from_str_rejects_unknown_names() {
        assert_eq!(
            "Late".parse::<StateType>(),
            Err(Error::UnknownStateType("Late".into()))
        );
        assert_eq!(
            "".parse::<StateType>(),
            Err(Error::UnknownStateType(String::new()))
        );
    }

    #[test]
    fn state_names_map_to_their_types() {
        assert_eq!(state_type_of_name("Late"), Some(Scheduled));
        assert_eq!(state_type_of_name("late"), Some(Scheduled));
        assert_eq!(state_type_of_name("AWAITINGRETRY"), Some(Scheduled));
        assert_eq!(state_type_of_name("awaiting_retry"), Some(Scheduled));
        assert_eq!(state_type_of_name("Retrying"), Some(Running));
        assert_eq!(
            state_type_of_name("Awaiting Concurrency Slot"),
            Some(Scheduled)
        );
        assert_eq!(state_type_of_name("Running"), Some(Running));
        assert_eq!(state_type_of_name("cancelled"), Some(Cancelled));
        assert_eq!(state_type_of_name("Lately"), None);
        assert_eq!(state_type_of_name(""), None);
    }

    /// Every (from, to) pair: rows are `from` (None first, then
    /// [`StateType::ALL`]), columns are `to` in [`StateType::ALL`] order:
    /// Scheduled, Pending, Running, Completed, Failed, Crashed, Cancelling,
    /// Cancelled, Paused. `x` = allowed, `.` = refused.
    const TABLE: [(Option<StateType>, &str); 10] = [
        (None, "xx......."),
        (Some(Scheduled), "xx.....x."),
        (Some(Pending), "x.x.xxxx."),
        (Some(Running), "x.xxxxxxx"),
        (Some(Completed), "........."),
        (Some(Failed), "........."),
        (Some(Crashed), "........."),
        (Some(Cancelling), "...xxx.x."),
        (Some(Cancelled), "........."),
        (Some(Paused), "x.x..xxx."),
    ];

    #[test]
    fn transition_table_is_exhaustive_and_enforced() {
        let mut checked = 0;
        for (from, row) in TABLE {
            for (to, cell) in StateType::ALL.into_iter().zip(row.chars()) {
                let result = validate_transition(from, to);
                match cell {
                    'x' => assert_eq!(result, Ok(()), "{from:?} -> {to:?} should be allowed"),
                    _ => assert!(result.is_err(), "{from:?} -> {to:?} should be refused"),
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 90);
    }

    #[test]
    fn new_runs_start_scheduled_or_pending_only() {
        assert_eq!(
            validate_transition(None, Running),
            Err(Error::InvalidInitialState {
                to: Running,
                reason: "a new run must start Scheduled or Pending".into(),
            })
        );
    }

    #[test]
    fn a_second_claim_is_refused_as_already_claimed() {
        let Err(Error::InvalidTransition { reason, .. }) =
            validate_transition(Some(Pending), Pending)
        else {
            panic!("Pending -> Pending must be refused");
        };
        assert!(reason.contains("already claimed"), "{reason}");
    }

    #[test]
    fn leaving_a_terminal_state_names_the_state() {
        for from in StateType::ALL.into_iter().filter(|t| t.is_terminal()) {
            for to in StateType::ALL {
                assert_eq!(
                    validate_transition(Some(from), to),
                    Err(Error::InvalidTransition {
                        from,
                        to,
                        reason: format!("the run is already {from}, a terminal state"),
                    })
                );
            }
        }
    }

    #[test]
    fn other_refusals_list_where_the_run_can_go() {
        assert_eq!(
            validate_transition(Some(Cancelling), Running),
            Err(Error::InvalidTransition {
                from: Cancelling,
                to: Running,
                reason: "a Cancelling run can only move to Cancelled, Completed, Failed or Crashed"
                    .into(),
            })
        );
        let Err(Error::InvalidTransition { reason, .. }) =
            validate_transition(Some(Scheduled), Running)
        else {
            panic!("Scheduled -> Running must be refused");
        };
        assert!(reason.contains("claimed by a worker (Pending)"), "{reason}");
    }
}
