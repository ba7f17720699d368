//! Task runs: the steps of a flow run, their attempts and dependency edges.

use comfy_table::Cell;

use super::state::StateDisplay;
use crate::output::{self, table, time};

pub use orch_proto::json::TaskRun as TaskRunView;

/// Writes task runs as a table: name, state, attempts, duration, upstream names.
pub fn print_table(tasks: &[TaskRunView]) -> std::io::Result<()> {
    let mut rows = table::new(&["TASK", "STATE", "ATTEMPTS", "DURATION", "AFTER", "MESSAGE"]);
    for task in tasks {
        let upstream: Vec<&str> = task
            .upstream_ids
            .iter()
            .map(|id| {
                tasks
                    .iter()
                    .find(|t| &t.id == id)
                    .map_or(output::short_id(id), |t| t.name.as_str())
            })
            .collect();
        let duration = task.duration_seconds.map_or_else(
            || "-".to_owned(),
            |s| time::duration(std::time::Duration::from_secs_f64(s)),
        );
        rows.add_row([
            Cell::new(&task.name),
            table::state(&task.state),
            table::number(format!("{}/{}", task.attempt, task.max_retries + 1)),
            table::number(duration),
            Cell::new(output::or_dash(&upstream.join(", "))),
            Cell::new(output::or_dash(&task.state.message_on_one_line())),
        ]);
    }
    table::print(rows, "(no task runs)")
}
