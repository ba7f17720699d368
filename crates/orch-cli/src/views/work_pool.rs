//! Work pools.

use comfy_table::Cell;

use crate::output::{self, table, time};

pub use orch_proto::json::WorkPool as WorkPoolView;

/// How the CLI shows a pool.
pub trait WorkPoolDisplay {
    /// `paused` or `ready`.
    fn status(&self) -> &'static str;
    /// The limit, or `unlimited`.
    fn concurrency(&self) -> String;
}

impl WorkPoolDisplay for WorkPoolView {
    fn status(&self) -> &'static str {
        if self.paused { "paused" } else { "ready" }
    }

    fn concurrency(&self) -> String {
        self.concurrency_limit
            .map_or_else(|| "unlimited".to_owned(), |limit| limit.to_string())
    }
}

/// Writes the pools as a table.
pub fn print_table(pools: &[WorkPoolView]) -> std::io::Result<()> {
    let mut rows = table::new(&[
        "NAME",
        "TYPE",
        "STATUS",
        "CONCURRENCY",
        "IN FLIGHT",
        "WAITING",
        "WORKERS",
        "CREATED",
    ]);
    for pool in pools {
        rows.add_row([
            Cell::new(&pool.name),
            Cell::new(&pool.pool_type),
            Cell::new(pool.status()),
            table::number(pool.concurrency()),
            table::number(pool.runs_in_flight),
            table::number(pool.runs_waiting),
            table::number(pool.workers_online),
            Cell::new(time::timestamp(pool.created_micros)),
        ]);
    }
    table::print(
        rows,
        "No work pools found. Create one with 'orch work-pool create NAME --type process'.",
    )
}

/// Writes every field.
pub fn print_detail(pool: &WorkPoolView) -> std::io::Result<()> {
    table::print_details(&[
        ("ID", pool.id.clone()),
        ("Name", pool.name.clone()),
        ("Type", pool.pool_type.clone()),
        (
            "Container defaults",
            pool.container
                .as_ref()
                .map_or_else(|| "-".to_owned(), ToString::to_string),
        ),
        ("Description", output::or_dash(&pool.description)),
        ("Status", pool.status().to_owned()),
        ("Concurrency limit", pool.concurrency()),
        ("Runs in flight", pool.runs_in_flight.to_string()),
        ("Runs waiting", pool.runs_waiting.to_string()),
        ("Workers online", pool.workers_online.to_string()),
        ("Created", time::timestamp_with_age(pool.created_micros)),
        ("Updated", time::timestamp_with_age(pool.updated_micros)),
    ])
}
