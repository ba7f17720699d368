//! Automations and their history.

use comfy_table::Cell;

use crate::output::{self, table};

pub use orch_proto::json::{Automation as AutomationView, AutomationHistoryEntry as HistoryView};

fn status(automation: &AutomationView) -> String {
    if automation.paused {
        "paused".into()
    } else if !automation.unset_variables.is_empty() {
        format!(
            "not configured ({} unset)",
            automation.unset_variables.join(", ")
        )
    } else {
        "active".into()
    }
}

fn or_dash(value: &Option<String>) -> String {
    value.clone().unwrap_or_else(|| "-".into())
}

/// Writes the automations as a table.
pub fn print_table(automations: &[AutomationView]) -> std::io::Result<()> {
    let mut rows = table::new(&[
        "NAME",
        "TRIGGER",
        "ACTIONS",
        "STATUS",
        "FIRINGS",
        "SUPPRESSED",
        "DELIVERED",
        "FAILED",
        "LAST FIRED",
    ]);
    for automation in automations {
        rows.add_row([
            Cell::new(&automation.name),
            Cell::new(automation.trigger_type()),
            Cell::new(automation.action_types()),
            Cell::new(status(automation)),
            table::number(automation.firings),
            table::number(automation.suppressed),
            table::number(automation.delivered),
            table::number(automation.failed),
            Cell::new(or_dash(&automation.last_fired_at)),
        ]);
    }
    table::print(
        rows,
        "No automations found. Declare [[automations]] in the deploy file and run 'orch deploy'.",
    )
}

/// How many firings loop protection suppressed, with the last reason.
fn loop_line(automation: &AutomationView) -> String {
    match (&automation.loop_message, &automation.loop_suppressed_at) {
        (Some(message), at) if automation.loop_suppressed > 0 => format!(
            "{} (last at {}): {message}",
            automation.loop_suppressed,
            or_dash(at)
        ),
        _ => automation.loop_suppressed.to_string(),
    }
}

/// Writes every field.
pub fn print_detail(automation: &AutomationView) -> std::io::Result<()> {
    table::print_details(&[
        ("ID", automation.id.clone()),
        ("Name", automation.name.clone()),
        ("Description", output::or_dash(&automation.description)),
        ("Status", status(automation)),
        ("Trigger", crate::views::compact_json(&automation.trigger)),
        ("Actions", crate::views::compact_json(&automation.actions)),
        ("Cooldown", format!("{} s", automation.cooldown_seconds)),
        ("Firings", automation.firings.to_string()),
        ("Suppressed (cooldown)", automation.suppressed.to_string()),
        ("Suppressed (loop)", loop_line(automation)),
        ("Delivered", automation.delivered.to_string()),
        ("Failed", automation.failed.to_string()),
        ("Skipped", automation.skipped.to_string()),
        ("Pending", automation.pending.to_string()),
        ("Last fired", or_dash(&automation.last_fired_at)),
        ("Created", or_dash(&automation.created_at)),
        ("Updated", or_dash(&automation.updated_at)),
    ])
}

/// Writes the history as a table.
pub fn print_history(entries: &[HistoryView]) -> std::io::Result<()> {
    let mut rows = table::new(&[
        "AT", "KIND", "ACTION", "ATTEMPT", "OUTCOME", "STATUS", "RUN", "FIRING", "ERROR",
    ]);
    for entry in entries {
        rows.add_row([
            Cell::new(or_dash(&entry.at)),
            Cell::new(&entry.kind),
            Cell::new(or_dash(&entry.action)),
            table::number(entry.attempt),
            Cell::new(&entry.outcome),
            Cell::new(
                entry
                    .status_code
                    .map_or_else(|| "-".into(), |code| code.to_string()),
            ),
            Cell::new(entry.flow_run_id.as_deref().map_or("-", output::short_id)),
            Cell::new(output::short_id(&entry.firing_id)),
            Cell::new(or_dash(&entry.error)),
        ]);
    }
    table::print(rows, "Nothing yet: the automation has not fired.")
}
