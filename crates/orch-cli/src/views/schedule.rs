//! A deployment's schedules and its upcoming runs, in each schedule's zone and in UTC.

use chrono::{DateTime, Utc};
use comfy_table::Cell;
use orch_proto::v1 as proto;
use serde::Serialize;

use super::compact_json;
use super::deployment::ScheduleView;
use crate::output::{self, table};
use crate::views::prelude::*;

/// The next fire time of a schedule.
#[derive(Debug, Clone, Serialize)]
pub struct UpcomingView {
    /// The schedule's slug.
    pub schedule: String,
    /// The schedule's IANA zone.
    pub timezone: String,
    /// The fire time in that zone, RFC 3339 with its offset.
    pub local: String,
    /// The fire time in UTC, RFC 3339.
    pub utc: String,
    /// The run already created for it, if any.
    pub flow_run_id: Option<String>,
    /// That run's name.
    pub flow_run_name: Option<String>,
    /// That run's state name.
    pub state: Option<String>,
    /// Why the schedule's calendar skips this slot (no run is made), e.g.
    /// "XNYS closed: Thanksgiving Day"; only with `--show-skipped`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    #[serde(skip)]
    local_display: String,
    #[serde(skip)]
    utc_display: String,
}

/// The upcoming runs of one deployment.
#[derive(Debug, Clone, Serialize)]
pub struct UpcomingListView {
    /// `flow/name`.
    pub deployment: String,
    /// Whether the deployment is paused (its schedules then create no runs).
    pub paused: bool,
    /// Soonest first.
    pub runs: Vec<UpcomingView>,
    /// When none of them gets a run: why, as the server explains it (no
    /// active schedule, a calendar closing every slot in the window looked
    /// at, schedules that fire no more).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub empty_reason: Option<String>,
}

impl From<&proto::UpcomingRun> for UpcomingView {
    fn from(run: &proto::UpcomingRun) -> Self {
        let at = DateTime::from_timestamp_micros(run.fire_time_micros).unwrap_or_default();
        let (local, local_display) = match orch_core::parse_timezone(&run.timezone) {
            Ok(tz) => {
                let local = at.with_timezone(&tz);
                (
                    local.to_rfc3339(),
                    local.format("%a %Y-%m-%d %H:%M:%S %Z").to_string(),
                )
            }
            Err(_) => (
                at.to_rfc3339(),
                at.format("%a %Y-%m-%d %H:%M:%S UTC").to_string(),
            ),
        };
        let non_empty = |text: &str| (!text.is_empty()).then(|| text.to_owned());
        Self {
            schedule: run.slug.clone(),
            timezone: run.timezone.clone(),
            local,
            utc: at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            flow_run_id: non_empty(&run.flow_run_id),
            flow_run_name: non_empty(&run.flow_run_name),
            state: non_empty(&run.state_name),
            skipped: non_empty(&run.skipped),
            local_display,
            utc_display: at
                .with_timezone(&Utc)
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string(),
        }
    }
}

impl From<&proto::GetUpcomingRunsResponse> for UpcomingListView {
    fn from(reply: &proto::GetUpcomingRunsResponse) -> Self {
        Self {
            deployment: reply.deployment.clone(),
            paused: reply.paused,
            runs: reply.runs.iter().map(UpcomingView::from).collect(),
            empty_reason: (!reply.empty_reason.is_empty()).then(|| reply.empty_reason.clone()),
        }
    }
}

impl UpcomingListView {
    /// What to say when the table is empty: the server's reason, and where
    /// to see the slots a calendar skips.
    pub fn empty_message(&self) -> String {
        let reason = self
            .empty_reason
            .clone()
            .unwrap_or_else(|| "No upcoming runs.".into());
        if reason.contains("calendar") {
            format!(
                "{reason} See the skipped slots with 'orch deployment upcoming {} \
                 --show-skipped', or check the calendar's dates.",
                self.deployment
            )
        } else {
            reason
        }
    }
}

/// Writes the upcoming runs as a table; `empty` says why there is none.
pub fn print_upcoming(list: &UpcomingListView, empty: &str) -> std::io::Result<()> {
    if list.paused {
        output::write_line(format!(
            "Deployment {} is paused: these slots create no runs until 'orch deployment resume {}'.",
            list.deployment, list.deployment
        ))?;
    }
    let mut rows = table::new(&["LOCAL TIME", "TIME ZONE", "UTC", "SCHEDULE", "RUN"]);
    for run in &list.runs {
        let created = match (&run.flow_run_name, &run.state, &run.skipped) {
            (_, _, Some(reason)) => format!("skipped: {reason}"),
            (Some(name), Some(state), None) => format!("{name} ({state})"),
            _ => "-".to_owned(),
        };
        rows.add_row([
            Cell::new(&run.local_display),
            Cell::new(&run.timezone),
            Cell::new(&run.utc_display),
            Cell::new(&run.schedule),
            Cell::new(created),
        ]);
    }
    table::print(rows, empty)
}

/// Writes a deployment's schedules as a table.
pub fn print_schedules(schedules: &[ScheduleView]) -> std::io::Result<()> {
    let mut rows = table::new(&["SLUG", "WHEN", "TIME ZONE", "ACTIVE", "PARAMETERS"]);
    for schedule in schedules {
        rows.add_row([
            Cell::new(&schedule.slug),
            Cell::new(schedule.when()),
            Cell::new(&schedule.rule.timezone),
            Cell::new(if schedule.rule.active { "yes" } else { "no" }),
            Cell::new(compact_json(&schedule.rule.parameters)),
        ]);
    }
    table::print(
        rows,
        "No schedules. Add one with 'orch deployment schedule create FLOW/NAME --cron EXPR'.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upcoming_times_show_the_zone_and_utc() {
        let view = UpcomingView::from(&proto::UpcomingRun {
            slug: "market-hours".into(),
            timezone: "America/New_York".into(),
            fire_time_micros: DateTime::parse_from_rfc3339("2026-03-09T13:00:00Z")
                .unwrap()
                .timestamp_micros(),
            ..Default::default()
        });
        assert_eq!(view.local, "2026-03-09T09:00:00-04:00");
        assert_eq!(view.local_display, "Mon 2026-03-09 09:00:00 EDT");
        assert_eq!(view.utc, "2026-03-09T13:00:00Z");
        assert_eq!(view.flow_run_id, None);
    }
}
