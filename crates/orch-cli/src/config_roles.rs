//! The settings of each role that are not about where the server is: the
//! server's timings (`[server]`), the worker's pacing (`[worker]`) and a
//! client's request timeout (`[client]`). Each is resolved like every other
//! setting (flag, then `ORCH_*` variable, then the config file's table, then
//! the default of `orch_core::defaults`) and shown by `orch config view`.
//!
//! ```toml
//! [server]
//! late_after_seconds = 15
//! worker_lease_seconds = 30
//! max_streams_per_client = 32
//! automation_env = ["SLACK_WEBHOOK_URL"]
//!
//! [worker]
//! heartbeat_seconds = 5
//! poll_seconds = 2
//! kill_grace_seconds = 10
//! shutdown_grace_seconds = 30
//!
//! [client]
//! request_timeout_seconds = 30
//! ```

use std::time::Duration;

use orch_core::defaults;
use serde::Deserialize;

use crate::config::{Setting, non_empty, pick};
use crate::error::usage;

/// `ORCH_LATE_AFTER_SECONDS`.
pub const ENV_LATE_AFTER: &str = orch_core::env_vars::LATE_AFTER_SECONDS;
/// `ORCH_WORKER_LEASE_SECONDS`.
pub const ENV_WORKER_LEASE: &str = orch_core::env_vars::WORKER_LEASE_SECONDS;
/// `ORCH_TOKEN_CACHE_SECONDS`.
pub const ENV_TOKEN_CACHE: &str = orch_core::env_vars::TOKEN_CACHE_SECONDS;
/// `ORCH_MAX_STREAMS_PER_CLIENT`.
pub const ENV_MAX_STREAMS: &str = orch_core::env_vars::MAX_STREAMS_PER_CLIENT;
/// `ORCH_AUTOMATION_ENV` (comma-separated names).
pub const ENV_AUTOMATION_ENV: &str = orch_core::env_vars::AUTOMATION_ENV;
/// `ORCH_WORKER_HEARTBEAT_SECONDS`.
pub const ENV_HEARTBEAT: &str = orch_core::env_vars::WORKER_HEARTBEAT_SECONDS;
/// `ORCH_WORKER_POLL_SECONDS`.
pub const ENV_POLL: &str = orch_core::env_vars::WORKER_POLL_SECONDS;
/// `ORCH_WORKER_KILL_GRACE_SECONDS`.
pub const ENV_KILL_GRACE: &str = orch_core::env_vars::WORKER_KILL_GRACE_SECONDS;
/// `ORCH_WORKER_SHUTDOWN_GRACE_SECONDS`.
pub const ENV_SHUTDOWN_GRACE: &str = orch_core::env_vars::WORKER_SHUTDOWN_GRACE_SECONDS;
/// `ORCH_REQUEST_TIMEOUT_SECONDS`.
pub const ENV_REQUEST_TIMEOUT: &str = orch_core::env_vars::REQUEST_TIMEOUT_SECONDS;

/// `[server]` of the config file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServerFile {
    /// Seconds after its slot a Scheduled run is Late.
    pub late_after_seconds: Option<f64>,
    /// Seconds a silent worker keeps its runs.
    pub worker_lease_seconds: Option<f64>,
    /// Seconds a checked API key is reused (0: no cache).
    pub token_cache_seconds: Option<f64>,
    /// Streams one client address may hold open.
    pub max_streams_per_client: Option<usize>,
    /// Variables of the server's environment automations may read.
    pub automation_env: Option<Vec<String>>,
}

/// `[worker]` of the config file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WorkerFile {
    /// Seconds between heartbeats.
    pub heartbeat_seconds: Option<f64>,
    /// Seconds between claims without a wake-up.
    pub poll_seconds: Option<f64>,
    /// Seconds between SIGTERM and SIGKILL on cancel.
    pub kill_grace_seconds: Option<f64>,
    /// Seconds running flows may take to finish at shutdown.
    pub shutdown_grace_seconds: Option<f64>,
    /// How flows are isolated (`auto`, `namespaces`, `landlock`, `none`).
    pub isolation: Option<String>,
    /// The user flows run as (a root worker only).
    pub run_as: Option<String>,
}

/// `[client]` of the config file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClientFile {
    /// Seconds a call waits for the server's answer.
    pub request_timeout_seconds: Option<f64>,
}

/// The role flags given on the command line.
#[derive(Debug, Clone, Default)]
pub struct RoleFlags {
    /// `--late-after-seconds`.
    pub late_after_seconds: Option<f64>,
    /// `--worker-lease-seconds`.
    pub worker_lease_seconds: Option<f64>,
    /// `--token-cache-seconds`.
    pub token_cache_seconds: Option<f64>,
    /// `--max-streams-per-client`.
    pub max_streams_per_client: Option<usize>,
    /// `--automation-env` (repeatable; `None` when not given).
    pub automation_env: Option<Vec<String>>,
    /// `--heartbeat-seconds`.
    pub heartbeat_seconds: Option<f64>,
    /// `--poll-seconds`.
    pub poll_seconds: Option<f64>,
    /// `--kill-grace-seconds`.
    pub kill_grace_seconds: Option<f64>,
    /// `--shutdown-grace-seconds`.
    pub shutdown_grace_seconds: Option<f64>,
    /// `--isolation`.
    pub isolation: Option<orch_worker::Isolation>,
    /// `--run-as`.
    pub run_as: Option<String>,
}

/// The server's timings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerRole {
    /// `server.late_after_seconds`.
    pub late_after: Setting<Duration>,
    /// `server.worker_lease_seconds`.
    pub worker_lease: Setting<Duration>,
    /// `server.token_cache_seconds` (zero: no cache).
    pub token_cache: Setting<Duration>,
    /// `server.max_streams_per_client`.
    pub max_streams_per_client: Setting<usize>,
    /// `server.automation_env`: the variables of the server's environment
    /// automation placeholders may read.
    pub automation_env: Setting<Vec<String>>,
}

/// The worker's pacing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerRole {
    /// `worker.heartbeat_seconds`.
    pub heartbeat: Setting<Duration>,
    /// `worker.poll_seconds`.
    pub poll: Setting<Duration>,
    /// `worker.kill_grace_seconds`.
    pub kill_grace: Setting<Duration>,
    /// `worker.shutdown_grace_seconds`.
    pub shutdown_grace: Setting<Duration>,
    /// `worker.isolation`.
    pub isolation: Setting<orch_worker::Isolation>,
    /// `worker.run_as`.
    pub run_as: Setting<Option<String>>,
}

/// A client command's settings beyond the API URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRole {
    /// `client.request_timeout_seconds`.
    pub request_timeout: Setting<Duration>,
}

/// The three roles' settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles {
    /// `orch server start` and `orch up`.
    pub server: ServerRole,
    /// `orch worker start` (and the workers of `orch up`).
    pub worker: WorkerRole,
    /// Every command that calls the server.
    pub client: ClientRole,
}

/// Where one seconds setting comes from: its flag, variable and config key,
/// and its range (`orch_core::settings`), checked the same for each source.
struct Seconds<'a> {
    flag: (&'static str, Option<f64>),
    env: &'static str,
    file: (&'static str, Option<f64>),
    range: orch_core::settings::Range,
    default: Duration,
    environment: &'a dyn Fn(&str) -> Option<String>,
}

impl Seconds<'_> {
    /// Resolves it to a duration in its range, naming the origin of a bad value.
    fn resolve(self) -> anyhow::Result<Setting<Duration>> {
        let range = self.range;
        let flag = self
            .flag
            .1
            .map(|seconds| range.duration(self.flag.0, seconds).map_err(usage))
            .transpose()?;
        let env = non_empty((self.environment)(self.env))
            .map(|text| {
                range
                    .parse(self.env, &text)
                    .and_then(|seconds| range.duration(self.env, seconds))
                    .map_err(usage)
            })
            .transpose()?;
        let file = self
            .file
            .1
            .map(|seconds| range.duration(self.file.0, seconds).map_err(usage))
            .transpose()?;
        Ok(pick(flag, (self.env, env), file, self.default))
    }
}

/// A count setting (`max_streams_per_client`) from its three sources,
/// each checked by `range`.
fn count(
    flag: (&'static str, Option<usize>),
    env: &'static str,
    file: (&'static str, Option<usize>),
    range: orch_core::settings::Range,
    default: usize,
    environment: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Setting<usize>> {
    let checked = |origin: &str, value: usize| {
        range
            .check_whole(origin, value as i128)
            .map(|value| value as usize)
            .map_err(usage)
    };
    let flag_value = flag.1.map(|value| checked(flag.0, value)).transpose()?;
    let env_value = non_empty(environment(env))
        .map(|text| {
            range
                .parse(env, &text)
                .and_then(|value| range.check(env, value))
                .map(|value| value as usize)
                .map_err(usage)
        })
        .transpose()?;
    let file_value = file.1.map(|value| checked(file.0, value)).transpose()?;
    Ok(pick(flag_value, (env, env_value), file_value, default))
}

impl Roles {
    /// Resolves every role setting.
    pub fn resolve(
        flags: &RoleFlags,
        environment: &dyn Fn(&str) -> Option<String>,
        server: &ServerFile,
        worker: &WorkerFile,
        client: &ClientFile,
    ) -> anyhow::Result<Roles> {
        use orch_core::settings;
        Ok(Roles {
            server: ServerRole {
                late_after: Seconds {
                    flag: ("--late-after-seconds", flags.late_after_seconds),
                    env: ENV_LATE_AFTER,
                    file: ("server.late_after_seconds", server.late_after_seconds),
                    range: settings::LATE_AFTER_SECONDS,
                    default: defaults::LATE_AFTER,
                    environment,
                }
                .resolve()?,
                worker_lease: Seconds {
                    flag: ("--worker-lease-seconds", flags.worker_lease_seconds),
                    env: ENV_WORKER_LEASE,
                    file: ("server.worker_lease_seconds", server.worker_lease_seconds),
                    range: settings::WORKER_LEASE_SECONDS,
                    default: defaults::WORKER_LEASE,
                    environment,
                }
                .resolve()?,
                token_cache: Seconds {
                    flag: ("--token-cache-seconds", flags.token_cache_seconds),
                    env: ENV_TOKEN_CACHE,
                    file: ("server.token_cache_seconds", server.token_cache_seconds),
                    range: settings::TOKEN_CACHE_SECONDS,
                    default: defaults::TOKEN_CACHE,
                    environment,
                }
                .resolve()?,
                max_streams_per_client: count(
                    ("--max-streams-per-client", flags.max_streams_per_client),
                    ENV_MAX_STREAMS,
                    (
                        "server.max_streams_per_client",
                        server.max_streams_per_client,
                    ),
                    settings::MAX_STREAMS_PER_CLIENT,
                    defaults::MAX_STREAMS_PER_CLIENT,
                    environment,
                )?,
                automation_env: automation_env(flags, environment, server)?,
            },
            worker: WorkerRole {
                heartbeat: Seconds {
                    flag: ("--heartbeat-seconds", flags.heartbeat_seconds),
                    env: ENV_HEARTBEAT,
                    file: ("worker.heartbeat_seconds", worker.heartbeat_seconds),
                    range: settings::HEARTBEAT_SECONDS,
                    default: defaults::HEARTBEAT_INTERVAL,
                    environment,
                }
                .resolve()?,
                poll: Seconds {
                    flag: ("--poll-seconds", flags.poll_seconds),
                    env: ENV_POLL,
                    file: ("worker.poll_seconds", worker.poll_seconds),
                    range: settings::POLL_SECONDS,
                    default: defaults::POLL_INTERVAL,
                    environment,
                }
                .resolve()?,
                kill_grace: Seconds {
                    flag: ("--kill-grace-seconds", flags.kill_grace_seconds),
                    env: ENV_KILL_GRACE,
                    file: ("worker.kill_grace_seconds", worker.kill_grace_seconds),
                    range: settings::KILL_GRACE_SECONDS,
                    default: defaults::KILL_GRACE,
                    environment,
                }
                .resolve()?,
                shutdown_grace: Seconds {
                    flag: ("--shutdown-grace-seconds", flags.shutdown_grace_seconds),
                    env: ENV_SHUTDOWN_GRACE,
                    file: (
                        "worker.shutdown_grace_seconds",
                        worker.shutdown_grace_seconds,
                    ),
                    range: settings::SHUTDOWN_GRACE_SECONDS,
                    default: defaults::SHUTDOWN_GRACE,
                    environment,
                }
                .resolve()?,
                isolation: crate::config_isolation::isolation(
                    flags.isolation,
                    environment,
                    worker.isolation.as_deref(),
                )?,
                run_as: crate::config_isolation::run_as(
                    flags.run_as.clone(),
                    environment,
                    worker.run_as.as_deref(),
                ),
            },
            client: ClientRole {
                request_timeout: Seconds {
                    flag: ("", None),
                    env: ENV_REQUEST_TIMEOUT,
                    file: (
                        "client.request_timeout_seconds",
                        client.request_timeout_seconds,
                    ),
                    range: settings::REQUEST_TIMEOUT_SECONDS,
                    default: defaults::REQUEST_TIMEOUT,
                    environment,
                }
                .resolve()?,
            },
        })
    }
}

/// `--automation-env`, `ORCH_AUTOMATION_ENV` (comma-separated) or
/// `server.automation_env`, each name checked by the one rule of
/// placeholder names.
fn automation_env(
    flags: &RoleFlags,
    environment: &dyn Fn(&str) -> Option<String>,
    server: &ServerFile,
) -> anyhow::Result<Setting<Vec<String>>> {
    let check = |origin: &str, names: Vec<String>| -> anyhow::Result<Vec<String>> {
        match names
            .iter()
            .find(|name| !orch_core::automation::is_placeholder_name(name))
        {
            Some(bad) => Err(usage(format!(
                "{origin}: {bad:?} is not a variable name; use ASCII letters, digits and '_', \
                 not starting with a digit (e.g. SLACK_WEBHOOK_URL)"
            ))),
            None => Ok(names),
        }
    };
    let flag = flags
        .automation_env
        .clone()
        .map(|names| check("--automation-env", names))
        .transpose()?;
    let env = non_empty(environment(ENV_AUTOMATION_ENV))
        .map(|text| {
            let names = text.split(',').map(|n| n.trim().to_owned()).collect();
            check(&format!("{ENV_AUTOMATION_ENV}={text}"), names)
        })
        .transpose()?;
    let file = server
        .automation_env
        .clone()
        .map(|names| check("config file: server.automation_env", names))
        .transpose()?;
    Ok(pick(flag, (ENV_AUTOMATION_ENV, env), file, Vec::new()))
}

impl WorkerRole {
    /// These settings applied to a worker's config.
    pub fn apply(&self, config: &mut orch_worker::WorkerConfig) {
        config.heartbeat_interval = self.heartbeat.value;
        config.poll_interval = self.poll.value;
        config.kill_grace = self.kill_grace.value;
        config.shutdown_grace = self.shutdown_grace.value;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::config::Source;

    fn resolve(
        flags: &RoleFlags,
        env: &[(&str, &str)],
        worker: &WorkerFile,
    ) -> anyhow::Result<Roles> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        let lookup = move |name: &str| env.get(name).cloned();
        let server = ServerFile {
            late_after_seconds: Some(20.0),
            ..ServerFile::default()
        };
        Roles::resolve(flags, &lookup, &server, worker, &ClientFile::default())
    }

    #[test]
    fn each_role_setting_is_layered_flag_env_file_default() {
        let flags = RoleFlags {
            heartbeat_seconds: Some(1.5),
            ..RoleFlags::default()
        };
        let worker = WorkerFile {
            heartbeat_seconds: Some(9.0),
            poll_seconds: Some(4.0),
            kill_grace_seconds: Some(3.0),
            ..WorkerFile::default()
        };
        let env = [(ENV_KILL_GRACE, "7"), (ENV_REQUEST_TIMEOUT, "2.5")];
        let roles = resolve(&flags, &env, &worker).unwrap();
        let heartbeat = &roles.worker.heartbeat;
        assert_eq!(heartbeat.value, Duration::from_millis(1500));
        assert_eq!(heartbeat.source, Source::Flag);
        assert_eq!(roles.worker.poll.source, Source::ConfigFile);
        assert_eq!(roles.worker.kill_grace.value, Duration::from_secs(7));
        assert_eq!(roles.worker.kill_grace.source, Source::Env(ENV_KILL_GRACE));
        assert_eq!(roles.worker.shutdown_grace.value, defaults::SHUTDOWN_GRACE);
        assert_eq!(roles.worker.shutdown_grace.source, Source::Default);
        assert_eq!(roles.server.late_after.value, Duration::from_secs(20));
        assert_eq!(roles.server.worker_lease.value, defaults::WORKER_LEASE);
        assert_eq!(
            roles.client.request_timeout.value,
            Duration::from_millis(2500)
        );
    }

    #[test]
    fn bad_values_name_their_origin() {
        let flags = RoleFlags {
            poll_seconds: Some(0.0),
            ..RoleFlags::default()
        };
        let error = resolve(&flags, &[], &WorkerFile::default()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "`--poll-seconds` must be a number of seconds (0.1 to 3600), not 0"
        );
        let error = resolve(
            &RoleFlags::default(),
            &[(ENV_HEARTBEAT, "soon")],
            &WorkerFile::default(),
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "`ORCH_WORKER_HEARTBEAT_SECONDS` must be a number of seconds (0.1 to 3600), \
             not \"soon\""
        );
        let worker = WorkerFile {
            shutdown_grace_seconds: Some(-1.0),
            ..WorkerFile::default()
        };
        let error = resolve(&RoleFlags::default(), &[], &worker).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("`worker.shutdown_grace_seconds` must be"),
            "{error}"
        );
    }

    #[test]
    fn automation_variables_come_from_flag_env_or_file_and_are_names() {
        let roles = resolve(
            &RoleFlags::default(),
            &[(ENV_AUTOMATION_ENV, "SLACK_URL, ALERT_TO")],
            &WorkerFile::default(),
        )
        .unwrap();
        assert_eq!(
            roles.server.automation_env.value,
            vec!["SLACK_URL".to_string(), "ALERT_TO".to_string()]
        );
        assert_eq!(
            roles.server.automation_env.source,
            Source::Env(ENV_AUTOMATION_ENV)
        );
        let flags = RoleFlags {
            automation_env: Some(vec!["A".into(), "../B".into()]),
            ..RoleFlags::default()
        };
        let error = resolve(&flags, &[], &WorkerFile::default()).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("--automation-env: \"../B\" is not a variable name"),
            "{error}"
        );
    }
}
