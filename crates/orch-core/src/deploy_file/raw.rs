//! The deployment file exactly as written, before validation.
//!
//! Values that later checks complain about are wrapped in [`Spanned`] so the
//! complaint can point at the right line.

use serde::Deserialize;
use toml::Spanned;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    /// The `[[deployments]]` tables.
    #[serde(default)]
    pub deployments: Vec<Spanned<RawDeployment>>,
    /// The `[[calendars]]` tables.
    #[serde(default)]
    pub calendars: Vec<Spanned<RawCalendar>>,
    /// The `[[automations]]` tables.
    #[serde(default)]
    pub automations: Vec<Spanned<super::automations::RawAutomation>>,
}

/// One `[[calendars]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCalendar {
    pub name: Spanned<String>,
    pub timezone: Option<Spanned<String>>,
    pub weekend: Option<Vec<String>>,
    #[serde(default)]
    pub closed: Vec<Spanned<String>>,
    pub early_closes: Option<Spanned<std::collections::BTreeMap<String, String>>>,
    pub file: Option<Spanned<String>>,
}

/// One `[[deployments]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDeployment {
    pub flow: Spanned<String>,
    pub name: Spanned<String>,
    pub entrypoint: Spanned<Vec<Spanned<String>>>,
    pub work_pool: Spanned<String>,
    pub parameters: Option<Spanned<toml::Value>>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub description: Option<String>,
    /// Signed so that a negative value gets our message, not serde's.
    pub retries: Option<Spanned<i64>>,
    /// Signed so that a negative value gets our message, not serde's.
    pub retry_delay_seconds: Option<Spanned<i64>>,
    #[serde(default)]
    pub paused: bool,
    #[serde(default)]
    pub schedules: Vec<Spanned<RawSchedule>>,
    /// `"all"`, `"latest"` or `"skip"`.
    pub catch_up: Option<Spanned<String>>,
    /// Signed so that a negative value gets our message, not serde's.
    pub max_lateness_seconds: Option<Spanned<i64>>,
    /// Signed so that a negative value gets our message, not serde's.
    pub concurrency_limit: Option<Spanned<i64>>,
    /// `"enqueue"` or `"cancel-new"`.
    pub collision_strategy: Option<Spanned<String>>,
    /// `retention = { runs_days = 90, logs_days = 30 }`.
    pub retention: Option<RawRetention>,
    /// `env = { LOG_LEVEL = "info" }`: variables its runs receive.
    pub env: Option<Spanned<std::collections::BTreeMap<Spanned<String>, Spanned<String>>>>,
    /// `secrets = ["NEWSAPI_KEY"]`: secrets its runs receive as variables.
    #[serde(default)]
    pub secrets: Vec<Spanned<String>>,
    /// Container settings for `docker` pools (see `crate::container`).
    pub image: Option<Spanned<String>>,
    /// `memory = "256m"`.
    pub memory: Option<Spanned<String>>,
    /// `cpus = 0.5`.
    pub cpus: Option<Spanned<f64>>,
    /// `volumes = ["/srv/data:/data:ro"]`.
    pub volumes: Option<Spanned<Vec<String>>>,
    /// `network = "host"`.
    pub network: Option<Spanned<String>>,
    /// `user = "1000:1000"`.
    pub user: Option<Spanned<String>>,
    /// `pull_policy = "never"|"if-missing"`.
    pub pull_policy: Option<Spanned<String>>,
    /// `keep_container = true`: keep the container of a run that did not complete.
    pub keep_container: Option<bool>,
}

/// A deployment's `retention` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRetention {
    /// Signed so that a negative value gets our message, not serde's.
    pub runs_days: Option<Spanned<i64>>,
    /// Signed so that a negative value gets our message, not serde's.
    pub logs_days: Option<Spanned<i64>>,
}

/// One `[[deployments.schedules]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSchedule {
    pub slug: Option<Spanned<String>>,
    pub cron: Option<Spanned<String>>,
    /// Signed so that a negative value gets our message, not serde's.
    pub interval_seconds: Option<Spanned<i64>>,
    /// A string or a TOML date-time.
    pub anchor: Option<Spanned<toml::Value>>,
    pub rrule: Option<Spanned<String>>,
    pub timezone: Option<Spanned<String>>,
    pub active: Option<bool>,
    pub parameters: Option<Spanned<toml::Value>>,
    pub calendar: Option<Spanned<String>>,
    pub skip_after_close: Option<bool>,
}
