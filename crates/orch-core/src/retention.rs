//! Retention: how long finished flow runs and their log lines are kept, and
//! which automatic backups rotation keeps.
//!
//! Three levels of settings, the most specific winning field by field: a
//! deployment's own `retention` (deploy file), then the server's rule for
//! the run's final state (`retention.states`, e.g. keep failures longer),
//! then the server's defaults (`retention.runs_days`, `retention.logs_days`).
//! `None` everywhere means "keep forever". A run's log lines never outlive
//! the run: its effective log retention is at most its run retention.
//!
//! Only finished runs (Completed, Failed, Crashed, Cancelled) are ever
//! pruned; their age is counted from their last state change (when they
//! finished).

use std::time::Duration;

use crate::error::{Error, Result};
use crate::state::StateType;

/// How long runs and their logs are kept; `None` keeps them forever.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Retention {
    /// Days a finished run (with its states, task runs and logs) is kept.
    pub runs_days: Option<u32>,
    /// Days a finished run's log lines are kept.
    pub logs_days: Option<u32>,
}

impl Retention {
    /// Whether neither field is set.
    pub fn is_empty(&self) -> bool {
        self.runs_days.is_none() && self.logs_days.is_none()
    }

    /// `self`'s fields where set, else `fallback`'s.
    pub fn or(self, fallback: Retention) -> Retention {
        Retention {
            runs_days: self.runs_days.or(fallback.runs_days),
            logs_days: self.logs_days.or(fallback.logs_days),
        }
    }

    /// Log retention capped by run retention (logs go with their run).
    fn capped(self) -> Retention {
        let logs_days = match (self.logs_days, self.runs_days) {
            (Some(logs), Some(runs)) => Some(logs.min(runs)),
            (logs, _) => logs,
        };
        Retention { logs_days, ..self }
    }
}

/// The server's retention settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// For every finished run without a more specific rule.
    pub default: Retention,
    /// Per final state (only finished states are accepted; one entry per state).
    pub by_state: Vec<(StateType, Retention)>,
}

/// Which runs a [`PruneRule`] covers, by deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeploymentScope {
    /// Runs of this deployment id.
    Only(String),
    /// Runs of no deployment, or of a deployment not in the list.
    Excluding(Vec<String>),
}

/// One pruning rule: finished runs of `state` in `deployments` go when they
/// finished before `now - runs_days`, their logs before `now - logs_days`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PruneRule {
    /// The runs' final state.
    pub state: StateType,
    /// Which deployments' runs.
    pub deployments: DeploymentScope,
    /// The effective retention (logs capped by runs).
    pub retention: Retention,
}

/// Finished states, the only ones ever pruned.
pub const FINISHED_STATES: [StateType; 4] = [
    StateType::Completed,
    StateType::Failed,
    StateType::Crashed,
    StateType::Cancelled,
];

impl RetentionPolicy {
    /// Whether anything would ever be pruned, given deployments' own settings.
    pub fn prunes_anything(&self, deployments: &[(String, Retention)]) -> bool {
        !self.rules(deployments).is_empty()
    }

    /// The rules covering every finished run exactly once: one per finished
    /// state for each deployment with its own retention, and one per state
    /// for all other runs. Rules that keep everything are left out.
    pub fn rules(&self, deployments: &[(String, Retention)]) -> Vec<PruneRule> {
        let mut rules = Vec::new();
        let state_rule = |state: StateType| {
            self.by_state
                .iter()
                .find(|(kind, _)| *kind == state)
                .map(|(_, retention)| *retention)
                .unwrap_or_default()
                .or(self.default)
        };
        for (id, own) in deployments.iter().filter(|(_, own)| !own.is_empty()) {
            for state in FINISHED_STATES {
                rules.push(PruneRule {
                    state,
                    deployments: DeploymentScope::Only(id.clone()),
                    retention: own.or(state_rule(state)).capped(),
                });
            }
        }
        let overridden: Vec<String> = deployments
            .iter()
            .filter(|(_, own)| !own.is_empty())
            .map(|(id, _)| id.clone())
            .collect();
        for state in FINISHED_STATES {
            rules.push(PruneRule {
                state,
                deployments: DeploymentScope::Excluding(overridden.clone()),
                retention: state_rule(state).capped(),
            });
        }
        rules.retain(|rule| !rule.retention.is_empty());
        rules
    }

    /// The settings in words: `runs 30d, logs 7d; failed: runs 90d` or
    /// `keep everything`. Deployments' own settings are not included.
    pub fn describe(&self) -> String {
        let words = |retention: &Retention| {
            let mut parts = Vec::new();
            if let Some(days) = retention.runs_days {
                parts.push(format!("runs {days}d"));
            }
            if let Some(days) = retention.logs_days {
                parts.push(format!("logs {days}d"));
            }
            parts.join(", ")
        };
        let mut sections = Vec::new();
        if !self.default.is_empty() {
            sections.push(words(&self.default));
        }
        for (state, retention) in &self.by_state {
            if !retention.is_empty() {
                sections.push(format!(
                    "{}: {}",
                    state.as_str().to_lowercase(),
                    words(retention)
                ));
            }
        }
        if sections.is_empty() {
            "keep everything".into()
        } else {
            sections.join("; ")
        }
    }

    /// Checks and sets the rule of `state`; it must be a finished state.
    pub fn set_state(&mut self, state: StateType, retention: Retention) -> Result<()> {
        if !state.is_terminal() {
            return Err(invalid(format!(
                "retention per state applies to finished states only (completed, failed, crashed, cancelled), not {}",
                state.as_str().to_lowercase()
            )));
        }
        self.by_state.retain(|(kind, _)| *kind != state);
        self.by_state.push((state, retention));
        Ok(())
    }
}

/// The error of a bad retention or backup setting.
fn invalid(message: String) -> Error {
    Error::InvalidSetting {
        key: "retention".into(),
        message,
    }
}

/// The error of a bad duration.
fn bad_duration(message: String) -> Error {
    Error::InvalidSetting {
        key: "duration".into(),
        message,
    }
}

/// The longest retention, in days (100 years): longer is a mistake.
pub const MAX_RETENTION_DAYS: u32 = 36_500;

/// The one check of a number of retention days, wherever it is given
/// (command line, environment, config file, deploy file; `key` names where):
/// a whole number from 1 to [`MAX_RETENTION_DAYS`]. 0 would prune every
/// finished run at once; to keep forever, leave the setting out.
///
/// # Errors
///
/// The key, the range and the value given.
pub fn check_retention_days(key: &str, days: i64) -> std::result::Result<u32, String> {
    crate::settings::RETENTION_DAYS
        .check_whole(key, i128::from(days))
        .map(|days| days as u32)
}

/// Microseconds since the epoch `days` before `now_micros`.
pub fn cutoff_micros(now_micros: i64, days: u32) -> i64 {
    now_micros - i64::from(days) * 86_400_000_000
}

/// Parses `failed=90` or `failed=90:30` (runs days, then optional logs days)
/// into a state and its retention; the form of `--retention-state` and of
/// `ORCH_RETENTION_STATES` (comma-separated).
pub fn parse_state_retention(text: &str) -> Result<(StateType, Retention)> {
    let hint = "write STATE=RUNS_DAYS[:LOGS_DAYS], e.g. failed=90 or crashed=90:30";
    let (state, days) = text
        .split_once('=')
        .ok_or_else(|| invalid(format!("{text:?} has no '=': {hint}")))?;
    let kind: StateType = state.trim().parse().map_err(|_| {
        invalid(format!(
            "{state:?} is not a state type (completed, failed, crashed, cancelled): {hint}"
        ))
    })?;
    let (runs, logs) = match days.split_once(':') {
        Some((runs, logs)) => (runs, Some(logs)),
        None => (days, None),
    };
    let state_name = state.trim().to_lowercase();
    let number = |what: &str, text: &str| {
        let days = text
            .trim()
            .parse::<i64>()
            .map_err(|_| invalid(format!("{text:?} is not a number of days: {hint}")))?;
        check_retention_days(&format!("{state_name} {what}"), days).map_err(invalid)
    };
    let retention = Retention {
        runs_days: Some(number("runs days", runs)?),
        logs_days: logs.map(|logs| number("logs days", logs)).transpose()?,
    };
    let mut check = RetentionPolicy::default();
    check.set_state(kind, retention)?;
    Ok((kind, retention))
}

/// Parses a duration such as `6h`, `30m`, `1d`, `90s` or `1h30m`.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let hint = "write a number with a unit: s, m, h or d (e.g. 6h, 30m, 1d, 1h30m)";
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(bad_duration(format!("empty duration: {hint}")));
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in trimmed.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad_duration(format!("{text:?} is not a duration: {hint}"))),
        };
        let value: u64 = digits
            .parse()
            .map_err(|_| bad_duration(format!("{text:?} is not a duration: {hint}")))?;
        total = value
            .checked_mul(unit)
            .and_then(|seconds| total.checked_add(seconds))
            .ok_or_else(|| bad_duration(format!("{text:?} is too long")))?;
        digits.clear();
    }
    if !digits.is_empty() || total == 0 {
        return Err(bad_duration(format!(
            "{text:?} is not a positive duration: {hint}"
        )));
    }
    Ok(Duration::from_secs(total))
}

/// Of the backups named in `names` (file names made by automatic backups,
/// which sort by time), the ones to delete so that the newest `keep` remain.
pub fn backups_to_rotate(names: &[String], keep: usize) -> Vec<String> {
    let mut sorted = names.to_vec();
    sorted.sort();
    let excess = sorted.len().saturating_sub(keep);
    sorted.truncate(excess);
    sorted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_or_huge_retention_days_are_refused_with_one_message() {
        assert_eq!(check_retention_days("retention.runs_days", 30), Ok(30));
        assert_eq!(
            check_retention_days("--retention-runs-days", 0).unwrap_err(),
            "`--retention-runs-days` must be a positive whole number of days (1 to 36500), not 0; \
             to keep runs forever, leave it unset"
        );
        assert!(check_retention_days("x", 36_501).is_err());
        assert!(check_retention_days("x", -3).is_err());
        let error = parse_state_retention("failed=0").unwrap_err().to_string();
        assert!(
            error.contains("`failed runs days` must be a positive whole number of days"),
            "{error}"
        );
        let error = parse_state_retention("crashed=9:0")
            .unwrap_err()
            .to_string();
        assert!(error.contains("`crashed logs days`"), "{error}");
    }

    fn days(runs: Option<u32>, logs: Option<u32>) -> Retention {
        Retention {
            runs_days: runs,
            logs_days: logs,
        }
    }

    #[test]
    fn no_settings_prune_nothing() {
        let policy = RetentionPolicy::default();
        assert!(policy.rules(&[]).is_empty());
        assert!(!policy.prunes_anything(&[("d1".into(), Retention::default())]));
    }

    #[test]
    fn the_most_specific_setting_wins_field_by_field() {
        let mut policy = RetentionPolicy {
            default: days(Some(30), Some(7)),
            ..Default::default()
        };
        policy
            .set_state(StateType::Failed, days(Some(90), None))
            .unwrap();
        let deployments = vec![("noisy".to_string(), days(None, Some(1)))];
        let rules = policy.rules(&deployments);
        assert_eq!(rules.len(), 8);
        let find = |state, only: bool| {
            rules
                .iter()
                .find(|rule| {
                    rule.state == state
                        && matches!(rule.deployments, DeploymentScope::Only(_)) == only
                })
                .unwrap()
                .retention
        };
        assert_eq!(find(StateType::Completed, false), days(Some(30), Some(7)));
        assert_eq!(find(StateType::Failed, false), days(Some(90), Some(7)));
        assert_eq!(find(StateType::Failed, true), days(Some(90), Some(1)));
        assert_eq!(find(StateType::Completed, true), days(Some(30), Some(1)));
        let others = rules
            .iter()
            .find(|rule| matches!(rule.deployments, DeploymentScope::Excluding(_)))
            .unwrap();
        assert_eq!(
            others.deployments,
            DeploymentScope::Excluding(vec!["noisy".into()])
        );
    }

    #[test]
    fn describes_itself_in_words() {
        let mut policy = RetentionPolicy::default();
        assert_eq!(policy.describe(), "keep everything");
        policy.default = days(Some(30), Some(7));
        policy
            .set_state(StateType::Failed, days(Some(90), None))
            .unwrap();
        assert_eq!(policy.describe(), "runs 30d, logs 7d; failed: runs 90d");
    }

    #[test]
    fn logs_never_outlive_their_run() {
        let policy = RetentionPolicy {
            default: days(Some(3), Some(10)),
            ..Default::default()
        };
        assert!(
            policy
                .rules(&[])
                .iter()
                .all(|rule| rule.retention == days(Some(3), Some(3)))
        );
    }

    #[test]
    fn only_finished_states_take_a_state_rule() {
        let error = parse_state_retention("running=3").unwrap_err();
        assert!(
            error.to_string().contains("finished states only"),
            "{error}"
        );
        assert_eq!(
            parse_state_retention("failed=90:30").unwrap(),
            (StateType::Failed, days(Some(90), Some(30)))
        );
        assert_eq!(
            parse_state_retention(" crashed = 60").unwrap(),
            (StateType::Crashed, days(Some(60), None))
        );
        assert!(parse_state_retention("failed").is_err());
        assert!(parse_state_retention("failed=x").is_err());
        assert!(parse_state_retention("nope=3").is_err());
    }

    #[test]
    fn cutoffs_count_whole_days_back() {
        assert_eq!(cutoff_micros(10 * 86_400_000_000, 3), 7 * 86_400_000_000);
    }

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("6h").unwrap(), Duration::from_secs(21_600));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5_400));
        assert_eq!(parse_duration("2d").unwrap(), Duration::from_secs(172_800));
        assert_eq!(parse_duration("45s").unwrap(), Duration::from_secs(45));
        for bad in ["", "6", "h", "0s", "6x", "-1h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rotation_keeps_the_newest() {
        let names: Vec<String> = [
            "orch-20260103T000000Z.db",
            "orch-20260101T000000Z.db",
            "orch-20260102T000000Z.db",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            backups_to_rotate(&names, 2),
            vec!["orch-20260101T000000Z.db".to_string()]
        );
        assert!(backups_to_rotate(&names, 3).is_empty());
        assert_eq!(backups_to_rotate(&names, 0).len(), 3);
    }
}
