//! Deployments and their schedules.

use std::time::Duration;

use comfy_table::Cell;

use super::compact_json;
use crate::output::{self, table, time};

pub use orch_proto::json::{Deployment as DeploymentView, Schedule as ScheduleView};

/// How the CLI shows a schedule.
pub trait ScheduleDisplay {
    /// `cron 0 * * * *`, `every 1h`, `every 4m from 2026-01-01T00:00:00`, `rrule ...`.
    fn when(&self) -> String;
    /// `cron 0 * * * * (UTC)`, `every 1h`, `rrule ...`, with `, inactive` when it is off.
    fn summary(&self) -> String;
}

impl ScheduleDisplay for ScheduleView {
    fn when(&self) -> String {
        let rule = &self.rule;
        let when = if let Some(cron) = &rule.cron {
            format!("cron {cron}")
        } else if let Some(seconds) = rule.interval_seconds {
            format!("every {}", time::duration(Duration::from_secs(seconds)))
        } else if let Some(rrule) = &rule.rrule {
            format!("rrule {rrule}")
        } else {
            "never".to_owned()
        };
        let when = match &rule.anchor {
            Some(anchor) => format!("{when} from {anchor}"),
            None => when,
        };
        match &self.calendar {
            Some(calendar) => format!("{when}, {calendar} days"),
            None => when,
        }
    }

    fn summary(&self) -> String {
        let when = self.when();
        let rule = &self.rule;
        let zone = if rule.timezone.is_empty() || rule.interval_seconds.is_some() {
            String::new()
        } else {
            format!(" ({})", rule.timezone)
        };
        let inactive = if rule.active { "" } else { ", inactive" };
        format!("{when}{zone}{inactive}")
    }
}

/// How the CLI shows a deployment.
trait DeploymentDisplay {
    /// `paused` or `active`.
    fn status(&self) -> &'static str;
    /// The schedules in one short phrase.
    fn schedules_summary(&self) -> String;
}

impl DeploymentDisplay for DeploymentView {
    fn status(&self) -> &'static str {
        if self.paused { "paused" } else { "active" }
    }

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
            Cell::new(&deployment.full_name),
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
        ("Deployment", deployment.full_name.clone()),
        ("Flow ID", deployment.flow_id.clone()),
        ("Description", output::or_dash(&deployment.description)),
        ("Status", deployment.status().to_owned()),
        ("Work pool", deployment.work_pool.clone()),
        ("Entrypoint", deployment.entrypoint.join(" ")),
        ("Base dir", deployment.base_dir.clone()),
        ("Parameters", compact_json(&deployment.parameters)),
        ("Tags", output::or_dash(&deployment.tags.join(", "))),
        (
            "Env",
            output::or_dash(
                &deployment
                    .env
                    .iter()
                    .map(|(name, value)| format!("{name}={value}"))
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
        ),
        ("Secrets", output::or_dash(&deployment.secrets.join(", "))),
        (
            "Container",
            deployment
                .container
                .as_ref()
                .map_or_else(|| "-".to_owned(), compact_json),
        ),
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
            Cell::new(if schedule.rule.active { "yes" } else { "no" }),
            Cell::new(compact_json(&schedule.rule.parameters)),
        ]);
    }
    table::print(schedules, "(none)")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> orch_core::ScheduleRule {
        orch_core::ScheduleRule {
            cron: None,
            interval_seconds: None,
            anchor: None,
            rrule: None,
            timezone: "UTC".to_owned(),
            active: true,
            parameters: serde_json::Map::new(),
        }
    }

    fn schedule(rule: orch_core::ScheduleRule) -> ScheduleView {
        ScheduleView {
            slug: "hourly".to_owned(),
            rule,
            calendar: None,
            skip_after_close: true,
        }
    }

    #[test]
    fn schedules_summarise_their_kind() {
        let cron = schedule(orch_core::ScheduleRule {
            cron: Some("0 * * * *".into()),
            ..rule()
        });
        assert_eq!(cron.summary(), "cron 0 * * * * (UTC)");
        let interval = schedule(orch_core::ScheduleRule {
            interval_seconds: Some(3600),
            active: false,
            ..rule()
        });
        assert_eq!(interval.summary(), "every 1h, inactive");
    }
}
