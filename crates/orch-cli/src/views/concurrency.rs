//! Tag concurrency limits and who holds their slots.

use comfy_table::Cell;
use orch_proto::v1 as proto;
use serde::Serialize;

use crate::output::{self, table, time};

/// A tag's limit.
#[derive(Debug, Clone, Serialize)]
pub struct ConcurrencyLimitView {
    /// The full id.
    pub id: String,
    /// The tag it limits.
    pub tag: String,
    /// Most task runs with the tag at once.
    pub limit: i64,
    /// Slots taken now.
    pub active_slots: usize,
    /// Who holds them.
    pub holders: Vec<SlotHolderView>,
    /// When it was created (RFC 3339).
    pub created_at: Option<String>,
}

/// One held slot.
#[derive(Debug, Clone, Serialize)]
pub struct SlotHolderView {
    /// The task run holding it.
    pub holder_id: String,
    /// Its flow run, if known.
    pub flow_run_id: Option<String>,
    /// When it was taken (RFC 3339).
    pub acquired: Option<String>,
    /// When it lapses unless renewed (RFC 3339).
    pub lease_expires: Option<String>,
    #[serde(skip)]
    acquired_micros: i64,
}

impl From<&proto::ConcurrencyLimit> for ConcurrencyLimitView {
    fn from(limit: &proto::ConcurrencyLimit) -> Self {
        Self {
            id: limit.id.clone(),
            tag: limit.tag.clone(),
            limit: limit.limit,
            active_slots: limit.holders.len(),
            holders: limit
                .holders
                .iter()
                .map(|holder| SlotHolderView {
                    holder_id: holder.holder_id.clone(),
                    flow_run_id: (!holder.flow_run_id.is_empty())
                        .then(|| holder.flow_run_id.clone()),
                    acquired: time::rfc3339(holder.acquired_at_micros),
                    lease_expires: time::rfc3339(holder.lease_expires_micros),
                    acquired_micros: holder.acquired_at_micros,
                })
                .collect(),
            created_at: time::rfc3339(limit.created_at_micros),
        }
    }
}

/// Writes the limits as a table.
pub fn print_table(limits: &[ConcurrencyLimitView]) -> std::io::Result<()> {
    let mut rows = table::new(&["TAG", "LIMIT", "ACTIVE SLOTS"]);
    for limit in limits {
        rows.add_row([
            Cell::new(&limit.tag),
            table::number(limit.limit),
            table::number(limit.active_slots),
        ]);
    }
    table::print(
        rows,
        "No concurrency limits. Create one with 'orch concurrency-limit create TAG N'.",
    )
}

/// Writes one limit and its holders.
pub fn print_detail(limit: &ConcurrencyLimitView) -> std::io::Result<()> {
    table::print_details(&[
        ("ID", limit.id.clone()),
        ("Tag", limit.tag.clone()),
        ("Limit", limit.limit.to_string()),
        ("Active slots", limit.active_slots.to_string()),
    ])?;
    output::write_line("")?;
    output::write_line("Slot holders:")?;
    let mut rows = table::new(&["TASK RUN", "FLOW RUN", "SINCE"]);
    for holder in &limit.holders {
        rows.add_row([
            Cell::new(&holder.holder_id),
            Cell::new(holder.flow_run_id.as_deref().unwrap_or("-")),
            Cell::new(time::timestamp_with_age(holder.acquired_micros)),
        ]);
    }
    table::print(rows, "(none)")
}
