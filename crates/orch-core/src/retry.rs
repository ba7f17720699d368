//! Flow run retries: whether a failing run is retried, and when.
//!
//! The store asks [`decide`] each time a run would end Failed or Crashed
//! (reported by its worker, or by the lease sweep); the answer is either the
//! reported state, final, or AwaitingRetry (a Scheduled state) due after the
//! deployment's retry delay.

use crate::state::{StateType, names};

/// A deployment's flow retry settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetryPolicy {
    /// Retries allowed after the first attempt.
    pub retries: u32,
    /// Wait before each retry, in seconds.
    pub delay_seconds: u64,
}

/// What becomes of a run reported in some state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryDecision {
    /// The reported state stands.
    Final,
    /// The run waits for retry `attempt` of `of` (AwaitingRetry), due at `at`.
    Retry {
        /// This retry's number, from 1.
        attempt: u32,
        /// Retries allowed.
        of: u32,
        /// When the retry is due (microseconds since the epoch).
        at: i64,
        /// The AwaitingRetry state's message.
        message: String,
    },
}

impl RetryDecision {
    /// The name of the state a retry enters.
    pub const STATE_NAME: &'static str = names::AWAITING_RETRY;
}

/// Whether a run now in `current` and reported `reported` can be retried at
/// all, whatever its policy: only a started run (Pending or Running) that
/// fails (Failed or Crashed). A store need not read the policy otherwise.
pub fn may_retry(current: StateType, reported: StateType) -> bool {
    let failing = matches!(reported, StateType::Failed | StateType::Crashed);
    let active = matches!(current, StateType::Pending | StateType::Running);
    failing && active
}

/// Decides whether a run now in `current` and reported `reported` (with
/// `reported_message`) is retried, at `now` (microseconds).
///
/// `retries_used` counts the retries already granted (AwaitingRetry states in
/// the run's history), not its runs: a run failing before it reaches Running
/// would otherwise be retried forever, even with no retries at all.
///
/// Only a run that was started (Pending or Running) and fails (Failed or
/// Crashed) is retried; a Cancelled or Completed one never is, and neither is
/// one being cancelled.
pub fn decide(
    policy: RetryPolicy,
    retries_used: u32,
    current: StateType,
    reported: StateType,
    reported_message: &str,
    now: i64,
) -> RetryDecision {
    if !may_retry(current, reported) || retries_used >= policy.retries {
        return RetryDecision::Final;
    }
    let attempt = retries_used + 1;
    let delay = i64::try_from(policy.delay_seconds)
        .unwrap_or(i64::MAX)
        .saturating_mul(1_000_000);
    RetryDecision::Retry {
        attempt,
        of: policy.retries,
        at: now.saturating_add(delay),
        message: format!(
            "retry {attempt} of {} in {}s after {}: {reported_message}",
            policy.retries,
            policy.delay_seconds,
            reported.display_name(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use StateType::*;

    const TWO: RetryPolicy = RetryPolicy {
        retries: 2,
        delay_seconds: 30,
    };

    #[test]
    fn a_failing_running_run_with_retries_left_is_retried_after_the_delay() {
        assert_eq!(
            decide(TWO, 0, Running, Failed, "boom", 1_000),
            RetryDecision::Retry {
                attempt: 1,
                of: 2,
                at: 1_000 + 30_000_000,
                message: "retry 1 of 2 in 30s after Failed: boom".into(),
            }
        );
        let RetryDecision::Retry { attempt, .. } = decide(TWO, 1, Pending, Crashed, "", 0) else {
            panic!("a Crashed claim with a retry left is retried");
        };
        assert_eq!(attempt, 2);
    }

    #[test]
    fn retries_used_up_make_the_failure_final() {
        assert_eq!(decide(TWO, 2, Running, Failed, "", 0), RetryDecision::Final);
        assert_eq!(
            decide(RetryPolicy::default(), 0, Running, Crashed, "", 0),
            RetryDecision::Final
        );
    }

    #[test]
    fn only_failures_of_started_runs_are_retried() {
        for reported in StateType::ALL {
            for current in StateType::ALL {
                let retried = matches!(
                    decide(TWO, 0, current, reported, "", 0),
                    RetryDecision::Retry { .. }
                );
                let expected =
                    matches!(reported, Failed | Crashed) && matches!(current, Pending | Running);
                assert_eq!(retried, expected, "{current:?} reported {reported:?}");
            }
        }
    }

    #[test]
    fn a_huge_delay_saturates_instead_of_overflowing() {
        let policy = RetryPolicy {
            retries: 1,
            delay_seconds: u64::MAX,
        };
        let RetryDecision::Retry { at, .. } = decide(policy, 0, Running, Failed, "", 5) else {
            panic!("retried");
        };
        assert_eq!(at, i64::MAX);
    }
}
