//! `orch automation ...`

use orch_proto::v1::automation_service_client::AutomationServiceClient;
use orch_proto::v1::{
    AutomationHistoryRequest, DeleteAutomationRequest, GetAutomationRequest,
    ListAutomationsRequest, SetAutomationPausedRequest,
};
use serde_json::json;

use super::Context;
use crate::cli::AutomationCommand;
use crate::client::{Api, Reply};
use crate::outln;
use crate::output::{self, Format};
use crate::views::automation::{self as view, AutomationView, HistoryView};

/// The automation service of `api`.
pub(crate) fn client(api: &Api) -> AutomationServiceClient<orch_client::Transport> {
    api.automations()
}

/// Runs an `orch automation` command.
pub async fn run(context: &Context, command: AutomationCommand) -> anyhow::Result<()> {
    let api = context.connect().await?;
    let mut automations = client(&api);
    match command {
        AutomationCommand::Ls(output) => {
            let reply = automations
                .list_automations(ListAutomationsRequest {})
                .await
                .reply(&api)?;
            let views: Vec<AutomationView> = reply
                .automations
                .iter()
                .map(AutomationView::from_proto)
                .collect();
            match output.output {
                Format::Table => view::print_table(&views)?,
                Format::Json => output::print_json(&views)?,
            }
        }
        AutomationCommand::Inspect { name, output } => {
            let found = automations
                .get_automation(GetAutomationRequest { name })
                .await
                .reply(&api)?;
            let found = AutomationView::from_proto(&found);
            match output.output {
                Format::Table => view::print_detail(&found)?,
                Format::Json => output::print_json(&found)?,
            }
        }
        AutomationCommand::Pause { name } => {
            let request = SetAutomationPausedRequest { name, paused: true };
            let found = automations
                .set_automation_paused(request)
                .await
                .reply(&api)?;
            outln!(
                "Paused automation {}: it fires nothing until it is resumed",
                found.name
            )?;
        }
        AutomationCommand::Resume { name } => {
            let request = SetAutomationPausedRequest {
                name,
                paused: false,
            };
            let found = automations
                .set_automation_paused(request)
                .await
                .reply(&api)?;
            outln!("Resumed automation {}", found.name)?;
        }
        AutomationCommand::Delete { name } => {
            automations
                .delete_automation(DeleteAutomationRequest { name: name.clone() })
                .await
                .reply(&api)?;
            outln!("Deleted automation {name} and its history")?;
        }
        AutomationCommand::History {
            name,
            limit,
            output,
        } => {
            let request = AutomationHistoryRequest {
                name: name.clone(),
                limit,
            };
            let reply = automations.automation_history(request).await.reply(&api)?;
            let entries: Vec<HistoryView> =
                reply.entries.iter().map(HistoryView::from_proto).collect();
            match output.output {
                Format::Table => view::print_history(&entries)?,
                Format::Json => {
                    output::print_json(&json!({ "automation": name, "entries": entries }))?
                }
            }
        }
    }
    Ok(())
}

/// Refuses a deploy file whose automations name a deployment that is
/// neither declared in it nor registered on the server (reported at its
/// line), before anything is registered.
pub(crate) async fn check_deployments(
    api: &Api,
    file: &orch_core::DeployFile,
) -> anyhow::Result<()> {
    if file.unknown_deployment(&|_| false).is_none() {
        return Ok(());
    }
    let reply = api
        .deployments()
        .list_deployments(orch_proto::v1::ListDeploymentsRequest::default())
        .await
        .reply(api)?;
    let registered: Vec<String> = reply
        .deployments
        .iter()
        .filter_map(|d| d.spec.as_ref())
        .map(|spec| format!("{}/{}", spec.flow, spec.name))
        .collect();
    match file.unknown_deployment(&|name| registered.iter().any(|r| r == name)) {
        Some(error) => Err(anyhow::anyhow!("{error}")),
        None => Ok(()),
    }
}

/// Registers the file's automations (all or none); returns what changed.
pub(crate) async fn apply(
    api: &Api,
    specs: &[orch_core::automation::AutomationSpec],
) -> anyhow::Result<Vec<crate::views::deploy::AutomationChangeView>> {
    if specs.is_empty() {
        return Ok(Vec::new());
    }
    let request = orch_proto::v1::ApplyAutomationsRequest {
        automations: specs
            .iter()
            .map(|spec| orch_proto::v1::AutomationSpecInput {
                name: spec.name.clone(),
                spec_json: serde_json::to_string(spec).expect("specs serialise"),
            })
            .collect(),
    };
    let reply = client(api).apply_automations(request).await.reply(api)?;
    Ok(reply
        .changes
        .into_iter()
        .map(|change| crate::views::deploy::AutomationChangeView {
            automation: change.name,
            change: change.change,
        })
        .collect())
}
