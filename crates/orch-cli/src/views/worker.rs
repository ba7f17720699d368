//! Workers.

use comfy_table::Cell;
use orch_proto::v1 as proto;
use serde::Serialize;

use crate::output::{self, table, time};

/// A worker.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerView {
    /// The full id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The pool it serves.
    pub work_pool: String,
    /// The host it runs on.
    pub hostname: String,
    /// Max concurrent runs; `null` is unlimited.
    pub limit: Option<u32>,
    /// Whether it heartbeats.
    pub online: bool,
    /// Runs it is executing.
    pub runs_in_flight: i64,
    /// Its orch version.
    pub version: String,
    /// Its last heartbeat (RFC 3339).
    pub last_heartbeat: Option<String>,
    /// When it started (RFC 3339).
    pub started: Option<String>,
    /// How often it heartbeats; it is offline after missing 3. `null` when unknown.
    pub heartbeat_interval_seconds: Option<f64>,
    #[serde(skip)]
    last_heartbeat_micros: i64,
}

impl From<&proto::Worker> for WorkerView {
    fn from(worker: &proto::Worker) -> Self {
        Self {
            id: worker.id.clone(),
            name: worker.name.clone(),
            work_pool: worker.work_pool.clone(),
            hostname: worker.hostname.clone(),
            limit: (worker.limit != 0).then_some(worker.limit),
            online: worker.online,
            runs_in_flight: worker.runs_in_flight,
            version: worker.version.clone(),
            last_heartbeat: time::rfc3339(worker.last_heartbeat_micros),
            started: time::rfc3339(worker.started_at_micros),
            heartbeat_interval_seconds: (worker.heartbeat_interval_seconds > 0.0)
                .then_some(worker.heartbeat_interval_seconds),
            last_heartbeat_micros: worker.last_heartbeat_micros,
        }
    }
}

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
            Cell::new(if worker.online { "online" } else { "offline" }),
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
