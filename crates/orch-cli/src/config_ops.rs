//! The server's operations settings: retention and automatic backups, each
//! resolved like every other setting (flag, then `ORCH_*` variable, then the
//! `[retention]` and `[backup]` tables of the config file, then the default).
//!
//! ```toml
//! [retention]
//! runs_days = 30
//! logs_days = 7
//! states = { failed = "90", crashed = "90:30" }   # RUNS_DAYS[:LOGS_DAYS]
//!
//! [backup]
//! dir = "/var/backups/orch"
//! every = "6h"
//! keep = 14
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use orch_core::retention::{parse_duration, parse_state_retention};
use orch_core::{Retention, RetentionPolicy};
use serde::Deserialize;

use crate::config::{Setting, Source, non_empty, pick};
use crate::error::usage;

/// `ORCH_RETENTION_RUNS_DAYS`.
pub const ENV_RUNS_DAYS: &str = orch_core::env_vars::RETENTION_RUNS_DAYS;
/// `ORCH_RETENTION_LOGS_DAYS`.
pub const ENV_LOGS_DAYS: &str = orch_core::env_vars::RETENTION_LOGS_DAYS;
/// `ORCH_RETENTION_STATES`: `failed=90,crashed=90:30`.
pub const ENV_STATES: &str = orch_core::env_vars::RETENTION_STATES;
/// `ORCH_BACKUP_DIR`.
pub const ENV_BACKUP_DIR: &str = orch_core::env_vars::BACKUP_DIR;
/// `ORCH_BACKUP_EVERY`.
pub const ENV_BACKUP_EVERY: &str = orch_core::env_vars::BACKUP_EVERY;
/// `ORCH_BACKUP_KEEP`.
pub const ENV_BACKUP_KEEP: &str = orch_core::env_vars::BACKUP_KEEP;
/// Default time between automatic backups.
pub const DEFAULT_BACKUP_EVERY: &str = "6h";
/// Default number of automatic backups kept.
pub const DEFAULT_BACKUP_KEEP: usize = 14;

/// `[retention]` of the config file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RetentionFile {
    /// Days finished runs are kept.
    pub runs_days: Option<u32>,
    /// Days finished runs' log lines are kept.
    pub logs_days: Option<u32>,
    /// Per final state: `RUNS_DAYS[:LOGS_DAYS]`.
    pub states: Option<BTreeMap<String, String>>,
}

/// `[backup]` of the config file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BackupFile {
    /// Folder of automatic backups; unset: none.
    pub dir: Option<PathBuf>,
    /// Time between backups, e.g. `6h`.
    pub every: Option<String>,
    /// Backups kept.
    pub keep: Option<usize>,
}

/// Operations flags of `orch server start` and `orch up`.
#[derive(Debug, Clone, Default)]
pub struct OpsFlags {
    /// `--retention-runs-days`.
    pub runs_days: Option<u32>,
    /// `--retention-logs-days`.
    pub logs_days: Option<u32>,
    /// `--retention-state` (repeatable).
    pub states: Vec<String>,
    /// `--backup-dir`.
    pub backup_dir: Option<PathBuf>,
    /// `--backup-every`.
    pub backup_every: Option<String>,
    /// `--backup-keep`.
    pub backup_keep: Option<usize>,
}

/// The effective operations settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpsSettings {
    /// `retention.runs_days`; `None`: keep forever.
    pub runs_days: Setting<Option<u32>>,
    /// `retention.logs_days`; `None`: as long as the run.
    pub logs_days: Setting<Option<u32>>,
    /// `retention.states`, as `STATE=RUNS_DAYS[:LOGS_DAYS]` entries.
    pub states: Setting<Vec<String>>,
    /// `backup.dir`; `None`: no automatic backups.
    pub backup_dir: Setting<Option<PathBuf>>,
    /// `backup.every`.
    pub backup_every: Setting<String>,
    /// `backup.keep`.
    pub backup_keep: Setting<usize>,
}

impl OpsSettings {
    /// Resolves each setting from flags, environment and the config file's tables.
    pub fn resolve(
        flags: &OpsFlags,
        environment: &dyn Fn(&str) -> Option<String>,
        retention: &RetentionFile,
        backup: &BackupFile,
    ) -> anyhow::Result<OpsSettings> {
        let keep_range = orch_core::settings::BACKUP_KEEP;
        let keep = |origin: &str, keep: Option<usize>| -> anyhow::Result<Option<usize>> {
            keep.map(|keep| {
                keep_range
                    .check_whole(origin, keep as i128)
                    .map(|keep| keep as usize)
                    .map_err(usage)
            })
            .transpose()
        };
        let env_keep = non_empty(environment(ENV_BACKUP_KEEP))
            .map(|text| {
                keep_range
                    .parse(ENV_BACKUP_KEEP, &text)
                    .map(|keep| keep as usize)
                    .map_err(usage)
            })
            .transpose()?;
        let days = |key: &str, days: Option<i64>| -> anyhow::Result<Option<u32>> {
            days.map(|days| orch_core::retention::check_retention_days(key, days).map_err(usage))
                .transpose()
        };
        let env_days = |name: &'static str| -> anyhow::Result<Option<u32>> {
            match non_empty(environment(name)) {
                None => Ok(None),
                Some(text) => {
                    let range = orch_core::settings::RETENTION_DAYS;
                    let number = range.parse(name, &text).map_err(usage)?;
                    days(name, Some(number as i64))
                }
            }
        };
        let env_states = non_empty(environment(ENV_STATES)).map(|text| {
            text.split(',')
                .map(str::trim)
                .filter(|entry| !entry.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        });
        let file_states = retention.states.as_ref().map(|states| {
            states
                .iter()
                .map(|(state, days)| format!("{state}={days}"))
                .collect::<Vec<_>>()
        });
        let runs_days = pick(
            days("--retention-runs-days", flags.runs_days.map(i64::from))?.map(Some),
            (ENV_RUNS_DAYS, env_days(ENV_RUNS_DAYS)?.map(Some)),
            days("retention.runs_days", retention.runs_days.map(i64::from))?.map(Some),
            None,
        );
        let logs_days = pick(
            days("--retention-logs-days", flags.logs_days.map(i64::from))?.map(Some),
            (ENV_LOGS_DAYS, env_days(ENV_LOGS_DAYS)?.map(Some)),
            days("retention.logs_days", retention.logs_days.map(i64::from))?.map(Some),
            None,
        );
        let states = pick(
            (!flags.states.is_empty()).then(|| flags.states.clone()),
            (ENV_STATES, env_states),
            file_states,
            Vec::new(),
        );
        let settings = OpsSettings {
            runs_days,
            logs_days,
            states,
            backup_dir: pick(
                flags.backup_dir.clone().map(Some),
                (
                    ENV_BACKUP_DIR,
                    non_empty(environment(ENV_BACKUP_DIR)).map(|dir| Some(PathBuf::from(dir))),
                ),
                backup.dir.clone().map(Some),
                None,
            ),
            backup_every: pick(
                flags.backup_every.clone(),
                (ENV_BACKUP_EVERY, non_empty(environment(ENV_BACKUP_EVERY))),
                backup.every.clone(),
                DEFAULT_BACKUP_EVERY.to_string(),
            ),
            backup_keep: pick(
                keep("--backup-keep", flags.backup_keep)?,
                (ENV_BACKUP_KEEP, env_keep),
                keep("backup.keep", backup.keep)?,
                DEFAULT_BACKUP_KEEP,
            ),
        };
        // Fail early, naming the setting's origin, rather than at server start.
        settings.retention_policy()?;
        settings.backup_interval()?;
        Ok(settings)
    }

    /// The retention policy these settings describe.
    pub fn retention_policy(&self) -> anyhow::Result<RetentionPolicy> {
        let mut policy = RetentionPolicy {
            default: Retention {
                runs_days: self.runs_days.value,
                logs_days: self.logs_days.value,
            },
            ..RetentionPolicy::default()
        };
        for entry in &self.states.value {
            let (state, retention) = parse_state_retention(entry).map_err(|error| {
                usage(format!(
                    "retention.states ({}): {error}",
                    self.states.source
                ))
            })?;
            policy
                .set_state(state, retention)
                .map_err(|error| usage(error.to_string()))?;
        }
        Ok(policy)
    }

    /// The time between automatic backups.
    pub fn backup_interval(&self) -> anyhow::Result<Duration> {
        let origin = match self.backup_every.source {
            Source::Flag => "--backup-every",
            Source::Env(name) => name,
            Source::ConfigFile | Source::Default => "backup.every",
        };
        checked_duration(
            origin,
            &self.backup_every.value,
            orch_core::settings::BACKUP_EVERY_SECONDS,
        )
    }

    /// Automatic backups, when a folder is set.
    pub fn backup_schedule(&self) -> anyhow::Result<Option<orch_server::BackupSchedule>> {
        let Some(dir) = &self.backup_dir.value else {
            return Ok(None);
        };
        Ok(Some(orch_server::BackupSchedule {
            dir: dir.clone(),
            every: self.backup_interval()?,
            keep: self.backup_keep.value,
        }))
    }
}

/// A duration written with units (`6h`, `1h30m`), within `range` (seconds);
/// `origin` names where it was given.
pub fn checked_duration(
    origin: &str,
    text: &str,
    range: orch_core::settings::Range,
) -> anyhow::Result<Duration> {
    let duration = parse_duration(text).map_err(|error| usage(format!("`{origin}`: {error}")))?;
    range.check_duration(origin, duration, text).map_err(usage)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn resolve(
        flags: OpsFlags,
        env: &[(&str, &str)],
        retention: RetentionFile,
    ) -> anyhow::Result<OpsSettings> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        OpsSettings::resolve(
            &flags,
            &move |name: &str| env.get(name).cloned(),
            &retention,
            &BackupFile::default(),
        )
    }

    #[test]
    fn retention_is_layered_like_every_setting() {
        let file = RetentionFile {
            runs_days: Some(60),
            logs_days: Some(14),
            states: Some(BTreeMap::from([("failed".into(), "180".into())])),
        };
        let flags = OpsFlags {
            runs_days: Some(30),
            ..OpsFlags::default()
        };
        let settings = resolve(
            flags,
            &[
                (ENV_LOGS_DAYS, "7"),
                (ENV_STATES, "failed=90, crashed=90:30"),
            ],
            file,
        )
        .unwrap();
        assert_eq!(settings.runs_days.source, Source::Flag);
        assert_eq!(settings.logs_days.source, Source::Env(ENV_LOGS_DAYS));
        let policy = settings.retention_policy().unwrap();
        assert_eq!(
            policy.describe(),
            "runs 30d, logs 7d; failed: runs 90d; crashed: runs 90d, logs 30d"
        );
        assert!(settings.backup_schedule().unwrap().is_none());
    }

    #[test]
    fn bad_values_are_usage_errors_naming_their_origin() {
        let error = resolve(
            OpsFlags::default(),
            &[(ENV_STATES, "running=3")],
            RetentionFile::default(),
        )
        .unwrap_err();
        assert_eq!(crate::error::exit_code(&error), crate::error::EXIT_USAGE);
        assert!(
            error.to_string().contains("env ORCH_RETENTION_STATES"),
            "{error}"
        );
        let error = resolve(
            OpsFlags {
                backup_every: Some("soon".into()),
                ..OpsFlags::default()
            },
            &[],
            RetentionFile::default(),
        )
        .unwrap_err();
        assert!(
            error.to_string().starts_with("`--backup-every`: "),
            "{error}"
        );
        let error = resolve(
            OpsFlags {
                backup_every: Some("400d".into()),
                backup_keep: Some(0),
                ..OpsFlags::default()
            },
            &[],
            RetentionFile::default(),
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "`--backup-keep` must be a positive whole number (1 to 100000), not 0"
        );
        let error = resolve(
            OpsFlags {
                backup_every: Some("400d".into()),
                ..OpsFlags::default()
            },
            &[],
            RetentionFile::default(),
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "`--backup-every` must be a number of seconds (1 to 31536000), not \"400d\""
        );
    }
}
