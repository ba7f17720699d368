//! `orch task-run ls`.

use orch_proto::v1 as proto;

use super::Context;
use crate::cli::TaskRunCommand;
use crate::client::Reply;
use crate::output::{self, Format};
use crate::views::task_run::{self as view, TaskRunView};

/// Runs an `orch task-run` command.
pub async fn run(context: &Context, command: TaskRunCommand) -> anyhow::Result<()> {
    let api = context.connect().await?;
    match command {
        TaskRunCommand::Ls { flow_run, output } => {
            let request = proto::ListTaskRunsRequest { flow_run };
            let reply = api.task_runs().list_task_runs(request).await.reply(&api)?;
            let tasks: Vec<TaskRunView> = reply
                .task_runs
                .iter()
                .map(TaskRunView::try_from)
                .collect::<Result<_, _>>()?;
            match output.output {
                Format::Table => view::print_table(&tasks)?,
                Format::Json => output::print_json(&tasks)?,
            }
            Ok(())
        }
    }
}
