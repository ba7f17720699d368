//! Effective settings and where each came from: a flag, an `ORCH_*` environment
//! variable, the config file (`$ORCH_HOME/config.toml`), or the default.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config_ops::{BackupFile, OpsFlags, OpsSettings, RetentionFile};
use crate::config_roles::{ClientFile, RoleFlags, Roles, ServerFile, WorkerFile};
use crate::error::usage;

/// The default API URL of client commands and workers.
pub const DEFAULT_API_URL: &str = orch_core::defaults::API_URL;
/// The default interface of `orch server start`.
pub const DEFAULT_HOST: &str = orch_core::defaults::HOST;
/// The default port of `orch server start`.
pub const DEFAULT_PORT: u16 = orch_core::defaults::PORT;

/// Environment variable of the orch home folder.
pub const ENV_HOME: &str = orch_core::env_vars::HOME;
/// Environment variable of the API URL.
pub const ENV_API_URL: &str = orch_core::env_vars::API_URL;
/// Environment variable of the server's interface.
pub const ENV_HOST: &str = orch_core::env_vars::HOST;
/// Environment variable of the server's port.
pub const ENV_PORT: &str = orch_core::env_vars::PORT;
/// Environment variable of the server's database URL.
pub const ENV_DATABASE_URL: &str = orch_core::env_vars::DATABASE_URL;

/// Where a setting's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A command-line flag.
    Flag,
    /// An environment variable.
    Env(&'static str),
    /// The config file.
    ConfigFile,
    /// Built in.
    Default,
}

impl Source {
    /// `flag`, `env`, `config file` or `default`, for JSON.
    pub fn kind(self) -> &'static str {
        match self {
            Self::Flag => "flag",
            Self::Env(_) => "env",
            Self::ConfigFile => "config file",
            Self::Default => "default",
        }
    }
}

impl fmt::Display for Source {
    /// The kind, naming the variable for `env`: `env ORCH_PORT`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(variable) => write!(f, "env {variable}"),
            other => f.write_str(other.kind()),
        }
    }
}

/// A setting's value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting<T> {
    /// The value.
    pub value: T,
    /// Its origin.
    pub source: Source,
}

/// Values given as command-line flags; `None` when not given.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    /// `--api-url`, its URLs joined with commas.
    pub api_url: Option<String>,
    /// `--host` of `orch server start`.
    pub host: Option<String>,
    /// `--port` of `orch server start`.
    pub port: Option<u16>,
    /// `--database-url` of `orch server start`.
    pub database_url: Option<String>,
    /// Retention and backup flags of `orch server start`.
    pub ops: OpsFlags,
    /// The server's timings and the worker's pacing.
    pub roles: RoleFlags,
}

/// The keys of `$ORCH_HOME/config.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// The API URL, or the URLs of several replicas.
    pub api_url: Option<UrlList>,
    /// The server's interface.
    pub host: Option<String>,
    /// The server's port.
    pub port: Option<u16>,
    /// The server's database URL.
    pub database_url: Option<String>,
    /// `[retention]`: how long finished runs and logs are kept.
    pub retention: Option<RetentionFile>,
    /// `[backup]`: automatic backups.
    pub backup: Option<BackupFile>,
    /// `[server]`: the server's timings.
    pub server: Option<ServerFile>,
    /// `[worker]`: the worker's pacing.
    pub worker: Option<WorkerFile>,
    /// `[client]`: client commands' request timeout.
    pub client: Option<ClientFile>,
    /// `[telemetry]`: where servers and workers send traces.
    pub telemetry: Option<crate::config_telemetry::TelemetryFile>,
}

/// `api_url` in the config file: one URL (several may be separated by
/// commas), or a list of URLs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged, expecting = "a URL (\"http://host:4200\") or a list of URLs")]
pub enum UrlList {
    /// `api_url = "http://a:4200"` (or `"http://a:4200,http://b:4200"`).
    One(String),
    /// `api_url = ["http://a:4200", "http://b:4200"]`.
    Many(Vec<String>),
}

impl UrlList {
    /// The URLs as one setting, joined with commas.
    pub fn joined(&self) -> String {
        match self {
            UrlList::One(text) => orch_client::join_urls(&[text]),
            UrlList::Many(urls) => orch_client::join_urls(urls),
        }
    }
}

impl ConfigFile {
    /// Parses the file's text; errors name `path:LINE:COLUMN`.
    pub fn parse(path: &Path, text: &str) -> anyhow::Result<Self> {
        toml::from_str(text).map_err(|error| {
            let location = error.span().map_or_else(String::new, |span| {
                let (line, column) = line_and_column(text, span.start);
                format!(":{line}:{column}")
            });
            usage(format!(
                "{}{location}: {}",
                path.display(),
                error.message().trim_end()
            ))
        })
    }
}

/// The effective settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The orch home folder (`ORCH_HOME`, default `~/.orch`).
    pub home: Setting<PathBuf>,
    /// `$ORCH_HOME/config.toml`.
    pub config_file: PathBuf,
    /// Whether the config file exists.
    pub config_file_found: bool,
    /// The server's URL, for clients and workers (several replicas'
    /// separated by commas).
    pub api_url: Setting<String>,
    /// The interface the server binds.
    pub host: Setting<String>,
    /// The port the server binds.
    pub port: Setting<u16>,
    /// The server's database.
    pub database_url: Setting<String>,
    /// Retention and automatic backups.
    pub ops: OpsSettings,
    /// The server's timings, the worker's pacing, a client's request timeout.
    pub roles: Roles,
}

/// Reads `$ORCH_HOME/config.toml`; whether it exists.
fn read_config_file(config_file: &Path) -> anyhow::Result<(ConfigFile, bool)> {
    match orch_core::input_file::read_text(config_file) {
        Ok(text) => Ok((ConfigFile::parse(config_file, &text)?, true)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            Ok((ConfigFile::default(), false))
        }
        Err(error) => Err(usage(error.to_string())),
    }
}

/// The OpenTelemetry variables the config file's `[telemetry]` sets and the
/// environment does not (see [`crate::config_telemetry`]).
pub fn telemetry_variables() -> anyhow::Result<Vec<(&'static str, String)>> {
    let environment = |name: &str| std::env::var(name).ok();
    let home = home(&environment)?;
    let (file, _) = read_config_file(&home.value.join("config.toml"))?;
    crate::config_telemetry::missing_variables(&file.telemetry.unwrap_or_default(), &environment)
}

impl Settings {
    /// Resolves the settings from `flags`, the process environment and the config file.
    pub fn load(flags: &Flags) -> anyhow::Result<Self> {
        let environment = |name: &str| std::env::var(name).ok();
        let home = home(&environment)?;
        let config_file = home.value.join("config.toml");
        let (file, found) = read_config_file(&config_file)?;
        let mut settings = Self::resolve(flags, &environment, home, &file)?;
        settings.config_file = config_file;
        settings.config_file_found = found;
        Ok(settings)
    }

    /// Resolves each setting: flag, then environment, then config file, then default.
    fn resolve(
        flags: &Flags,
        environment: &dyn Fn(&str) -> Option<String>,
        home: Setting<PathBuf>,
        file: &ConfigFile,
    ) -> anyhow::Result<Self> {
        let env_port = match environment(ENV_PORT).filter(|value| !value.is_empty()) {
            None => None,
            Some(text) => Some(text.trim().parse::<u16>().map_err(|_| {
                usage(format!(
                    "{ENV_PORT}={text} is not a port number (0 to 65535)"
                ))
            })?),
        };
        let default_database_url = orch_store::sqlite_url(&home.value.join("orch.db"));
        Ok(Self {
            config_file: home.value.join("config.toml"),
            config_file_found: false,
            api_url: pick(
                flags.api_url.clone(),
                (ENV_API_URL, non_empty(environment(ENV_API_URL))),
                file.api_url.as_ref().map(UrlList::joined),
                DEFAULT_API_URL.to_owned(),
            ),
            host: pick(
                flags.host.clone(),
                (ENV_HOST, non_empty(environment(ENV_HOST))),
                file.host.clone(),
                DEFAULT_HOST.to_owned(),
            ),
            port: pick(flags.port, (ENV_PORT, env_port), file.port, DEFAULT_PORT),
            database_url: pick(
                flags.database_url.clone(),
                (ENV_DATABASE_URL, non_empty(environment(ENV_DATABASE_URL))),
                file.database_url.clone(),
                default_database_url,
            ),
            ops: OpsSettings::resolve(
                &flags.ops,
                environment,
                &file.retention.clone().unwrap_or_default(),
                &file.backup.clone().unwrap_or_default(),
            )?,
            roles: Roles::resolve(
                &flags.roles,
                environment,
                &file.server.clone().unwrap_or_default(),
                &file.worker.clone().unwrap_or_default(),
                &file.client.clone().unwrap_or_default(),
            )?,
            home,
        })
    }
}

/// The orch home folder: `ORCH_HOME`, else `~/.orch`.
fn home(environment: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Setting<PathBuf>> {
    if let Some(home) = non_empty(environment(ENV_HOME)) {
        return Ok(Setting {
            value: PathBuf::from(home),
            source: Source::Env(ENV_HOME),
        });
    }
    let user_home = non_empty(environment("HOME"))
        .map(PathBuf::from)
        .ok_or_else(|| usage(format!("cannot find your home folder: set {ENV_HOME}")))?;
    Ok(Setting {
        value: user_home.join(".orch"),
        source: Source::Default,
    })
}

/// The first value given, by precedence.
pub(crate) fn pick<T>(
    flag: Option<T>,
    (variable, env): (&'static str, Option<T>),
    file: Option<T>,
    default: T,
) -> Setting<T> {
    let (value, source) = flag
        .map(|value| (value, Source::Flag))
        .or_else(|| env.map(|value| (value, Source::Env(variable))))
        .or_else(|| file.map(|value| (value, Source::ConfigFile)))
        .unwrap_or((default, Source::Default));
    Setting { value, source }
}

/// `None` for an unset or empty variable.
pub(crate) fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|value| !value.trim().is_empty())
}

/// The 1-based line and column of byte `offset` in `text`.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.chars().rev().take_while(|&c| c != '\n').count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn resolve(flags: Flags, env: &[(&str, &str)], file: ConfigFile) -> anyhow::Result<Settings> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        let lookup = move |name: &str| env.get(name).cloned();
        let home = home(&lookup)?;
        Settings::resolve(&flags, &lookup, home, &file)
    }

    #[test]
    fn flags_beat_env_beats_file_beats_default() {
        let flags = Flags {
            api_url: Some("http://flag:1".into()),
            ..Flags::default()
        };
        let env = [
            ("HOME", "/home/ada"),
            (ENV_API_URL, "http://env:2"),
            (ENV_HOST, "0.0.0.0"),
        ];
        let file = ConfigFile {
            api_url: Some(UrlList::One("http://file:3".into())),
            host: Some("10.0.0.1".into()),
            port: Some(5555),
            ..ConfigFile::default()
        };
        let settings = resolve(flags, &env, file).unwrap();
        assert_eq!(settings.api_url.source, Source::Flag);
        assert_eq!(settings.api_url.value, "http://flag:1");
        assert_eq!(settings.host.source, Source::Env(ENV_HOST));
        assert_eq!(
            settings.port,
            Setting {
                value: 5555,
                source: Source::ConfigFile
            }
        );
        assert_eq!(settings.database_url.source, Source::Default);
        assert_eq!(
            settings.database_url.value,
            "sqlite:///home/ada/.orch/orch.db"
        );
        assert_eq!(settings.home.source, Source::Default);
    }

    #[test]
    fn the_api_url_may_list_several_replicas() {
        let path = Path::new("/h/config.toml");
        let file = ConfigFile::parse(path, "api_url = [\"a:1\", \"http://b:2/\"]").unwrap();
        let env = [("HOME", "/h")];
        let settings = resolve(Flags::default(), &env, file).unwrap();
        assert_eq!(settings.api_url.value, "http://a:1,http://b:2");
        assert_eq!(settings.api_url.source, Source::ConfigFile);
        let file = ConfigFile::parse(path, "api_url = \"http://a:1, http://b:2\"").unwrap();
        assert_eq!(file.api_url.unwrap().joined(), "http://a:1,http://b:2");
        let error = ConfigFile::parse(path, "api_url = 4200").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("a URL (\"http://host:4200\") or a list of URLs"),
            "{error}"
        );
        let env = [("HOME", "/h"), (ENV_API_URL, "http://a:1,http://b:2")];
        let settings = resolve(Flags::default(), &env, ConfigFile::default()).unwrap();
        assert_eq!(settings.api_url.value, "http://a:1,http://b:2");
    }

    #[test]
    fn orch_home_moves_the_database_and_config_file() {
        let settings = resolve(
            Flags::default(),
            &[(ENV_HOME, "/srv/orch")],
            ConfigFile::default(),
        )
        .unwrap();
        assert_eq!(settings.home.source, Source::Env(ENV_HOME));
        assert_eq!(settings.database_url.value, "sqlite:///srv/orch/orch.db");
        assert_eq!(settings.config_file, PathBuf::from("/srv/orch/config.toml"));
        assert_eq!(settings.api_url.value, DEFAULT_API_URL);
    }

    #[test]
    fn empty_variables_count_as_unset() {
        let env = [("HOME", "/h"), (ENV_API_URL, ""), (ENV_PORT, "")];
        let settings = resolve(Flags::default(), &env, ConfigFile::default()).unwrap();
        assert_eq!(settings.api_url.source, Source::Default);
        assert_eq!(settings.port.source, Source::Default);
    }

    #[test]
    fn a_bad_port_variable_is_a_usage_error() {
        let env = [("HOME", "/h"), (ENV_PORT, "http")];
        let error = resolve(Flags::default(), &env, ConfigFile::default()).unwrap_err();
        assert_eq!(crate::error::exit_code(&error), crate::error::EXIT_USAGE);
        assert!(error.to_string().contains("ORCH_PORT=http"), "{error}");
    }

    #[test]
    fn config_file_errors_point_at_the_line() {
        let text = "port = 5555\nprot = 1\n";
        let error = ConfigFile::parse(Path::new("/h/config.toml"), text).unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with("/h/config.toml:2:1: unknown field `prot`"),
            "{message}"
        );
    }
}
