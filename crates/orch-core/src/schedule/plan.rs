//! Which slots the scheduler creates runs for on one pass over one schedule.

use chrono::{DateTime, TimeDelta, Utc};

use super::Schedule;
use crate::policy::{RunPolicy, triage};

/// How far ahead each schedule is kept filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Horizon {
    /// At least this many future runs...
    pub min_runs: usize,
    /// ...and at least this far ahead...
    pub min_ahead: TimeDelta,
    /// ...but never more than this many future runs.
    pub max_runs: usize,
    /// Slots missed longer ago than this are never replayed.
    pub max_lookback: TimeDelta,
}

impl Default for Horizon {
    /// At least 3 runs and an hour ahead, at most 100 runs; replay at most 7 days.
    fn default() -> Self {
        Horizon {
            min_runs: 3,
            min_ahead: TimeDelta::hours(1),
            max_runs: 100,
            max_lookback: TimeDelta::days(7),
        }
    }
}

/// The slots to create runs for, and how far the schedule is then filled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotPlan {
    /// Slot times, oldest first: missed slots the catch-up policy keeps,
    /// then future slots not created yet.
    pub slots: Vec<DateTime<Utc>>,
    /// The schedule is filled up to here once they exist.
    pub filled_until: DateTime<Utc>,
}

/// Plans one pass over `schedule` at `now`, when runs already exist for its
/// slots up to `filled_until` (`None`: none yet, start from now).
///
/// Slots between `filled_until` and `now` were missed (the server was down):
/// the deployment's catch-up policy and `max_lateness_seconds` decide which
/// still get a run (see [`triage`]). Future slots are filled up to the
/// [`Horizon`].
pub fn plan_slots(
    schedule: &Schedule,
    policy: &RunPolicy,
    now: DateTime<Utc>,
    filled_until: Option<DateTime<Utc>>,
    late_after: TimeDelta,
    horizon: &Horizon,
) -> SlotPlan {
    let mut slots = Vec::new();
    if let Some(filled) = filled_until.filter(|filled| *filled < now) {
        let from = filled.max(now - horizon.max_lookback);
        let missed = schedule.fire_times_between(from, now, horizon.max_runs);
        let due: Vec<i64> = missed.iter().map(DateTime::timestamp_micros).collect();
        let verdicts = triage(
            policy,
            &due,
            now.timestamp_micros(),
            late_after.num_microseconds().unwrap_or(i64::MAX),
        );
        slots.extend(
            missed
                .into_iter()
                .zip(verdicts)
                .filter(|(_, verdict)| verdict.is_none())
                .map(|(slot, _)| slot),
        );
    }
    let mut future = Vec::new();
    let mut cursor = now;
    while future.len() < horizon.max_runs {
        let Some(next) = schedule.next_after(cursor) else {
            break;
        };
        if future.len() >= horizon.min_runs && next > now + horizon.min_ahead {
            break;
        }
        future.push(next);
        cursor = next;
    }
    let filled_until = filled_until.unwrap_or(now).max(now);
    let last = future.last().copied().unwrap_or(now).max(filled_until);
    slots.extend(future.into_iter().filter(|slot| *slot > filled_until));
    SlotPlan {
        slots,
        filled_until: last,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::CatchUp;
    use crate::schedule::tests::{cron, utc};

    fn plan(catch_up: CatchUp, filled: Option<&str>, now: &str) -> SlotPlan {
        let policy = RunPolicy {
            catch_up,
            ..RunPolicy::default()
        };
        plan_slots(
            &cron("*/15 * * * *", "UTC"),
            &policy,
            utc(now),
            filled.map(utc),
            TimeDelta::seconds(15),
            &Horizon::default(),
        )
    }

    #[test]
    fn a_new_schedule_is_filled_an_hour_ahead() {
        let plan = plan(CatchUp::Latest, None, "2026-01-01T10:05:00Z");
        assert_eq!(
            plan.slots,
            [
                utc("2026-01-01T10:15:00Z"),
                utc("2026-01-01T10:30:00Z"),
                utc("2026-01-01T10:45:00Z"),
                utc("2026-01-01T11:00:00Z"),
            ]
        );
        assert_eq!(plan.filled_until, utc("2026-01-01T11:00:00Z"));
    }

    #[test]
    fn a_filled_schedule_only_gets_the_new_end() {
        let plan = plan(
            CatchUp::Latest,
            Some("2026-01-01T11:00:00Z"),
            "2026-01-01T10:20:00Z",
        );
        assert_eq!(plan.slots, [utc("2026-01-01T11:15:00Z")]);
        assert_eq!(plan.filled_until, utc("2026-01-01T11:15:00Z"));
    }

    #[test]
    fn missed_slots_follow_the_catch_up_policy() {
        // Filled until 08:00, the server comes back at 10:05: 08:15..10:00 were missed.
        let all = plan(
            CatchUp::All,
            Some("2026-01-01T08:00:00Z"),
            "2026-01-01T10:05:00Z",
        );
        assert_eq!(all.slots.len(), 8 + 4);
        assert_eq!(all.slots[0], utc("2026-01-01T08:15:00Z"));
        let latest = plan(
            CatchUp::Latest,
            Some("2026-01-01T08:00:00Z"),
            "2026-01-01T10:05:00Z",
        );
        assert_eq!(latest.slots[0], utc("2026-01-01T10:00:00Z"));
        assert_eq!(latest.slots.len(), 1 + 4);
        let skip = plan(
            CatchUp::Skip,
            Some("2026-01-01T08:00:00Z"),
            "2026-01-01T10:05:00Z",
        );
        assert_eq!(skip.slots[0], utc("2026-01-01T10:15:00Z"));
        assert_eq!(skip.slots.len(), 4);
    }

    #[test]
    fn sparse_schedules_get_at_least_three_runs() {
        let plan = plan_slots(
            &cron("0 2 * * *", "UTC"),
            &RunPolicy::default(),
            utc("2026-01-01T10:00:00Z"),
            None,
            TimeDelta::seconds(15),
            &Horizon::default(),
        );
        assert_eq!(plan.slots.len(), 3);
    }

    #[test]
    fn dense_schedules_stop_at_the_run_cap() {
        let plan = plan_slots(
            &cron("*/10 * * * * *", "UTC"),
            &RunPolicy::default(),
            utc("2026-01-01T10:00:00Z"),
            None,
            TimeDelta::seconds(15),
            &Horizon::default(),
        );
        assert_eq!(plan.slots.len(), 100);
    }
}
