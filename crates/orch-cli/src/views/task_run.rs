//! Task runs: the steps of a flow run, their attempts and dependency edges.

use comfy_table::Cell;

use super::state::StateDisplay;
use crate::output::{self, table, time};

pub use orch_proto::json::TaskRun as TaskRunView;

/// Writes task runs as a table: name, state, attempts, duration, CPU time,
/// upstream names.
pub fn print_table(tasks: &[TaskRunView]) -> std::io::Result<()> {
    let mut rows = table::new(&[
        "TASK", "STATE", "ATTEMPTS", "DURATION", "CPU", "AFTER", "MESSAGE",
    ]);
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
            table::number(cpu(task.cpu_micros.map(|micros| micros as f64 / 1e6))),
            Cell::new(output::or_dash(&upstream.join(", "))),
            Cell::new(output::or_dash(&task.state.message_on_one_line())),
        ]);
    }
    table::print(rows, "(no task runs)")
}

/// A task run's CPU time (`-` when its SDK did not measure it): `0.52s`,
/// `0s` (under 5 ms), `1m 5s`.
fn cpu(seconds: Option<f64>) -> String {
    match seconds {
        None => "-".to_owned(),
        Some(s) if s < 60.0 => format!("{s:.2}s").replace(".00s", "s"),
        Some(s) => time::duration(std::time::Duration::from_secs_f64(s)),
    }
}

#[cfg(test)]
mod tests {
    use super::cpu;

    #[test]
    fn cpu_time_reads_in_seconds_or_a_dash() {
        assert_eq!(cpu(None), "-");
        assert_eq!(cpu(Some(0.0)), "0s");
        assert_eq!(cpu(Some(0.523)), "0.52s");
        assert_eq!(cpu(Some(2.0)), "2s");
        assert_eq!(cpu(Some(65.0)), "1m 5s");
    }
}
