//! Which finished runs a bulk deletion takes (`orch flow-run delete --state
//! failed --before 30d`): pure rules, checked before anything is deleted.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::retention::{FINISHED_STATES, parse_duration};
use crate::state::{StateType, parse_state_filter};

/// Runs that ended in `state` more than `older_than` ago.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeleteFilter {
    /// A finished state type.
    pub state: StateType,
    /// How long ago the runs ended, at least.
    pub older_than: Duration,
}

impl DeleteFilter {
    /// Parses `--state` (a finished state type) and `--before` (an age such
    /// as `30d` or `12h`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSetting`] naming the option, what it takes and an example.
    pub fn parse(state: &str, before: &str) -> Result<DeleteFilter> {
        let finished = "completed, failed, crashed or cancelled";
        let bad_state = |message: String| Error::InvalidSetting {
            key: "state".into(),
            message,
        };
        let kind = match parse_state_filter(state).map_err(|error| bad_state(error.to_string()))? {
            (Some(kind), None) if FINISHED_STATES.contains(&kind) => kind,
            (None, None) => {
                return Err(bad_state(format!(
                    "say which finished runs to delete: --state {finished}, e.g. --state failed"
                )));
            }
            _ => {
                return Err(bad_state(format!(
                    "{state:?} is not a finished state: only finished runs can be deleted; use {finished}"
                )));
            }
        };
        let older_than = parse_duration(before).map_err(|error| Error::InvalidSetting {
            key: "before".into(),
            message: format!("{error}; --before is how long ago the runs ended, e.g. 30d"),
        })?;
        Ok(DeleteFilter {
            state: kind,
            older_than,
        })
    }

    /// The newest end time (microseconds) a run may have to be deleted at `now`.
    pub fn cutoff_micros(&self, now_micros: i64) -> i64 {
        let micros = i64::try_from(self.older_than.as_micros()).unwrap_or(i64::MAX);
        now_micros.saturating_sub(micros)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_state_and_an_age_make_a_filter() {
        let filter = DeleteFilter::parse("failed", "30d").unwrap();
        assert_eq!(filter.state, StateType::Failed);
        assert_eq!(filter.older_than, Duration::from_secs(30 * 86_400));
        assert_eq!(
            filter.cutoff_micros(100 * 86_400_000_000),
            70 * 86_400_000_000
        );
        assert_eq!(
            DeleteFilter::parse("Cancelled", "12h").unwrap().state,
            StateType::Cancelled
        );
    }

    #[test]
    fn runs_not_finished_or_a_bad_age_are_refused_with_the_fix() {
        let error = DeleteFilter::parse("running", "30d")
            .unwrap_err()
            .to_string();
        assert!(error.contains("only finished runs"), "{error}");
        let error = DeleteFilter::parse("late", "30d").unwrap_err().to_string();
        assert!(error.contains("not a finished state"), "{error}");
        let error = DeleteFilter::parse("", "30d").unwrap_err().to_string();
        assert!(error.contains("--state failed"), "{error}");
        let error = DeleteFilter::parse("failed", "a month")
            .unwrap_err()
            .to_string();
        assert!(error.contains("e.g. 30d"), "{error}");
        assert!(DeleteFilter::parse("nonsense", "30d").is_err());
    }
}
