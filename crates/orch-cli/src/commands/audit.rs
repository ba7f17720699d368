//! `orch audit ls`: who changed what, when and from where.

use comfy_table::Cell;
use orch_proto::json;
use orch_proto::v1 as proto;

use super::Context;
use crate::cli_security::{AuditCommand, AuditListArgs};
use crate::client::Reply;
use crate::error::usage;
use crate::output::{self, Format, table, time};

/// Runs an `orch audit` command.
pub async fn run(context: &Context, command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Ls(args) => list(context, args).await,
    }
}

async fn list(context: &Context, args: AuditListArgs) -> anyhow::Result<()> {
    let since = args
        .since
        .as_deref()
        .map(since_micros)
        .transpose()?
        .unwrap_or(0);
    let api = context.connect().await?;
    let mut client = api.audit();
    let reply = client
        .list_audit(proto::ListAuditRequest {
            since_micros: since,
            limit: args.limit,
        })
        .await
        .reply(&api)?;
    let records: Vec<json::AuditRecord> =
        reply.records.iter().map(json::AuditRecord::from).collect();
    match args.output.output {
        Format::Json => output::print_json(&records)?,
        Format::Table => {
            let mut rows =
                table::new(&["TIME", "CALLER", "ADDRESS", "ACTION", "TARGET", "OUTCOME"]);
            for record in &records {
                rows.add_row([
                    Cell::new(time::timestamp(record.at_micros)),
                    Cell::new(&record.caller),
                    Cell::new(record.address.as_deref().unwrap_or("-")),
                    Cell::new(&record.action),
                    Cell::new(output::or_dash(&record.target)),
                    Cell::new(&record.outcome),
                ]);
            }
            table::print(rows, "No recorded changes in this span.")?;
        }
    }
    Ok(())
}

/// `1h`, `7d` (a span back from now) or an RFC 3339 time, in micros.
fn since_micros(text: &str) -> anyhow::Result<i64> {
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(time.timestamp_micros());
    }
    let span = orch_core::retention::parse_duration(text).map_err(|error| {
        usage(format!(
            "--since {text:?}: {error}; give a span such as 1h or 7d, or an RFC 3339 time"
        ))
    })?;
    Ok(time::now_micros() - span.as_micros() as i64)
}
