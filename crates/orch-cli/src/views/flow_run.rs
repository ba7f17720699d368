//! Flow runs: the list table, the inspect listing with its state history, and JSON.

use std::time::Duration;

use comfy_table::Cell;

use super::compact_json;
use super::state::StateDisplay;
use super::task_run;
use crate::output::{self, table, time};

pub use orch_proto::json::{FlowRun as FlowRunView, FlowRunDetail as FlowRunDetailView};

/// How the CLI shows a run.
pub trait FlowRunDisplay {
    /// How long it ran: start to end, or start to now while it is still going.
    fn duration(&self) -> Option<Duration>;
    /// `name (id)`.
    fn label(&self) -> String;
    /// The run's parameters on one line.
    fn parameters_line(&self) -> String;
    /// Label/value rows of every field, for `inspect`.
    fn details(&self) -> Vec<(&'static str, String)>;
    /// When it started, or, before that, when it is due.
    fn start_or_expected_micros(&self) -> i64;
    /// For a subflow run, its parent run and task run; `-` for a top-level run.
    fn parent_line(&self) -> String;
    /// Its name, marked `↳ ` when it is a subflow run.
    fn listed_name(&self) -> String;
}

impl FlowRunDisplay for FlowRunView {
    fn duration(&self) -> Option<Duration> {
        self.duration_seconds.map(Duration::from_secs_f64)
    }

    fn label(&self) -> String {
        format!("{} ({})", self.name, self.id)
    }

    fn parameters_line(&self) -> String {
        compact_json(&self.parameters)
    }

    fn details(&self) -> Vec<(&'static str, String)> {
        let worker = match (self.worker_name.as_str(), &self.worker_id) {
            ("", Some(id)) => id.clone(),
            (name, Some(id)) => format!("{name} ({id})"),
            _ => "-".to_owned(),
        };
        vec![
            ("ID", self.id.clone()),
            ("Name", self.name.clone()),
            ("Flow", self.flow.clone()),
            (
                "Deployment",
                format!(
                    "{} ({})",
                    self.deployment,
                    self.deployment_id.as_deref().unwrap_or("-")
                ),
            ),
            ("Work pool", output::or_dash(&self.work_pool)),
            ("Parent run", self.parent_line()),
            ("State", self.state.painted_summary()),
            ("Parameters", self.parameters_line()),
            ("Tags", output::or_dash(&self.tags.join(", "))),
            (
                "Schedule",
                self.schedule_slug
                    .clone()
                    .unwrap_or_else(|| "- (started by hand)".to_owned()),
            ),
            (
                "Expected start",
                time::timestamp_with_age(self.expected_start),
            ),
            (
                "Started",
                time::timestamp_with_age(self.start_time.unwrap_or(0)),
            ),
            (
                "Ended",
                time::timestamp_with_age(self.end_time.unwrap_or(0)),
            ),
            (
                "Duration",
                self.duration()
                    .map_or_else(|| "-".to_owned(), time::duration),
            ),
            ("Run count", self.run_count.to_string()),
            ("Worker", worker),
            (
                "Exit code",
                self.exit_code
                    .map_or_else(|| "-".to_owned(), |code| code.to_string()),
            ),
            (
                "Resources",
                self.usage
                    .map_or_else(|| "-".to_owned(), |usage| usage.summary()),
            ),
            ("Created", time::timestamp_with_age(self.created_at)),
        ]
    }

    fn start_or_expected_micros(&self) -> i64 {
        match self.start_time {
            Some(start) if start != 0 => start,
            _ => self.expected_start,
        }
    }

    fn parent_line(&self) -> String {
        match (&self.parent_flow_run_id, &self.parent_task_run_id) {
            (Some(run), Some(task)) => {
                format!("{run} (subflow run of it, called by task run {task})")
            }
            (Some(run), None) => format!("{run} (subflow run of it)"),
            _ => "-".to_owned(),
        }
    }

    fn listed_name(&self) -> String {
        match self.parent_flow_run_id {
            Some(_) => format!("↳ {}", self.name),
            None => self.name.clone(),
        }
    }
}

/// Writes the runs as a table.
pub fn print_table(runs: &[FlowRunView]) -> std::io::Result<()> {
    let mut rows = table::new(&["ID", "NAME", "DEPLOYMENT", "STATE", "START", "DURATION"]);
    for run in runs {
        rows.add_row([
            Cell::new(output::short_id(&run.id)),
            Cell::new(run.listed_name()),
            Cell::new(if run.deployment.is_empty() {
                &run.flow
            } else {
                &run.deployment
            }),
            table::state(&run.state),
            Cell::new(time::timestamp_with_age(run.start_or_expected_micros())),
            table::number(
                run.duration()
                    .map_or_else(|| "-".to_owned(), time::duration),
            ),
        ]);
    }
    table::print(rows, "No flow runs found.")
}

/// Writes the run's fields, then its state history as a table.
pub fn print_detail(detail: &FlowRunDetailView) -> std::io::Result<()> {
    table::print_details(&detail.run.details())?;
    output::write_line("")?;
    output::write_line("State history:")?;
    let mut history = table::new(&["TIME", "STATE", "MESSAGE"]);
    for state in &detail.history {
        history.add_row([
            Cell::new(time::timestamp(state.timestamp)),
            table::state(state),
            Cell::new(output::or_dash(&state.message)),
        ]);
    }
    table::print(history, "(none)")?;
    if !detail.task_runs.is_empty() {
        output::write_line("")?;
        output::write_line("Task runs:")?;
        task_run::print_table(&detail.task_runs)?;
    }
    if !detail.subflow_runs.is_empty() {
        output::write_line("")?;
        output::write_line("Subflow runs:")?;
        print_table(&detail.subflow_runs)?;
    }
    Ok(())
}

/// What `orch flow-run delete` deleted (or would, on a dry run); the same
/// shape as the answer of `DELETE /api/flow-runs`.
#[derive(Debug, serde::Serialize)]
pub struct DeletedView {
    /// The deleted runs, when named by id.
    pub flow_runs: Vec<FlowRunView>,
    /// Runs deleted.
    pub runs: u64,
    /// Log lines deleted with them.
    pub log_lines: u64,
    /// Whether nothing was deleted, only counted.
    pub dry_run: bool,
}

impl TryFrom<&orch_proto::v1::DeleteFlowRunsResponse> for DeletedView {
    type Error = orch_proto::runs::WireError;

    fn try_from(
        reply: &orch_proto::v1::DeleteFlowRunsResponse,
    ) -> Result<Self, orch_proto::runs::WireError> {
        Ok(DeletedView {
            flow_runs: reply
                .flow_runs
                .iter()
                .map(FlowRunView::try_from)
                .collect::<Result<_, _>>()?,
            runs: reply.runs,
            log_lines: reply.log_lines,
            dry_run: reply.dry_run,
        })
    }
}

/// One line per deleted run, then the totals.
pub fn print_deleted(deleted: &DeletedView) -> std::io::Result<()> {
    for run in &deleted.flow_runs {
        output::write_line(format!("Deleted flow run {}", run.label()))?;
    }
    let verb = if deleted.dry_run {
        "Would delete"
    } else {
        "Deleted"
    };
    let hint = if deleted.dry_run {
        " (dry run: nothing was deleted; run again without --dry-run to delete them)"
    } else {
        ""
    };
    output::write_line(format!(
        "{verb} {} flow run(s) and {} log line(s){hint}",
        deleted.runs, deleted.log_lines
    ))
}
