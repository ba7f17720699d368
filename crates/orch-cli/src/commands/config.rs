//! `orch config view`: each setting, its value and where it came from.

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
        }
    }
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
    let mut rows_table = table::new(&["SETTING", "VALUE", "SOURCE"]);
    for (name, value, source) in rows {
        rows_table.add_row([Cell::new(name), Cell::new(value), Cell::new(source)]);
    }
    table::print(rows_table, "")?;
    Ok(())
}
