//! Workers.

use comfy_table::Cell;

use crate::output::{self, table, time};

pub use orch_proto::json::Worker as WorkerView;

/// Writes the workers as a table.
pub fn print_table(workers: &[WorkerView]) -> std::io::Result<()> {
    let mut rows = table::new(&[
        "ID",
        "NAME",
        "WORK POOL",
        "HOST",
        "STATUS",
        "RUNS",
        "LIMIT",
        "LAST HEARTBEAT",
        "VERSION",
    ]);
    let now = time::now_micros();
    for worker in workers {
        let last_heartbeat = if worker.last_heartbeat_micros == 0 {
            "-".to_owned()
        } else {
            time::relative(worker.last_heartbeat_micros, now)
        };
        rows.add_row([
            Cell::new(output::short_id(&worker.id)),
            Cell::new(&worker.name),
            Cell::new(&worker.work_pool),
            Cell::new(&worker.hostname),
            Cell::new(worker.status),
            table::number(worker.runs_in_flight),
            table::number(
                worker
                    .limit
                    .map_or_else(|| "-".to_owned(), |limit| limit.to_string()),
            ),
            Cell::new(last_heartbeat),
            Cell::new(output::or_dash(&worker.version)),
        ]);
    }
    table::print(
        rows,
        "No workers found. Start one with 'orch worker start --pool NAME'.",
    )
}
