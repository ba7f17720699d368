//! `orch flow ls`.

use orch_proto::v1::ListFlowsRequest;

use super::Context;
use crate::cli::FlowCommand;
use crate::client::Reply;
use crate::output::{self, Format};
use crate::views::flow::{self as view, FlowView};

/// Runs an `orch flow` command.
pub async fn run(context: &Context, command: FlowCommand) -> anyhow::Result<()> {
    match command {
        FlowCommand::Ls(output) => {
            let api = context.connect().await?;
            let reply = api
                .deployments()
                .list_flows(ListFlowsRequest {})
                .await
                .reply(&api)?;
            let flows: Vec<FlowView> = reply.flows.iter().map(FlowView::from).collect();
            match output.output {
                Format::Table => view::print_table(&flows)?,
                Format::Json => output::print_json(&flows)?,
            }
            Ok(())
        }
    }
}
