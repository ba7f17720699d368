//! Work pools.

use comfy_table::Cell;
use orch_proto::v1 as proto;
use serde::Serialize;

use crate::output::{self, table, time};

/// A work pool.
#[derive(Debug, Clone, Serialize)]
pub struct WorkPoolView {
    /// The full id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The kind of worker that serves it, e.g. `process`.
    #[serde(rename = "type")]
    pub pool_type: String,
    /// What it is for.
    pub description: String,
    /// Whether runs are held back.
    pub paused: bool,
    /// Max runs Pending or Running at once; `null` is unlimited.
    pub concurrency_limit: Option<i64>,
    /// Runs Pending, Running or Cancelling.
    pub runs_in_flight: i64,
    /// Runs Scheduled (incl. Late) waiting for a worker.
    pub runs_waiting: i64,
    /// Workers online in the pool.
    pub workers_online: i64,
    /// When it was created (RFC 3339).
    pub created: Option<String>,
    /// When it last changed (RFC 3339).
    pub updated: Option<String>,
    #[serde(skip)]
    created_micros: i64,
    #[serde(skip)]
    updated_micros: i64,
}

impl From<&proto::WorkPool> for WorkPoolView {
    fn from(pool: &proto::WorkPool) -> Self {
        Self {
            id: pool.id.clone(),
            name: pool.name.clone(),
            pool_type: pool.r#type.clone(),
            description: pool.description.clone(),
            paused: pool.paused,
            concurrency_limit: pool.concurrency_limit,
            runs_in_flight: pool.runs_in_flight,
            runs_waiting: pool.runs_waiting,
            workers_online: pool.workers_online,
            created: time::rfc3339(pool.created_at_micros),
            updated: time::rfc3339(pool.updated_at_micros),
            created_micros: pool.created_at_micros,
            updated_micros: pool.updated_at_micros,
        }
    }
}

impl WorkPoolView {
    /// `paused` or `ready`.
    fn status(&self) -> &'static str {
        if self.paused { "paused" } else { "ready" }
    }

    /// The limit, or `unlimited`.
    pub fn concurrency(&self) -> String {
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
