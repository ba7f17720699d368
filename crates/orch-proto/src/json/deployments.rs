//! Deployments and their schedules.

use serde::Serialize;
use serde_json::Value;

use super::{FlowRun, json_object, rfc3339};
use crate::v1 as pb;

/// A deployment: how and where a flow runs, and when by itself.
#[derive(Debug, Clone, Serialize)]
pub struct Deployment {
    /// The full id.
    pub id: String,
    /// `flow/name`.
    pub full_name: String,
    /// The flow's name.
    pub flow: String,
    /// The flow's id.
    pub flow_id: String,
    /// The deployment's name within its flow.
    pub name: String,
    /// The command that starts a run (argv on the worker host).
    pub entrypoint: Vec<String>,
    /// The folder that relative entrypoint programs are resolved against.
    pub base_dir: String,
    /// The work pool its runs go to.
    pub work_pool: String,
    /// Default parameters.
    pub parameters: Value,
    /// Tags copied onto its runs.
    pub tags: Vec<String>,
    /// What it is for.
    pub description: String,
    /// Flow-level retries of a Failed or Crashed run.
    pub retries: u32,
    /// Seconds between retries.
    pub retry_delay_seconds: u64,
    /// Whether it is paused (no runs handed out, schedules create none).
    pub paused: bool,
    /// When it runs by itself.
    pub schedules: Vec<Schedule>,
    /// Which missed slots run after downtime: `all`, `latest` or `skip`.
    pub catch_up: String,
    /// A scheduled run later than this many seconds is not started.
    pub max_lateness_seconds: Option<u64>,
    /// Most runs in flight at once; `null` is unlimited.
    pub concurrency_limit: Option<u32>,
    /// At the limit: `enqueue` or `cancel-new`.
    pub collision_strategy: String,
    /// Days its finished runs are kept; `null`: the server's retention.
    pub retention_runs_days: Option<u32>,
    /// Days its finished runs' logs are kept; `null`: the server's retention.
    pub retention_logs_days: Option<u32>,
    /// Variables its runs receive.
    pub env: std::collections::BTreeMap<String, String>,
    /// Names of the secrets its runs receive as variables (never values).
    pub secrets: Vec<String>,
    /// Container settings for a `docker` pool (deploy file keys), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<Value>,
    /// When it was created.
    pub created_at: Option<String>,
    /// When it last changed.
    pub updated_at: Option<String>,
    /// Its newest runs, where the answer includes them (the REST API).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_runs: Option<Vec<FlowRun>>,
    /// Its scheduled runs due later, soonest first, where the answer includes them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upcoming_runs: Option<Vec<FlowRun>>,
    /// `created_at` in microseconds.
    #[serde(skip)]
    pub created_micros: i64,
    /// `updated_at` in microseconds.
    #[serde(skip)]
    pub updated_micros: i64,
}

impl Deployment {
    /// The record of `deployment`, without runs.
    pub fn from_proto(deployment: &pb::Deployment) -> Deployment {
        let spec = deployment.spec.clone().unwrap_or_default();
        let or_default = |value: &str, default: &str| {
            if value.is_empty() {
                default.to_owned()
            } else {
                value.to_owned()
            }
        };
        Deployment {
            id: deployment.id.clone(),
            full_name: format!("{}/{}", spec.flow, spec.name),
            flow_id: deployment.flow_id.clone(),
            schedules: spec.schedules.iter().map(Schedule::from_proto).collect(),
            parameters: json_object(&spec.parameters_json),
            catch_up: or_default(&spec.catch_up, "latest"),
            collision_strategy: or_default(&spec.collision_strategy, "enqueue"),
            max_lateness_seconds: spec.max_lateness_seconds,
            concurrency_limit: spec.concurrency_limit,
            retention_runs_days: spec.retention_runs_days,
            retention_logs_days: spec.retention_logs_days,
            env: spec.env.into_iter().collect(),
            container: serde_json::from_str(&spec.container_json).ok(),
            secrets: spec.secrets,
            flow: spec.flow,
            name: spec.name,
            entrypoint: spec.entrypoint,
            base_dir: spec.base_dir,
            work_pool: spec.work_pool,
            tags: spec.tags,
            description: spec.description,
            retries: spec.retries,
            retry_delay_seconds: spec.retry_delay_seconds,
            paused: deployment.paused,
            created_at: rfc3339(deployment.created_at_micros),
            updated_at: rfc3339(deployment.updated_at_micros),
            last_runs: None,
            upcoming_runs: None,
            created_micros: deployment.created_at_micros,
            updated_micros: deployment.updated_at_micros,
        }
    }
}

impl From<&pb::Deployment> for Deployment {
    fn from(deployment: &pb::Deployment) -> Deployment {
        Deployment::from_proto(deployment)
    }
}

/// One schedule of a deployment: the deploy file's schedule, its calendar by name.
#[derive(Debug, Clone, Serialize)]
pub struct Schedule {
    /// Its identifier within the deployment.
    pub slug: String,
    /// When it fires, in which zone, with which parameters (the deploy
    /// file's rule, declared once in `orch_core`; its keys stand at the top level).
    #[serde(flatten)]
    pub rule: orch_core::ScheduleRule,
    /// The name of the calendar it follows (no slot on its closed days), if any.
    pub calendar: Option<String>,
    /// On the calendar's short days, no slot after the close.
    pub skip_after_close: bool,
}

impl Schedule {
    /// The record of `schedule`. Parameters that are not a JSON object (which
    /// no server sends) are shown as `{"parameters_unreadable": <the text>}`
    /// rather than hidden.
    pub fn from_proto(schedule: &pb::ScheduleSpec) -> Schedule {
        let parameters = crate::runs::readable_object(&schedule.parameters_json);
        Schedule {
            slug: schedule.slug.clone(),
            rule: crate::deploy::schedule_rule(schedule, parameters),
            calendar: serde_json::from_str::<Value>(&schedule.calendar_json)
                .ok()
                .and_then(|calendar| calendar["name"].as_str().map(str::to_owned)),
            skip_after_close: schedule.skip_after_close.unwrap_or(true),
        }
    }
}

impl From<&pb::ScheduleSpec> for Schedule {
    fn from(schedule: &pb::ScheduleSpec) -> Schedule {
        Schedule::from_proto(schedule)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_policies_read_as_their_defaults() {
        let deployment = pb::Deployment {
            spec: Some(pb::DeploymentSpec {
                flow: "trading-flow".into(),
                name: "trading-production".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let record = Deployment::from_proto(&deployment);
        assert_eq!(record.full_name, "trading-flow/trading-production");
        assert_eq!(
            (record.catch_up.as_str(), record.collision_strategy.as_str()),
            ("latest", "enqueue")
        );
        let value = serde_json::to_value(&record).unwrap();
        assert!(value.get("last_runs").is_none());
    }

    #[test]
    fn a_schedule_prints_its_rule_at_the_top_level_and_its_calendar_by_name() {
        let wire = pb::ScheduleSpec {
            slug: "open".into(),
            interval_seconds: Some(60),
            anchor: Some("2026-01-01T09:30:00".into()),
            timezone: "America/New_York".into(),
            parameters_json: r#"{"n": 3}"#.into(),
            calendar_json: r#"{"name": "XNYS"}"#.into(),
            ..Default::default()
        };
        let value = serde_json::to_value(Schedule::from_proto(&wire)).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "slug": "open",
                "cron": null,
                "interval_seconds": 60,
                "anchor": "2026-01-01T09:30:00",
                "rrule": null,
                "timezone": "America/New_York",
                "active": false,
                "parameters": {"n": 3},
                "calendar": "XNYS",
                "skip_after_close": true,
            })
        );
        let unreadable = pb::ScheduleSpec {
            parameters_json: "not json".into(),
            ..Default::default()
        };
        let value = serde_json::to_value(Schedule::from_proto(&unreadable)).unwrap();
        assert_eq!(value["parameters"]["parameters_unreadable"], "not json");
        assert!(value["calendar"].is_null(), "{value}");
    }
}
