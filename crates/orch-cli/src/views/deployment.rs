//! Deployments and their schedules.

use std::time::Duration;

use comfy_table::Cell;
use orch_proto::v1 as proto;
use serde::Serialize;
use serde_json::Value;

use super::{compact_json, json_object};
use crate::output::{self, table, time};

/// A deployment: how to start runs of a flow, where, and when.
#[derive(Debug, Clone, Serialize)]
pub struct DeploymentView {
    /// The full id.
    pub id: String,
    /// `flow/name`.
    pub reference: String,
    /// The flow's name.
    pub flow: String,
    /// The flow's id.
    pub flow_id: String,
    /// The deployment's name within its flow.
    pub name: String,
    /// The command that starts a run.
    pub entrypoint: Vec<String>,
    /// The folder that relative entrypoint programs are resolved against.
    pub base_dir: String,
    /// The work pool its runs go to.
    pub work_pool: String,
    /// Default parameters.
    pub parameters: Value,
    /// Its tags.
    pub tags: Vec<String>,
    /// What it is for.
    pub description: String,
    /// Retries of a failed run.
    pub retries: u32,
    /// Seconds between retries.
    pub retry_delay_seconds: u64,
    /// Whether its schedules are paused.
    pub paused: bool,
    /// When it runs by itself.
    pub schedules: Vec<ScheduleView>,
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
    /// When it was created (RFC 3339).
    pub created: Option<String>,
    /// When it last changed (RFC 3339).
    pub updated: Option<String>,
    #[serde(skip)]
    created_micros: i64,
    #[serde(skip)]
    updated_micros: i64,
}

/// One schedule of a deployment.
#[derive(Debug, Clone, Serialize)]
pub struct ScheduleView {
    /// Its identifier within the deployment.
    pub slug: String,
    /// A cron expression.
    pub cron: Option<String>,
    /// A fixed interval.
    pub interval_seconds: Option<u64>,
    /// When intervals are counted from.
    pub anchor: Option<String>,
    /// An RFC 5545 recurrence rule.
    pub rrule: Option<String>,
    /// The time zone its times are read in.
    pub timezone: String,
    /// Whether it creates runs.
    pub active: bool,
    /// Parameters merged over the deployment's.
    pub parameters: Value,
}

impl From<&proto::ScheduleSpec> for ScheduleView {
    fn from(schedule: &proto::ScheduleSpec) -> Self {
        Self {
            slug: schedule.slug.clone(),
            cron: schedule.cron.clone(),
            interval_seconds: schedule.interval_seconds,
            anchor: schedule.anchor.clone(),
            rrule: schedule.rrule.clone(),
            timezone: schedule.timezone.clone(),
            active: schedule.active,
            parameters: json_object(&schedule.parameters_json),
        }
    }
}

impl ScheduleView {
    /// `cron 0 * * * *`, `every 1h`, `every 4m from 2026-01-01T00:00:00`, `rrule ...`.
    pub fn when(&self) -> String {
        let when = if let Some(cron) = &self.cron {
            format!("cron {cron}")
        } else if let Some(seconds) = self.interval_seconds {
            format!("every {}", time::duration(Duration::from_secs(seconds)))
        } else if let Some(rrule) = &self.rrule {
            format!("rrule {rrule}")
        } else {
            "never".to_owned()
        };
        match &self.anchor {
            Some(anchor) => format!("{when} from {anchor}"),
            None => when,
        }
    }

    /// `cron 0 * * * * (UTC)`, `every 1h`, `rrule ...`, with `, inactive` when it is off.
    pub fn summary(&self) -> String {
        let when = self.when();
        let zone = if self.timezone.is_empty() || self.interval_seconds.is_some() {
            String::new()
        } else {
            format!(" ({})", self.timezone)
        };
        let inactive = if self.active { "" } else { ", inactive" };
        format!("{when}{zone}{inactive}")
    }
}

impl From<&proto::Deployment> for DeploymentView {
    fn from(deployment: &proto::Deployment) -> Self {
        let spec = deployment.spec.clone().unwrap_or_default();
        Self {
            id: deployment.id.clone(),
            reference: format!("{}/{}", spec.flow, spec.name),
            flow_id: deployment.flow_id.clone(),
            schedules: spec.schedules.iter().map(ScheduleView::from).collect(),
            parameters: json_object(&spec.parameters_json),
            catch_up: if spec.catch_up.is_empty() {
                "latest".to_owned()
            } else {
                spec.catch_up.clone()
            },
            max_lateness_seconds: spec.max_lateness_seconds,
            concurrency_limit: spec.concurrency_limit,
            retention_runs_days: spec.retention_runs_days,
            retention_logs_days: spec.retention_logs_days,
            collision_strategy: if spec.collision_strategy.is_empty() {
                "enqueue".to_owned()
            } else {
                spec.collision_strategy.clone()
            },
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
            created: time::rfc3339(deployment.created_at_micros),
            updated: time::rfc3339(deployment.updated_at_micros),
            created_micros: deployment.created_at_micros,
            updated_micros: deployment.updated_at_micros,
        }
    }
}

impl DeploymentView {
    /// `paused` or `active`.
    fn status(&self) -> &'static str {
        if self.paused { "paused" } else { "active" }
    }

    /// The schedules in one short phrase.
    fn schedules_summary(&self) -> String {
        match self.schedules.as_slice() {
            [] => "-".to_owned(),
            [only] => only.summary(),
            many => format!("{} schedules", many.len()),
        }
    }
}

/// Writes the deployments as a table.
pub fn print_table(deployments: &[DeploymentView]) -> std::io::Result<()> {
    let mut rows = table::new(&[
        "DEPLOYMENT",
        "WORK POOL",
        "STATUS",
        "SCHEDULE",
        "TAGS",
        "UPDATED",
    ]);
    for deployment in deployments {
        rows.add_row([
            Cell::new(&deployment.reference),
            Cell::new(&deployment.work_pool),
            Cell::new(deployment.status()),
            Cell::new(deployment.schedules_summary()),
            Cell::new(output::or_dash(&deployment.tags.join(", "))),
            Cell::new(time::timestamp_with_age(deployment.updated_micros)),
        ]);
    }
    table::print(
        rows,
        "No deployments found. Declare them in deploy/orch.toml and run 'orch deploy'.",
    )
}

/// Writes every field, then the schedules as a table.
pub fn print_detail(deployment: &DeploymentView) -> std::io::Result<()> {
    let retries = match deployment.retries {
        0 => "none".to_owned(),
        count => format!(
            "{count}, {} apart",
            time::duration(Duration::from_secs(deployment.retry_delay_seconds))
        ),
    };
    let catch_up = match deployment.max_lateness_seconds {
        Some(seconds) => format!(
            "{}, never later than {}",
            deployment.catch_up,
            time::duration(Duration::from_secs(seconds))
        ),
        None => deployment.catch_up.clone(),
    };
    let concurrency = match deployment.concurrency_limit {
        Some(limit) => format!("{limit} at once, then {}", deployment.collision_strategy),
        None => "unlimited".to_owned(),
    };
    let retention = match (
        deployment.retention_runs_days,
        deployment.retention_logs_days,
    ) {
        (None, None) => "the server's".to_owned(),
        (runs, logs) => {
            let days = |value: Option<u32>| {
                value.map_or_else(|| "server's".to_owned(), |d| format!("{d}d"))
            };
            format!("runs {}, logs {}", days(runs), days(logs))
        }
    };
    table::print_details(&[
        ("ID", deployment.id.clone()),
        ("Deployment", deployment.reference.clone()),
        ("Flow ID", deployment.flow_id.clone()),
        ("Description", output::or_dash(&deployment.description)),
        ("Status", deployment.status().to_owned()),
        ("Work pool", deployment.work_pool.clone()),
        ("Entrypoint", deployment.entrypoint.join(" ")),
        ("Base dir", deployment.base_dir.clone()),
        ("Parameters", compact_json(&deployment.parameters)),
        ("Tags", output::or_dash(&deployment.tags.join(", "))),
        ("Retries", retries),
        ("Catch-up", catch_up),
        ("Concurrency", concurrency),
        ("Retention", retention),
        (
            "Created",
            time::timestamp_with_age(deployment.created_micros),
        ),
        (
            "Updated",
            time::timestamp_with_age(deployment.updated_micros),
        ),
    ])?;
    output::write_line("")?;
    output::write_line("Schedules:")?;
    let mut schedules = table::new(&["SLUG", "WHEN", "ACTIVE", "PARAMETERS"]);
    for schedule in &deployment.schedules {
        schedules.add_row([
            Cell::new(&schedule.slug),
            Cell::new(schedule.summary()),
            Cell::new(if schedule.active { "yes" } else { "no" }),
            Cell::new(compact_json(&schedule.parameters)),
        ]);
    }
    table::print(schedules, "(none)")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule() -> ScheduleView {
        ScheduleView {
            slug: "hourly".to_owned(),
            cron: None,
            interval_seconds: None,
            anchor: None,
            rrule: None,
            timezone: "UTC".to_owned(),
            active: true,
            parameters: Value::Null,
        }
    }

    #[test]
    fn schedules_summarise_their_kind() {
        let cron = ScheduleView {
            cron: Some("0 * * * *".into()),
            ..schedule()
        };
        assert_eq!(cron.summary(), "cron 0 * * * * (UTC)");
        let interval = ScheduleView {
            interval_seconds: Some(3600),
            active: false,
            ..schedule()
        };
        assert_eq!(interval.summary(), "every 1h, inactive");
    }
}
