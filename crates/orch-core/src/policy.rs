//! Per-deployment rules for runs that start late or collide: the catch-up
//! policy after downtime and the deployment's concurrency limit.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::suggest::{close_matches, did_you_mean};

/// What happens to scheduled runs that were missed while no worker was up
/// or the server was down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CatchUp {
    /// Run every missed slot, oldest first.
    All,
    /// Run only the newest missed slot; older ones are Cancelled with the
    /// reason "skipped: superseded".
    #[default]
    Latest,
    /// Run none of the missed slots.
    Skip,
}

impl CatchUp {
    /// Every policy, as written in deploy files.
    pub const ALL: [CatchUp; 3] = [CatchUp::All, CatchUp::Latest, CatchUp::Skip];

    /// The name used in deploy files, the API and the database: `"latest"`.
    pub fn as_str(self) -> &'static str {
        match self {
            CatchUp::All => "all",
            CatchUp::Latest => "latest",
            CatchUp::Skip => "skip",
        }
    }
}

/// What happens to a run that falls due while its deployment already has
/// `concurrency_limit` runs in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CollisionStrategy {
    /// It waits (AwaitingConcurrencySlot) until a run of the deployment ends.
    #[default]
    Enqueue,
    /// It is Cancelled at once.
    CancelNew,
}

impl CollisionStrategy {
    /// Every strategy, as written in deploy files.
    pub const ALL: [CollisionStrategy; 2] =
        [CollisionStrategy::Enqueue, CollisionStrategy::CancelNew];

    /// The name used in deploy files, the API and the database: `"cancel-new"`.
    pub fn as_str(self) -> &'static str {
        match self {
            CollisionStrategy::Enqueue => "enqueue",
            CollisionStrategy::CancelNew => "cancel-new",
        }
    }
}

fn parse_choice<T: Copy>(
    key: &str,
    value: &str,
    all: &[T],
    name: fn(T) -> &'static str,
) -> Result<T> {
    all.iter()
        .copied()
        .find(|choice| name(*choice) == value)
        .ok_or_else(|| {
            let names: Vec<&str> = all.iter().map(|c| name(*c)).collect();
            Error::InvalidSetting {
                key: key.to_owned(),
                message: format!(
                    "{value:?} is not one of {}{}",
                    names
                        .iter()
                        .map(|n| format!("\"{n}\""))
                        .collect::<Vec<_>>()
                        .join(", "),
                    did_you_mean(&close_matches(value, names.iter().copied()))
                ),
            }
        })
}

impl FromStr for CatchUp {
    type Err = Error;

    /// Parses `"all"`, `"latest"` or `"skip"`.
    fn from_str(s: &str) -> Result<Self> {
        parse_choice("catch_up", s, &CatchUp::ALL, CatchUp::as_str)
    }
}

impl FromStr for CollisionStrategy {
    type Err = Error;

    /// Parses `"enqueue"` or `"cancel-new"`.
    fn from_str(s: &str) -> Result<Self> {
        parse_choice(
            "collision_strategy",
            s,
            &CollisionStrategy::ALL,
            CollisionStrategy::as_str,
        )
    }
}

impl fmt::Display for CatchUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for CollisionStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A deployment's rules for late and colliding runs. Every field has a
/// default, so a deploy file may leave them all out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct RunPolicy {
    /// Which missed slots still run after downtime; `latest` by default.
    pub catch_up: CatchUp,
    /// A scheduled run later than this many seconds is Cancelled instead of
    /// started; `None` for no bound.
    pub max_lateness_seconds: Option<u64>,
    /// Most runs of the deployment Pending, Running or Cancelling at once;
    /// `None` for no limit.
    pub concurrency_limit: Option<u32>,
    /// What a run falling due at the limit does; `enqueue` by default.
    pub collision_strategy: CollisionStrategy,
}

/// Reason given to a run Cancelled because a newer slot of its schedule is due.
pub const SUPERSEDED: &str = "skipped: superseded";

/// Decides which due, unstarted runs of one schedule still start.
///
/// `due` holds their expected starts (microseconds), oldest first, all at or
/// before `now`. The answer has one entry per run: `None` to start it, or the
/// reason to cancel it instead. A run later than `max_lateness_seconds` is
/// never started; of the rest, `all` starts every one, `latest` only the
/// newest (the others are superseded), and `skip` only those not yet late
/// (due less than `late_after_micros` ago).
pub fn triage(
    policy: &RunPolicy,
    due: &[i64],
    now: i64,
    late_after_micros: i64,
) -> Vec<Option<String>> {
    let mut verdicts: Vec<Option<String>> = due
        .iter()
        .map(|&expected| match policy.max_lateness_seconds {
            Some(max) if now - expected > max as i64 * 1_000_000 => {
                Some(format!("skipped: later than max_lateness ({max}s)"))
            }
            _ => None,
        })
        .collect();
    let kept: Vec<usize> = (0..due.len()).filter(|&i| verdicts[i].is_none()).collect();
    match policy.catch_up {
        CatchUp::All => {}
        CatchUp::Latest => {
            for &i in kept.iter().rev().skip(1) {
                verdicts[i] = Some(SUPERSEDED.to_owned());
            }
        }
        CatchUp::Skip => {
            for &i in &kept {
                if now - due[i] > late_after_micros {
                    verdicts[i] = Some("skipped: missed (catch-up policy skip)".to_owned());
                }
            }
        }
    }
    verdicts
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000_000;

    fn policy(catch_up: CatchUp, max_lateness_seconds: Option<u64>) -> RunPolicy {
        RunPolicy {
            catch_up,
            max_lateness_seconds,
            ..RunPolicy::default()
        }
    }

    /// Four quarter-hourly slots missed over the last hour, plus one due now.
    fn outage() -> (Vec<i64>, i64) {
        let now = 1_000 * MINUTE;
        (
            vec![
                now - 60 * MINUTE,
                now - 45 * MINUTE,
                now - 30 * MINUTE,
                now - 15 * MINUTE,
                now,
            ],
            now,
        )
    }

    #[test]
    fn all_starts_every_missed_slot() {
        let (due, now) = outage();
        assert!(
            triage(&policy(CatchUp::All, None), &due, now, MINUTE / 4)
                .iter()
                .all(Option::is_none)
        );
    }

    #[test]
    fn latest_starts_only_the_newest_and_supersedes_the_rest() {
        let (due, now) = outage();
        let verdicts = triage(&policy(CatchUp::Latest, None), &due, now, MINUTE / 4);
        assert_eq!(verdicts[4], None);
        for verdict in &verdicts[..4] {
            assert_eq!(verdict.as_deref(), Some(SUPERSEDED));
        }
    }

    #[test]
    fn skip_starts_only_what_is_not_late() {
        let (due, now) = outage();
        let verdicts = triage(&policy(CatchUp::Skip, None), &due, now, MINUTE / 4);
        assert_eq!(verdicts[4], None);
        for verdict in &verdicts[..4] {
            assert_eq!(
                verdict.as_deref(),
                Some("skipped: missed (catch-up policy skip)")
            );
        }
    }

    #[test]
    fn max_lateness_cancels_what_is_too_late_whatever_the_policy() {
        let (due, now) = outage();
        let verdicts = triage(&policy(CatchUp::All, Some(20 * 60)), &due, now, MINUTE / 4);
        let reason = Some("skipped: later than max_lateness (1200s)");
        assert_eq!(
            verdicts.iter().map(Option::as_deref).collect::<Vec<_>>(),
            [reason, reason, reason, None, None]
        );
        // Latest keeps the newest run that is not too late.
        let verdicts = triage(&policy(CatchUp::Latest, Some(20 * 60)), &due[..4], now, 0);
        assert_eq!(verdicts[3], None);
    }

    #[test]
    fn names_round_trip() {
        for policy in CatchUp::ALL {
            assert_eq!(policy.as_str().parse::<CatchUp>().unwrap(), policy);
        }
        for strategy in CollisionStrategy::ALL {
            assert_eq!(
                strategy.as_str().parse::<CollisionStrategy>().unwrap(),
                strategy
            );
        }
    }

    #[test]
    fn unknown_names_list_the_choices_and_suggest_one() {
        let error = "lastest".parse::<CatchUp>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid `catch_up`: \"lastest\" is not one of \"all\", \"latest\", \"skip\" \
             (did you mean \"latest\"?)"
        );
        let error = "cancel_new".parse::<CollisionStrategy>().unwrap_err();
        assert!(
            error.to_string().contains("did you mean \"cancel-new\""),
            "{error}"
        );
    }

    #[test]
    fn defaults_are_latest_and_enqueue() {
        let policy = RunPolicy::default();
        assert_eq!(policy.catch_up, CatchUp::Latest);
        assert_eq!(policy.collision_strategy, CollisionStrategy::Enqueue);
        assert_eq!(policy.concurrency_limit, None);
    }
}
