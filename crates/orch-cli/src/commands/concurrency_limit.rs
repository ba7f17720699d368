//! `orch concurrency-limit ...`: tag limits for task runs.

use orch_proto::v1 as proto;

use super::Context;
use crate::cli::ConcurrencyLimitCommand;
use crate::client::Reply;
use crate::outln;
use crate::output::{self, Format};
use crate::views::concurrency::{self as view, ConcurrencyLimitView};

/// Runs an `orch concurrency-limit` command.
pub async fn run(context: &Context, command: ConcurrencyLimitCommand) -> anyhow::Result<()> {
    let api = context.connect().await?;
    let mut client = api.concurrency_limits();
    match command {
        ConcurrencyLimitCommand::Create { tag, limit } => {
            let request = proto::CreateConcurrencyLimitRequest {
                tag: tag.clone(),
                limit,
            };
            let reply = client.create_concurrency_limit(request).await.reply(&api)?;
            let verb = if reply.created { "Created" } else { "Changed" };
            outln!(
                "{verb} concurrency limit {tag}: at most {limit} task runs tagged {tag} at once"
            )?;
        }
        ConcurrencyLimitCommand::Ls(output) => {
            let request = proto::ListConcurrencyLimitsRequest {};
            let reply = client.list_concurrency_limits(request).await.reply(&api)?;
            let limits: Vec<ConcurrencyLimitView> = reply
                .limits
                .iter()
                .map(ConcurrencyLimitView::from)
                .collect();
            match output.output {
                Format::Table => view::print_table(&limits)?,
                Format::Json => output::print_json(&limits)?,
            }
        }
        ConcurrencyLimitCommand::Inspect { tag, output } => {
            let request = proto::GetConcurrencyLimitRequest { tag };
            let limit = client.get_concurrency_limit(request).await.reply(&api)?;
            let limit = ConcurrencyLimitView::from(&limit);
            match output.output {
                Format::Table => view::print_detail(&limit)?,
                Format::Json => output::print_json(&limit)?,
            }
        }
        ConcurrencyLimitCommand::Delete { tag } => {
            let request = proto::DeleteConcurrencyLimitRequest { tag: tag.clone() };
            client.delete_concurrency_limit(request).await.reply(&api)?;
            outln!("Deleted concurrency limit {tag}")?;
        }
    }
    Ok(())
}
