//! The `deploy/orch.toml` format: which flows are deployed, how they are
//! started, where they run and on what schedules.
//!
//! ```toml
//! [[deployments]]
//! flow = "trading-flow"
//! name = "trading-production"
//! entrypoint = ["sentinel", "trading-flow"]
//! work_pool = "sentinel-pool"
//! parameters = { force = false }
//!
//! [[deployments.schedules]]
//! cron = "*/15 9-15 * * 1-5"
//! timezone = "America/New_York"
//! ```
//!
//! The TOML shape is a contract: keys may be added, never renamed.

mod automations;
mod calendars;
mod check;
mod container;
mod convert;
mod parameters;
mod raw;
mod schedule;
mod source;
#[cfg(test)]
mod test_support;

use serde_json::{Map, Value};

use crate::calendar::CalendarSpec;
use crate::error::Result;
use crate::policy::RunPolicy;
pub use automations::DeploymentReference;
use calendars::Declared;
pub use calendars::ReadFile;
use source::Source;

/// A deployment as declared in a deployment file, validated.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DeploymentSpec {
    /// Name of the flow this deploys; letters, digits, `-`, `_` and `.`.
    pub flow: String,
    /// Name of the deployment, unique within its flow; same characters as `flow`.
    pub name: String,
    /// The program to run and its arguments; never empty, and the program is
    /// never an empty string.
    pub entrypoint: Vec<String>,
    /// The work pool whose workers run it; same characters as `flow`.
    pub work_pool: String,
    /// Default parameters of its runs.
    pub parameters: Map<String, Value>,
    /// Free-form labels.
    pub tags: Vec<String>,
    /// What it does; `""` when the file gives none.
    pub description: String,
    /// How many times a failed run is retried (0 = never).
    pub retries: u32,
    /// How long to wait before each retry.
    pub retry_delay_seconds: u64,
    /// Whether its schedules are paused.
    pub paused: bool,
    /// When runs are created automatically; may be empty.
    pub schedules: Vec<ScheduleSpec>,
    /// Catch-up after downtime and the deployment's concurrency limit
    /// (keys `catch_up`, `max_lateness_seconds`, `concurrency_limit`,
    /// `collision_strategy`).
    #[serde(flatten)]
    pub policy: RunPolicy,
    /// How long this deployment's finished runs and logs are kept, over the
    /// server's settings (key `retention = { runs_days, logs_days }`).
    #[serde(skip_serializing_if = "crate::Retention::is_empty")]
    pub retention: crate::Retention,
    /// Variables and secrets its runs receive (keys `env` and `secrets`).
    #[serde(flatten)]
    pub environment: crate::FlowEnvironment,
    /// Container settings for a `docker` pool, over the pool's defaults
    /// (keys `image`, `memory`, `cpus`, `volumes`, `network`, `user`,
    /// `pull_policy`, `keep_container`).
    #[serde(flatten)]
    pub container: crate::ContainerSettings,
}

/// One schedule of a deployment. Exactly one of `cron`, `interval_seconds`
/// and `rrule` is set.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ScheduleSpec {
    /// Identifies the schedule within its deployment; defaults to its
    /// position, `"0"`, `"1"`, ...
    pub slug: String,
    /// When it fires, in which zone, and with which parameters: the part a
    /// deploy file and the REST API's schedule record share (its keys stand
    /// at the top level).
    #[serde(flatten)]
    pub rule: ScheduleRule,
    /// The calendar whose closed days (and, with `skip_after_close`, the
    /// hours after its early closes) get no slot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calendar: Option<CalendarSpec>,
    /// On a calendar's short days, create no slot after the close; `true`
    /// by default.
    pub skip_after_close: bool,
}

/// When a schedule fires and what its runs receive: the fields every form of
/// a schedule (deploy file, store, REST record) shares, declared once.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ScheduleRule {
    /// A cron expression (checked by [`crate::Schedule::parse`]).
    pub cron: Option<String>,
    /// A fixed interval, always > 0.
    pub interval_seconds: Option<u64>,
    /// Start of the interval grid or of the recurrence rule, as written
    /// (e.g. `"2026-01-01T00:00:00"`); not with `cron`.
    pub anchor: Option<String>,
    /// An RFC 5545 recurrence rule (checked by [`crate::Schedule::parse`]).
    pub rrule: Option<String>,
    /// IANA time zone the schedule is read in; `"UTC"` by default.
    pub timezone: String,
    /// Whether it creates runs; `true` by default.
    pub active: bool,
    /// Parameters merged over the deployment's for runs it creates.
    pub parameters: Map<String, Value>,
}

/// Parses and validates a deployment file. `path` is only used in error messages.
///
/// # Errors
///
/// [`Error::DeployFile`](crate::Error::DeployFile) for the first problem
/// found: invalid TOML, an unknown key, a wrong type, a missing required key
/// or a broken rule (see [`DeploymentSpec`] and [`ScheduleSpec`]), with the
/// line and column of the offending text.
pub fn parse_deploy_file(path: &str, text: &str) -> Result<Vec<DeploymentSpec>> {
    let refuse = |_: &str| -> std::result::Result<String, String> {
        Err("this caller does not read files; register the file with `orch deploy`".into())
    };
    parse_deploy_file_with(path, text, &refuse).map(|file| file.deployments)
}

/// A parsed deployment file: its deployments and the calendars it declares.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployFile {
    /// The `[[deployments]]`, in order.
    pub deployments: Vec<DeploymentSpec>,
    /// The `[[calendars]]`, by name.
    pub calendars: Vec<CalendarSpec>,
    /// The `[[automations]]`, in order.
    pub automations: Vec<crate::automation::AutomationSpec>,
    /// The deployments the automations name, with where they are named.
    pub automation_deployments: Vec<DeploymentReference>,
}

impl DeployFile {
    /// The first deployment an automation names that is neither declared in
    /// the file nor `registered`, as an error at its line.
    pub fn unknown_deployment(&self, registered: &dyn Fn(&str) -> bool) -> Option<crate::Error> {
        self.automation_deployments
            .iter()
            .find(|reference| {
                let declared = self
                    .deployments
                    .iter()
                    .any(|d| format!("{}/{}", d.flow, d.name) == reference.deployment);
                !declared && !registered(&reference.deployment)
            })
            .map(|reference| reference.unknown.clone())
    }
}

/// Parses and validates a deployment file; `read` reads the files it names
/// (calendar `file`s), relative to it.
///
/// # Errors
///
/// As for [`parse_deploy_file`].
pub fn parse_deploy_file_with(path: &str, text: &str, read: ReadFile<'_>) -> Result<DeployFile> {
    let source = Source::new(path, text);
    let mut raw: raw::RawFile = toml::from_str(text).map_err(|err| source.toml_error(&err))?;
    let calendars = Declared::parse(&source, std::mem::take(&mut raw.calendars), read)?;
    let (automations, automation_deployments) =
        automations::automations(&source, std::mem::take(&mut raw.automations))?;
    let deployments = convert::deployments(&source, raw, &calendars)?;
    Ok(DeployFile {
        deployments,
        calendars: calendars.into_specs(),
        automations,
        automation_deployments,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::Error;

    const EXAMPLE: &str = r#"
[[deployments]]
flow = "trading-flow"
name = "trading-production"
entrypoint = ["sentinel", "trading-flow"]
work_pool = "sentinel-pool"
parameters = { force = false }
tags = ["trading"]
description = "Signal fusion and decision"
retries = 1
retry_delay_seconds = 60
paused = false                     # optional, default false

[[deployments.schedules]]
slug = "market-hours"              # optional; default: its position "0", "1", ...
cron = "*/15 9-15 * * 1-5"
timezone = "America/New_York"      # optional, default "UTC"
active = true                      # optional, default true
parameters = { force = false }     # optional

[[deployments.schedules]]
interval_seconds = 240
anchor = "2026-01-01T00:00:00"
active = false

[[deployments.schedules]]
rrule = "FREQ=DAILY;BYHOUR=18"
parameters = { force = true, window = { days = 5 } }

[[deployments]]
flow = "reports"
name = "daily"
entrypoint = ["python", "-m", "reports"]
work_pool = "default"
"#;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn a_full_file_parses_to_the_expected_specs() {
        let specs = parse_deploy_file("deploy/orch.toml", EXAMPLE).unwrap();
        let expected = vec![
            DeploymentSpec {
                flow: "trading-flow".into(),
                name: "trading-production".into(),
                entrypoint: vec!["sentinel".into(), "trading-flow".into()],
                work_pool: "sentinel-pool".into(),
                parameters: object(json!({"force": false})),
                tags: vec!["trading".into()],
                description: "Signal fusion and decision".into(),
                retries: 1,
                retry_delay_seconds: 60,
                paused: false,
                schedules: vec![
                    ScheduleSpec {
                        slug: "market-hours".into(),
                        rule: ScheduleRule {
                            cron: Some("*/15 9-15 * * 1-5".into()),
                            interval_seconds: None,
                            anchor: None,
                            rrule: None,
                            timezone: "America/New_York".into(),
                            active: true,
                            parameters: object(json!({"force": false})),
                        },
                        calendar: None,
                        skip_after_close: true,
                    },
                    ScheduleSpec {
                        slug: "1".into(),
                        rule: ScheduleRule {
                            cron: None,
                            interval_seconds: Some(240),
                            anchor: Some("2026-01-01T00:00:00".into()),
                            rrule: None,
                            timezone: "UTC".into(),
                            active: false,
                            parameters: Map::new(),
                        },
                        calendar: None,
                        skip_after_close: true,
                    },
                    ScheduleSpec {
                        slug: "2".into(),
                        rule: ScheduleRule {
                            cron: None,
                            interval_seconds: None,
                            anchor: None,
                            rrule: Some("FREQ=DAILY;BYHOUR=18".into()),
                            timezone: "UTC".into(),
                            active: true,
                            parameters: object(json!({"force": true, "window": {"days": 5}})),
                        },
                        calendar: None,
                        skip_after_close: true,
                    },
                ],
                policy: RunPolicy::default(),
                retention: crate::Retention::default(),
                environment: crate::FlowEnvironment::default(),
                container: crate::ContainerSettings::default(),
            },
            DeploymentSpec {
                flow: "reports".into(),
                name: "daily".into(),
                entrypoint: vec!["python".into(), "-m".into(), "reports".into()],
                work_pool: "default".into(),
                parameters: Map::new(),
                tags: vec![],
                description: String::new(),
                retries: 0,
                retry_delay_seconds: 0,
                paused: false,
                schedules: vec![],
                policy: RunPolicy::default(),
                retention: crate::Retention::default(),
                environment: crate::FlowEnvironment::default(),
                container: crate::ContainerSettings::default(),
            },
        ];
        assert_eq!(specs, expected);
    }

    #[test]
    fn specs_serialize_with_the_file_s_key_names() {
        let specs = parse_deploy_file("deploy/orch.toml", EXAMPLE).unwrap();
        let json = serde_json::to_value(&specs[0]).unwrap();
        assert_eq!(json["work_pool"], "sentinel-pool");
        assert_eq!(json["schedules"][0]["cron"], "*/15 9-15 * * 1-5");
        assert_eq!(json["schedules"][1]["interval_seconds"], 240);
        assert_eq!(json["catch_up"], "latest");
        assert_eq!(json["collision_strategy"], "enqueue");
    }

    /// Parses `text` as `f.toml`, expecting an error; returns (line, column, message).
    fn error(text: &str) -> (Option<usize>, Option<usize>, String) {
        match parse_deploy_file("f.toml", text) {
            Err(Error::DeployFile {
                path,
                line,
                column,
                message,
            }) => {
                assert_eq!(path, "f.toml");
                assert!(!message.contains('\n'), "multi-line message: {message}");
                (line, column, message)
            }
            other => panic!("expected a DeployFile error, got {other:?}"),
        }
    }

    #[test]
    fn invalid_toml_is_reported_at_its_position() {
        let (line, column, message) = error("[[deployments]]\nflow = \"x\nname = \"y\"\n");
        assert_eq!((line, column), (Some(2), Some(10)));
        assert!(message.starts_with("invalid basic string"), "{message}");
    }

    #[test]
    fn unknown_keys_are_refused_with_a_suggestion() {
        let text = "[[deployments]]\nflow = \"f\"\nname = \"n\"\nentripoint = [\"x\"]\nwork_pool = \"p\"\n";
        let (line, column, message) = error(text);
        assert_eq!((line, column), (Some(4), Some(1)));
        assert!(
            message.starts_with(
                "unknown field `entripoint`, expected one of `flow`, `name`, `entrypoint`"
            ),
            "{message}"
        );
        assert!(
            message.ends_with("(did you mean \"entrypoint\"?)"),
            "{message}"
        );
    }

    #[test]
    fn unknown_top_level_keys_are_refused() {
        let (line, _, message) = error("deployment = []\n");
        assert_eq!(line, Some(1));
        assert!(
            message.starts_with("unknown field `deployment`"),
            "{message}"
        );
        assert!(
            message.contains("did you mean \"deployments\""),
            "{message}"
        );
    }

    #[test]
    fn unknown_schedule_keys_are_refused() {
        let text = "[[deployments]]\nflow = \"f\"\nname = \"n\"\nentrypoint = [\"x\"]\nwork_pool = \"p\"\n\n[[deployments.schedules]]\ncron = \"* * * * *\"\ntimezon = \"UTC\"\n";
        let (line, column, message) = error(text);
        assert_eq!((line, column), (Some(9), Some(1)));
        assert!(message.starts_with("unknown field `timezon`"), "{message}");
        assert!(message.contains("did you mean \"timezone\""), "{message}");
    }

    #[test]
    fn wrong_types_are_refused_at_the_value() {
        let text = "[[deployments]]\nflow = \"f\"\nname = \"n\"\nentrypoint = [\"x\"]\nwork_pool = \"p\"\nretries = \"three\"\n";
        let (line, column, message) = error(text);
        assert_eq!((line, column), (Some(6), Some(11)));
        assert_eq!(
            message,
            "`retries`: invalid type: string \"three\", expected i64"
        );
    }

    #[test]
    fn wrong_types_inside_arrays_and_schedules_are_refused() {
        let text = "[[deployments]]\nflow = \"f\"\nname = \"n\"\nentrypoint = [\"x\", 2]\nwork_pool = \"p\"\n";
        let (line, column, message) = error(text);
        assert_eq!((line, column), (Some(4), Some(20)));
        assert_eq!(message, "invalid type: integer `2`, expected a string");

        let text = "[[deployments]]\nflow = \"f\"\nname = \"n\"\nentrypoint = [\"x\"]\nwork_pool = \"p\"\n[[deployments.schedules]]\ncron = \"* * * * *\"\nactive = \"yes\"\n";
        let (line, column, message) = error(text);
        assert_eq!((line, column), (Some(8), Some(10)));
        assert_eq!(
            message,
            "`active`: invalid type: string \"yes\", expected a boolean"
        );
    }

    #[test]
    fn missing_required_keys_are_refused() {
        let text = "\n[[deployments]]\nflow = \"f\"\nentrypoint = [\"x\"]\nwork_pool = \"p\"\n";
        let (line, _, message) = error(text);
        assert_eq!(line, Some(2));
        assert_eq!(message, "missing field `name`");
    }

    #[test]
    fn an_empty_file_is_refused() {
        let (line, column, message) = error("# nothing yet\n");
        assert_eq!((line, column), (None, None));
        assert!(
            message.starts_with("no deployments are declared"),
            "{message}"
        );
    }
}
