//! `orch config view`: each setting, its value and where it came from.

use std::collections::BTreeMap;
use std::time::Duration;

use comfy_table::Cell;
use serde::Serialize;
use serde_json::Value;

use super::Context;
use crate::cli::ConfigCommand;
use crate::config::{Setting, Settings, Source};
use crate::output::{self, Format, table};

/// Runs an `orch config` command.
pub fn run(context: &Context, command: ConfigCommand) -> anyhow::Result<()> {
    match command {
        ConfigCommand::View(output) => view(&context.settings, output.output),
    }
}

/// One setting in the JSON output: `{"value": ..., "source": "env"}`.
#[derive(Debug, Serialize)]
struct SettingView {
    /// The effective value.
    value: Value,
    /// `flag`, `env`, `config file` or `default`.
    source: &'static str,
    /// The environment variable, when the source is `env`.
    #[serde(skip_serializing_if = "Option::is_none")]
    env: Option<&'static str>,
    /// Whether the file exists (for `config_file` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    exists: Option<bool>,
}

impl SettingView {
    /// The view of `setting`.
    fn new<T: Into<Value> + Clone>(setting: &Setting<T>) -> Self {
        Self::of(setting.value.clone().into(), setting.source)
    }

    /// The view of `value` from `source`.
    fn of(value: Value, source: Source) -> Self {
        Self {
            value,
            source: source.kind(),
            env: match source {
                Source::Env(variable) => Some(variable),
                _ => None,
            },
            exists: None,
        }
    }
}

/// Every setting, keyed by name (as in the config file), in a stable order.
#[derive(Debug, Serialize)]
struct ConfigView {
    /// The orch home folder.
    home: SettingView,
    /// The config file (always `$ORCH_HOME/config.toml`).
    config_file: SettingView,
    /// The server's URL, for clients and workers.
    api_url: SettingView,
    /// The server's interface.
    host: SettingView,
    /// The server's port.
    port: SettingView,
    /// The server's database.
    database_url: SettingView,
    /// Days finished runs are kept (null: forever).
    #[serde(rename = "retention.runs_days")]
    retention_runs_days: SettingView,
    /// Days finished runs' log lines are kept (null: as long as the run).
    #[serde(rename = "retention.logs_days")]
    retention_logs_days: SettingView,
    /// Per final state, `STATE=RUNS_DAYS[:LOGS_DAYS]`.
    #[serde(rename = "retention.states")]
    retention_states: SettingView,
    /// Folder of automatic backups (null: off).
    #[serde(rename = "backup.dir")]
    backup_dir: SettingView,
    /// Time between automatic backups.
    #[serde(rename = "backup.every")]
    backup_every: SettingView,
    /// Automatic backups kept.
    #[serde(rename = "backup.keep")]
    backup_keep: SettingView,
    /// `server.*`, `worker.*` and `client.*`: seconds, or a count.
    #[serde(flatten)]
    roles: BTreeMap<&'static str, SettingView>,
}

impl ConfigView {
    /// The view of `settings`.
    fn new(settings: &Settings) -> Self {
        let home = &settings.home;
        let config_file = SettingView {
            exists: Some(settings.config_file_found),
            ..SettingView::of(
                settings.config_file.display().to_string().into(),
                home.source,
            )
        };
        Self {
            home: SettingView::of(home.value.display().to_string().into(), home.source),
            config_file,
            api_url: SettingView::new(&settings.api_url),
            host: SettingView::new(&settings.host),
            port: SettingView::new(&settings.port),
            database_url: SettingView::new(&settings.database_url),
            retention_runs_days: SettingView::new(&settings.ops.runs_days),
            retention_logs_days: SettingView::new(&settings.ops.logs_days),
            retention_states: SettingView::new(&settings.ops.states),
            backup_dir: SettingView::of(
                settings
                    .ops
                    .backup_dir
                    .value
                    .as_ref()
                    .map(|dir| dir.display().to_string())
                    .into(),
                settings.ops.backup_dir.source,
            ),
            backup_every: SettingView::new(&settings.ops.backup_every),
            backup_keep: SettingView::new(&settings.ops.backup_keep),
            roles: role_rows(settings)
                .into_iter()
                .map(|(name, value, source)| (name, SettingView::of(value, source)))
                .collect(),
        }
    }
}

/// The role settings: name, value (seconds, or a count) and source.
fn role_rows(settings: &Settings) -> Vec<(&'static str, Value, Source)> {
    let roles = &settings.roles;
    let seconds = |name, setting: &Setting<Duration>| {
        let value = if setting.value.subsec_nanos() == 0 {
            Value::from(setting.value.as_secs())
        } else {
            Value::from(setting.value.as_secs_f64())
        };
        (name, value, setting.source)
    };
    vec![
        seconds("server.late_after_seconds", &roles.server.late_after),
        seconds("server.worker_lease_seconds", &roles.server.worker_lease),
        seconds("server.token_cache_seconds", &roles.server.token_cache),
        (
            "server.max_streams_per_client",
            Value::from(roles.server.max_streams_per_client.value),
            roles.server.max_streams_per_client.source,
        ),
        (
            "server.automation_env",
            Value::from(roles.server.automation_env.value.clone()),
            roles.server.automation_env.source,
        ),
        seconds("worker.heartbeat_seconds", &roles.worker.heartbeat),
        seconds("worker.poll_seconds", &roles.worker.poll),
        seconds("worker.kill_grace_seconds", &roles.worker.kill_grace),
        seconds(
            "worker.shutdown_grace_seconds",
            &roles.worker.shutdown_grace,
        ),
        (
            "worker.isolation",
            Value::from(roles.worker.isolation.value.to_string()),
            roles.worker.isolation.source,
        ),
        (
            "worker.run_as",
            Value::from(roles.worker.run_as.value.clone()),
            roles.worker.run_as.source,
        ),
        seconds(
            "client.request_timeout_seconds",
            &roles.client.request_timeout,
        ),
    ]
}

/// Prints the settings.
fn view(settings: &Settings, format: Format) -> anyhow::Result<()> {
    if format == Format::Json {
        return output::print_json(&ConfigView::new(settings));
    }
    let config_file_source = if settings.config_file_found {
        format!("{} (found)", settings.home.source)
    } else {
        format!("{} (not found)", settings.home.source)
    };
    let rows = [
        (
            "home",
            settings.home.value.display().to_string(),
            settings.home.source.to_string(),
        ),
        (
            "config_file",
            settings.config_file.display().to_string(),
            config_file_source,
        ),
        (
            "api_url",
            settings.api_url.value.clone(),
            settings.api_url.source.to_string(),
        ),
        (
            "host",
            settings.host.value.clone(),
            settings.host.source.to_string(),
        ),
        (
            "port",
            settings.port.value.to_string(),
            settings.port.source.to_string(),
        ),
        (
            "database_url",
            settings.database_url.value.clone(),
            settings.database_url.source.to_string(),
        ),
    ];
    let ops = &settings.ops;
    let days = |value: Option<u32>, none: &str| {
        value.map_or_else(|| none.to_string(), |d| format!("{d} days"))
    };
    let ops_rows = [
        (
            "retention.runs_days",
            days(ops.runs_days.value, "forever"),
            ops.runs_days.source.to_string(),
        ),
        (
            "retention.logs_days",
            days(ops.logs_days.value, "as long as the run"),
            ops.logs_days.source.to_string(),
        ),
        (
            "retention.states",
            if ops.states.value.is_empty() {
                "none".to_string()
            } else {
                ops.states.value.join(", ")
            },
            ops.states.source.to_string(),
        ),
        (
            "backup.dir",
            ops.backup_dir
                .value
                .as_ref()
                .map_or_else(|| "off".to_string(), |dir| dir.display().to_string()),
            ops.backup_dir.source.to_string(),
        ),
        (
            "backup.every",
            ops.backup_every.value.clone(),
            ops.backup_every.source.to_string(),
        ),
        (
            "backup.keep",
            ops.backup_keep.value.to_string(),
            ops.backup_keep.source.to_string(),
        ),
    ];
    let mut rows_table = table::new(&["SETTING", "VALUE", "SOURCE"]);
    for (name, value, source) in rows.into_iter().chain(ops_rows) {
        rows_table.add_row([Cell::new(name), Cell::new(value), Cell::new(source)]);
    }
    for (name, value, source) in role_rows(settings) {
        rows_table.add_row([Cell::new(name), Cell::new(value), Cell::new(source)]);
    }
    table::print(rows_table, "")?;
    Ok(())
}
