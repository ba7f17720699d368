//! Flow runs: the list table, the inspect listing with its state history, and JSON.

use std::time::Duration;

use comfy_table::Cell;
use orch_proto::v1 as proto;
use serde::Serialize;
use serde_json::Value;

use super::state::StateView;
use super::task_run::{self, TaskRunView};
use super::{compact_json, json_object, non_empty};
use crate::output::{self, table, time};

/// A flow run.
#[derive(Debug, Clone, Serialize)]
pub struct FlowRunView {
    /// The full id.
    pub id: String,
    /// The human-friendly name, e.g. `brisk-otter`.
    pub name: String,
    /// The flow's name.
    pub flow: String,
    /// `flow/name` of the deployment.
    pub deployment: String,
    /// The deployment's id.
    pub deployment_id: String,
    /// The work pool it runs in.
    pub work_pool: String,
    /// The current state.
    pub state: StateView,
    /// The run's parameters, merged over the deployment's defaults.
    pub parameters: Value,
    /// When it is due to start.
    pub expected_start: Option<String>,
    /// When it last started running.
    pub start: Option<String>,
    /// When it ended.
    pub end: Option<String>,
    /// Seconds from start to end (or to now while running).
    pub duration_seconds: Option<f64>,
    /// Times it has started, across retries.
    pub run_count: u32,
    /// The worker running it.
    pub worker_id: Option<String>,
    /// That worker's name.
    pub worker_name: Option<String>,
    /// The exit code of its process, once it exited.
    pub exit_code: Option<i32>,
    /// Its tags.
    pub tags: Vec<String>,
    /// When it was created.
    pub created: Option<String>,
    /// The schedule that created it; `null` for a run started by hand.
    pub schedule: Option<String>,
    #[serde(skip)]
    start_micros: i64,
    #[serde(skip)]
    expected_start_micros: i64,
    #[serde(skip)]
    end_micros: i64,
    #[serde(skip)]
    created_micros: i64,
}

impl From<&proto::FlowRun> for FlowRunView {
    fn from(run: &proto::FlowRun) -> Self {
        let state = StateView::from_proto(run.state.as_ref());
        let start_micros = run.start_micros.unwrap_or(0);
        let end_micros = run.end_micros.unwrap_or(0);
        let mut view = Self {
            id: run.id.clone(),
            name: run.name.clone(),
            flow: run.flow.clone(),
            deployment: run.deployment.clone(),
            deployment_id: run.deployment_id.clone(),
            work_pool: run.work_pool.clone(),
            state,
            parameters: json_object(&run.parameters_json),
            schedule: non_empty(&run.schedule_slug),
            expected_start: time::rfc3339(run.expected_start_micros),
            start: time::rfc3339(start_micros),
            end: time::rfc3339(end_micros),
            duration_seconds: None,
            run_count: run.run_count,
            worker_id: non_empty(&run.worker_id),
            worker_name: non_empty(&run.worker_name),
            exit_code: run.exit_code,
            tags: run.tags.clone(),
            created: time::rfc3339(run.created_at_micros),
            start_micros,
            expected_start_micros: run.expected_start_micros,
            end_micros,
            created_micros: run.created_at_micros,
        };
        view.duration_seconds = view.duration().map(|duration| duration.as_secs_f64());
        view
    }
}

impl FlowRunView {
    /// How long it ran: start to end, or start to now while it is still going.
    pub fn duration(&self) -> Option<Duration> {
        match (self.end_micros, self.state.is_terminal()) {
            (0, false) => time::between(self.start_micros, time::now_micros()),
            (0, true) => None,
            (end, _) => time::between(self.start_micros, end),
        }
    }

    /// `name (id)`.
    pub fn label(&self) -> String {
        format!("{} ({})", self.name, self.id)
    }

    /// The run's parameters on one line.
    pub fn parameters_line(&self) -> String {
        compact_json(&self.parameters)
    }

    /// Label/value rows of every field, for `inspect`.
    pub fn details(&self) -> Vec<(&'static str, String)> {
        let worker = match (&self.worker_name, &self.worker_id) {
            (Some(name), Some(id)) => format!("{name} ({id})"),
            (None, Some(id)) => id.clone(),
            _ => "-".to_owned(),
        };
        vec![
            ("ID", self.id.clone()),
            ("Name", self.name.clone()),
            ("Flow", self.flow.clone()),
            (
                "Deployment",
                format!("{} ({})", self.deployment, self.deployment_id),
            ),
            ("Work pool", self.work_pool.clone()),
            ("State", self.state.painted_summary()),
            ("Parameters", self.parameters_line()),
            ("Tags", output::or_dash(&self.tags.join(", "))),
            (
                "Schedule",
                self.schedule
                    .clone()
                    .unwrap_or_else(|| "- (started by hand)".to_owned()),
            ),
            (
                "Expected start",
                time::timestamp_with_age(self.expected_start_micros),
            ),
            ("Started", time::timestamp_with_age(self.start_micros)),
            ("Ended", time::timestamp_with_age(self.end_micros)),
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
            ("Created", time::timestamp_with_age(self.created_micros)),
        ]
    }

    /// When it started, or, before that, when it is due.
    fn start_or_expected_micros(&self) -> i64 {
        if self.start_micros != 0 {
            self.start_micros
        } else {
            self.expected_start_micros
        }
    }
}

/// A run with its state history, for `flow-run inspect`.
#[derive(Debug, Clone, Serialize)]
pub struct FlowRunDetailView {
    /// The run.
    #[serde(flatten)]
    pub run: FlowRunView,
    /// Its states, oldest first.
    pub history: Vec<StateView>,
    /// Its task runs, in the order they started.
    pub task_runs: Vec<TaskRunView>,
}

impl From<&proto::FlowRunDetail> for FlowRunDetailView {
    fn from(detail: &proto::FlowRunDetail) -> Self {
        Self {
            run: detail
                .run
                .as_ref()
                .map(FlowRunView::from)
                .unwrap_or_else(|| FlowRunView::from(&proto::FlowRun::default())),
            history: detail
                .history
                .iter()
                .map(|state| StateView::from_proto(Some(state)))
                .collect(),
            task_runs: detail.task_runs.iter().map(TaskRunView::from).collect(),
        }
    }
}

/// Writes the runs as a table.
pub fn print_table(runs: &[FlowRunView]) -> std::io::Result<()> {
    let mut rows = table::new(&["ID", "NAME", "DEPLOYMENT", "STATE", "START", "DURATION"]);
    for run in runs {
        rows.add_row([
            Cell::new(output::short_id(&run.id)),
            Cell::new(&run.name),
            Cell::new(&run.deployment),
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
            Cell::new(time::timestamp(state.timestamp_micros)),
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
    Ok(())
}
