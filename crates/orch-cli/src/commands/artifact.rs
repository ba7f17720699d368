//! `orch artifact ls | inspect | series`.

use orch_proto::v1 as proto;

use super::Context;
use crate::cli_results::ArtifactCommand;
use crate::client::Reply;
use crate::output::{self, Format};
use crate::views::artifact::{self as view, ArtifactView, SeriesView};

/// Runs an `orch artifact` command.
pub async fn run(context: &Context, command: ArtifactCommand) -> anyhow::Result<()> {
    let api = context.connect().await?;
    let mut client = api.artifacts();
    match command {
        ArtifactCommand::Ls(args) => {
            let request = proto::ListArtifactsRequest {
                key: args.key.unwrap_or_default(),
                flow_run_id: args.flow_run.unwrap_or_default(),
                limit: args.limit,
            };
            let reply = client.list_artifacts(request).await.reply(&api)?;
            let list: Vec<ArtifactView> = reply.artifacts.iter().map(ArtifactView::from).collect();
            match args.output.output {
                Format::Table => view::print_list(&list)?,
                Format::Json => output::print_json(&list)?,
            }
        }
        ArtifactCommand::Inspect { id, output } => {
            let request = proto::GetArtifactRequest { id };
            let artifact = ArtifactView::from(&client.get_artifact(request).await.reply(&api)?);
            match output.output {
                Format::Table => view::print_one(&artifact)?,
                Format::Json => output::print_json(&artifact)?,
            }
        }
        ArtifactCommand::Series { key, limit, output } => {
            let request = proto::GetArtifactSeriesRequest { key, limit };
            let series = SeriesView::from(&client.get_artifact_series(request).await.reply(&api)?);
            match output.output {
                Format::Table => view::print_series(&series)?,
                Format::Json => output::print_json(&series)?,
            }
        }
    }
    Ok(())
}
