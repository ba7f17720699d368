//! Flows: named groups of deployments.

use comfy_table::Cell;
use orch_proto::v1 as proto;
use serde::Serialize;

use crate::output::{self, table, time};

/// A flow.
#[derive(Debug, Clone, Serialize)]
pub struct FlowView {
    /// The full id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// How many deployments it has.
    pub deployment_count: i64,
    /// When it was created (RFC 3339).
    pub created_at: Option<String>,
    #[serde(skip)]
    created_micros: i64,
}

impl From<&proto::Flow> for FlowView {
    fn from(flow: &proto::Flow) -> Self {
        Self {
            id: flow.id.clone(),
            name: flow.name.clone(),
            deployment_count: flow.deployment_count,
            created_at: time::rfc3339(flow.created_at_micros),
            created_micros: flow.created_at_micros,
        }
    }
}

/// Writes the flows as a table.
pub fn print_table(flows: &[FlowView]) -> std::io::Result<()> {
    let mut rows = table::new(&["ID", "NAME", "DEPLOYMENTS", "CREATED"]);
    for flow in flows {
        rows.add_row([
            Cell::new(output::short_id(&flow.id)),
            Cell::new(&flow.name),
            table::number(flow.deployment_count),
            Cell::new(time::timestamp_with_age(flow.created_micros)),
        ]);
    }
    table::print(rows, "No flows found. Flows are created by 'orch deploy'.")
}
