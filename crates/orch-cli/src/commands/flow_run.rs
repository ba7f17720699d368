//! `orch flow-run ...`

use orch_core::limits::MAX_PAGE_SIZE;
use orch_proto::v1 as proto;

use super::Context;
use crate::cli::{FlowRunCommand, FlowRunDeleteArgs, FlowRunListArgs};
use crate::client::{Api, Reply};
use crate::outln;
use crate::output::{self, Format};
use crate::views::flow_run::{self as view, FlowRunDetailView, FlowRunView};
use crate::views::log::LogLineView;
use crate::views::prelude::*;
use crate::watch::{self, Show};

/// Runs an `orch flow-run` command.
pub async fn run(context: &Context, command: FlowRunCommand) -> anyhow::Result<()> {
    let api = context.connect().await?;
    match command {
        FlowRunCommand::Ls(args) => list(&api, args).await,
        FlowRunCommand::Inspect { id, output } => {
            let detail = FlowRunDetailView::try_from(&get(&api, &id).await?)?;
            match output.output {
                Format::Table => view::print_detail(&detail)?,
                Format::Json => output::print_json(&detail)?,
            }
            Ok(())
        }
        FlowRunCommand::Logs { id, follow, output } => {
            // Resolves an id prefix once, so that every later call names the same run.
            let detail = get(&api, &id).await?;
            let run_id = detail.run.map(|run| run.id).unwrap_or(id);
            if follow {
                watch::follow(&api, &run_id, Show::Logs, output.output).await?;
                Ok(())
            } else {
                print_logs(&api, &run_id, output.output).await
            }
        }
        FlowRunCommand::Cancel { id } => {
            let request = proto::CancelFlowRunRequest { flow_run: id };
            let run = api.flow_runs().cancel_flow_run(request).await.reply(&api)?;
            let run = FlowRunView::try_from(&run)?;
            match run.state.kind {
                orch_core::StateType::Cancelling => outln!(
                    "Cancelling flow run {}: its worker is stopping it",
                    run.label()
                )?,
                _ => outln!(
                    "Flow run {} is now {}",
                    run.label(),
                    run.state.painted_name()
                )?,
            }
            Ok(())
        }
        FlowRunCommand::Retry { id, output } => {
            let request = proto::RetryFlowRunRequest { flow_run: id };
            let run = api.flow_runs().retry_flow_run(request).await.reply(&api)?;
            let run = FlowRunView::try_from(&run)?;
            match output.output {
                Format::Table => outln!(
                    "Created flow run {} to retry it: follow it with `orch flow-run logs -f {}`",
                    run.label(),
                    run.id
                )?,
                Format::Json => output::print_json(&run)?,
            }
            Ok(())
        }
        FlowRunCommand::Delete(args) => delete(&api, args).await,
    }
}

/// Deletes runs by id or by filter, and says what went.
async fn delete(api: &Api, args: FlowRunDeleteArgs) -> anyhow::Result<()> {
    let request = proto::DeleteFlowRunsRequest {
        flow_runs: args.ids,
        state: args.state.unwrap_or_default(),
        before: args.before.unwrap_or_default(),
        dry_run: args.dry_run,
    };
    let reply = api.flow_runs().delete_flow_runs(request).await.reply(api)?;
    let deleted = view::DeletedView::try_from(&reply)?;
    match args.output.output {
        Format::Table => view::print_deleted(&deleted)?,
        Format::Json => output::print_json(&deleted)?,
    }
    Ok(())
}

/// Lists runs: as many as `--limit` asks, a page (at most
/// [`MAX_PAGE_SIZE`]) at a time.
async fn list(api: &Api, args: FlowRunListArgs) -> anyhow::Result<()> {
    let wanted = args.limit.unwrap_or(0);
    let mut runs: Vec<FlowRunView> = Vec::new();
    let mut cursor = String::new();
    loop {
        let left = wanted.saturating_sub(runs.len() as u32);
        let request = proto::ListFlowRunsRequest {
            state: args.state.clone().unwrap_or_default(),
            flow: args.flow.clone().unwrap_or_default(),
            deployment: args
                .deployment
                .as_ref()
                .map(|deployment| deployment.to_string())
                .unwrap_or_default(),
            work_pool: args.work_pool.clone().unwrap_or_default(),
            limit: left.min(MAX_PAGE_SIZE),
            top_level: args.top_level,
            cursor,
            ..Default::default()
        };
        let reply = api.flow_runs().list_flow_runs(request).await.reply(api)?;
        for run in &reply.flow_runs {
            runs.push(FlowRunView::try_from(run)?);
        }
        if wanted == 0 || runs.len() as u32 >= wanted || reply.next_cursor.is_empty() {
            break;
        }
        cursor = reply.next_cursor;
    }
    match args.output.output {
        Format::Table => view::print_table(&runs)?,
        Format::Json => output::print_json(&runs)?,
    }
    Ok(())
}

/// A run and its state history.
async fn get(api: &Api, flow_run: &str) -> anyhow::Result<proto::FlowRunDetail> {
    let request = proto::GetFlowRunRequest {
        flow_run: flow_run.to_owned(),
    };
    api.flow_runs().get_flow_run(request).await.reply(api)
}

/// Prints every log line stored so far, page by page.
async fn print_logs(api: &Api, run_id: &str, format: Format) -> anyhow::Result<()> {
    let mut collected = Vec::new();
    let mut after_id = 0;
    loop {
        let request = proto::ReadLogsRequest {
            flow_run: run_id.to_owned(),
            after_id,
            limit: 0,
        };
        let page = api.flow_runs().read_logs(request).await.reply(api)?;
        let Some(last) = page.lines.last() else {
            break;
        };
        if last.id <= after_id {
            break; // A server that ignores `after_id` would otherwise loop forever.
        }
        after_id = last.id;
        for line in &page.lines {
            let line = LogLineView::from(line);
            match format {
                Format::Table => output::write_line(line.line())?,
                Format::Json => collected.push(line),
            }
        }
    }
    if format == Format::Json {
        output::print_json(&collected)?;
    }
    Ok(())
}
