//! The rule for task run state changes.
//!
//! Task runs are reported by the flow's SDK as snapshots (state, attempt,
//! timestamp), batched and possibly resent or delivered out of order. A
//! snapshot replaces the stored one only when it moves the task forward.

use crate::state::StateType;

/// A task run's state as stored or reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskSnapshot {
    /// The state type.
    pub kind: StateType,
    /// The attempt, from 1.
    pub attempt: u32,
    /// When it entered the state (microseconds since the epoch).
    pub timestamp: i64,
}

/// Whether `incoming` replaces `stored` (`None`: the task run is new).
///
/// - an older snapshot (earlier timestamp) never replaces a newer one;
/// - an earlier attempt never replaces a later one;
/// - within one attempt, a finished state is not reopened by an unfinished
///   one (a stale report arriving late with the same timestamp).
///
/// The same snapshot again applies (resending a report is harmless).
pub fn task_snapshot_applies(stored: Option<TaskSnapshot>, incoming: TaskSnapshot) -> bool {
    let Some(stored) = stored else {
        return true;
    };
    if incoming.timestamp < stored.timestamp || incoming.attempt < stored.attempt {
        return false;
    }
    let reopens = incoming.attempt == stored.attempt
        && stored.kind.is_terminal()
        && !incoming.kind.is_terminal();
    !reopens
}

#[cfg(test)]
mod tests {
    use super::*;
    use StateType::*;

    fn snap(kind: StateType, attempt: u32, timestamp: i64) -> TaskSnapshot {
        TaskSnapshot {
            kind,
            attempt,
            timestamp,
        }
    }

    #[test]
    fn a_new_task_run_and_a_newer_snapshot_apply() {
        assert!(task_snapshot_applies(None, snap(Running, 1, 5)));
        assert!(task_snapshot_applies(
            Some(snap(Running, 1, 5)),
            snap(Completed, 1, 9)
        ));
        assert!(task_snapshot_applies(
            Some(snap(Completed, 1, 9)),
            snap(Completed, 1, 9)
        ));
    }

    #[test]
    fn an_older_snapshot_or_attempt_is_ignored() {
        assert!(!task_snapshot_applies(
            Some(snap(Completed, 1, 9)),
            snap(Running, 1, 5)
        ));
        assert!(!task_snapshot_applies(
            Some(snap(Running, 2, 9)),
            snap(Failed, 1, 10)
        ));
    }

    #[test]
    fn a_retry_reopens_a_failed_attempt_but_nothing_reopens_it_within_the_attempt() {
        assert!(task_snapshot_applies(
            Some(snap(Failed, 1, 9)),
            snap(Running, 2, 10)
        ));
        assert!(!task_snapshot_applies(
            Some(snap(Failed, 1, 9)),
            snap(Running, 1, 10)
        ));
    }
}
