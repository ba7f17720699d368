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

#[cfg(test)]
mod tests {
    use super::*;

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
