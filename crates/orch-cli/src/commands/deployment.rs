//! `orch deployment ...`, including `run` (with `--watch`).

use orch_proto::v1 as proto;

use super::Context;
use crate::cli::{DeploymentCommand, DeploymentRunArgs};
use crate::client::{Api, Reply};
use crate::error::usage;
use crate::outln;
use crate::output::{self, Format, time};
use crate::reference::DeploymentRef;
use crate::views::deployment::{self as view, DeploymentView};
use crate::views::flow_run::FlowRunView;
use crate::views::prelude::*;
use crate::watch::{self, Show, WatchEvent};

/// Runs an `orch deployment` command.
pub async fn run(context: &Context, command: DeploymentCommand) -> anyhow::Result<()> {
    match command {
        DeploymentCommand::Ls { flow, output } => {
            let api = context.connect().await?;
            let request = proto::ListDeploymentsRequest {
                flow: flow.unwrap_or_default(),
            };
            let reply = api
                .deployments()
                .list_deployments(request)
                .await
                .reply(&api)?;
            let deployments: Vec<DeploymentView> =
                reply.deployments.iter().map(DeploymentView::from).collect();
            match output.output {
                Format::Table => view::print_table(&deployments)?,
                Format::Json => output::print_json(&deployments)?,
            }
            Ok(())
        }
        DeploymentCommand::Inspect { deployment, output } => {
            let api = context.connect().await?;
            let request = proto::GetDeploymentRequest {
                deployment: deployment.to_string(),
            };
            let deployment = api
                .deployments()
                .get_deployment(request)
                .await
                .reply(&api)?;
            let deployment = DeploymentView::from(&deployment);
            match output.output {
                Format::Table => view::print_detail(&deployment)?,
                Format::Json => output::print_json(&deployment)?,
            }
            Ok(())
        }
        DeploymentCommand::Pause { deployment } => {
            let api = context.connect().await?;
            let updated = set_paused(&api, &deployment, true).await?;
            outln!(
                "Paused deployment {}: its schedules create no runs until it is resumed",
                updated.full_name
            )?;
            Ok(())
        }
        DeploymentCommand::Resume { deployment } => {
            let api = context.connect().await?;
            let updated = set_paused(&api, &deployment, false).await?;
            outln!("Resumed deployment {}", updated.full_name)?;
            Ok(())
        }
        DeploymentCommand::Delete { deployment } => {
            let api = context.connect().await?;
            let request = proto::DeleteDeploymentRequest {
                deployment: deployment.to_string(),
            };
            api.deployments()
                .delete_deployment(request)
                .await
                .reply(&api)?;
            outln!("Deleted deployment {deployment}")?;
            Ok(())
        }
        DeploymentCommand::Run(args) => run_deployment(context, args).await,
        DeploymentCommand::Schedule(command) => super::schedule::run(context, command).await,
        DeploymentCommand::Upcoming(args) => super::schedule::upcoming(context, args).await,
    }
}

/// Pauses or resumes a deployment.
async fn set_paused(
    api: &Api,
    deployment: &DeploymentRef,
    paused: bool,
) -> anyhow::Result<DeploymentView> {
    let request = proto::UpdateDeploymentRequest {
        deployment: deployment.to_string(),
        paused: Some(paused),
    };
    let updated = api
        .deployments()
        .update_deployment(request)
        .await
        .reply(api)?;
    Ok(DeploymentView::from(&updated))
}

/// The W3C trace context of the caller, from `TRACEPARENT` and `TRACESTATE`
/// (the variables tracing tools such as `otel-cli` set for the commands they
/// run).
fn caller_trace_from_env() -> anyhow::Result<Option<orch_core::CallerTrace>> {
    let parent = std::env::var(orch_telemetry::ENV_TRACEPARENT).ok();
    let state = std::env::var(orch_telemetry::ENV_TRACESTATE).ok();
    orch_core::CallerTrace::from_values(parent.as_deref(), state.as_deref()).map_err(|error| {
        usage(format!(
            "TRACEPARENT/TRACESTATE: {error}; fix or unset the variables to create the run"
        ))
    })
}

/// Creates a run; with `--watch`, follows it and fails unless it Completed.
async fn run_deployment(context: &Context, args: DeploymentRunArgs) -> anyhow::Result<()> {
    // Bad parameters are reported before any server is contacted.
    let overrides = orch_core::build_overrides(args.params_json.as_deref(), &args.params)
        .map_err(|error| usage(error.to_string()))?;
    let format = args.output.output;
    let caller_trace = caller_trace_from_env()?;

    let api = context.connect().await?;
    let mut request = tonic::Request::new(proto::RunDeploymentRequest {
        deployment: args.deployment.to_string(),
        parameters_json: serde_json::Value::Object(overrides).to_string(),
        scheduled_at_micros: None,
        idempotency_key: String::new(),
    });
    if let Some(caller) = caller_trace {
        // The run's trace becomes a child of the caller's (e.g. a CI job's).
        let value = caller
            .parent
            .to_string()
            .parse()
            .expect("a traceparent is ASCII");
        request
            .metadata_mut()
            .insert(orch_telemetry::TRACEPARENT, value);
        if let Some(state) = &caller.state {
            let value = state
                .as_str()
                .parse()
                .expect("a checked tracestate is ASCII");
            request
                .metadata_mut()
                .insert(orch_telemetry::TRACESTATE, value);
        }
    }
    let run = api
        .deployments()
        .run_deployment(request)
        .await
        .reply(&api)?;
    let run = FlowRunView::try_from(&run)?;
    match (format, args.watch) {
        (Format::Table, _) => {
            outln!("Created flow run {}", run.label())?;
            outln!("Parameters: {}", run.parameters_line())?;
        }
        (Format::Json, false) => output::print_json(&run)?,
        (Format::Json, true) => output::print_json_line(&WatchEvent::Created { run: &run })?,
    }
    if !args.watch {
        return Ok(());
    }

    let finished = watch::follow(&api, &run.id, Show::StatesAndLogs, format).await?;
    match format {
        Format::Table if finished.state.is_completed() => {
            let took = finished.duration().map_or_else(String::new, |duration| {
                format!(" in {}", time::duration(duration))
            });
            outln!("Flow run {} completed{took}", finished.name)?;
        }
        Format::Table => {}
        Format::Json => output::print_json_line(&WatchEvent::Finished { run: &finished })?,
    }
    if finished.state.is_completed() {
        return Ok(());
    }
    let message = finished.state.message_on_one_line();
    let reason = if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    };
    anyhow::bail!(
        "flow run {} ended {}{reason}",
        finished.name,
        finished.state.name
    )
}
