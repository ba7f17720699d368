//! `orch work-pool ...`

use orch_proto::v1::{
    CreateWorkPoolRequest, DeleteWorkPoolRequest, GetWorkPoolRequest, ListWorkPoolsRequest,
    UpdateWorkPoolRequest,
};

use super::Context;
use crate::cli::{WorkPoolCommand, WorkPoolCreateArgs};
use crate::client::{Api, Reply};
use crate::outln;
use crate::output::{self, Format};
use crate::views::prelude::*;
use crate::views::work_pool::{self as view, WorkPoolView};

/// Runs an `orch work-pool` command.
pub async fn run(context: &Context, command: WorkPoolCommand) -> anyhow::Result<()> {
    let api = context.connect().await?;
    match command {
        WorkPoolCommand::Create(args) => create(&api, args).await,
        WorkPoolCommand::Ls(output) => list(&api, output.output).await,
        WorkPoolCommand::Inspect { name, output } => inspect(&api, name, output.output).await,
        WorkPoolCommand::Pause { name } => {
            let update = UpdateWorkPoolRequest {
                paused: Some(true),
                ..update(name)
            };
            let pool = send_update(&api, update).await?;
            outln!(
                "Paused work pool {}: its runs wait until it is resumed",
                pool.name
            )?;
            Ok(())
        }
        WorkPoolCommand::Resume { name } => {
            let update = UpdateWorkPoolRequest {
                paused: Some(false),
                ..update(name)
            };
            let pool = send_update(&api, update).await?;
            outln!("Resumed work pool {}", pool.name)?;
            Ok(())
        }
        WorkPoolCommand::SetConcurrencyLimit { name, limit } => {
            let update = UpdateWorkPoolRequest {
                concurrency_limit: Some(limit),
                ..update(name)
            };
            let pool = send_update(&api, update).await?;
            outln!(
                "Set the concurrency limit of work pool {} to {}",
                pool.name,
                pool.concurrency()
            )?;
            Ok(())
        }
        WorkPoolCommand::ClearConcurrencyLimit { name } => {
            let update = UpdateWorkPoolRequest {
                clear_concurrency_limit: true,
                ..update(name)
            };
            let pool = send_update(&api, update).await?;
            outln!("Cleared the concurrency limit of work pool {}", pool.name)?;
            Ok(())
        }
        WorkPoolCommand::Delete { name } => {
            let request = DeleteWorkPoolRequest { name: name.clone() };
            api.work_pools()
                .delete_work_pool(request)
                .await
                .reply(&api)?;
            outln!("Deleted work pool {name}")?;
            Ok(())
        }
    }
}

/// Creates a pool.
async fn create(api: &Api, args: WorkPoolCreateArgs) -> anyhow::Result<()> {
    let container = container_defaults(&args.container).map_err(crate::error::usage)?;
    let request = CreateWorkPoolRequest {
        name: args.name,
        r#type: args.pool_type,
        description: args.description,
        concurrency_limit: args.concurrency_limit,
        container_json: container.to_json(),
    };
    let pool = api
        .work_pools()
        .create_work_pool(request)
        .await
        .reply(api)?;
    let limit = match pool.concurrency_limit {
        Some(limit) => format!("concurrency limit {limit}"),
        None => "no concurrency limit".to_owned(),
    };
    outln!(
        "Created work pool {} (type {}, {limit})",
        pool.name,
        pool.r#type
    )?;
    Ok(())
}

/// Lists pools.
async fn list(api: &Api, format: Format) -> anyhow::Result<()> {
    let reply = api
        .work_pools()
        .list_work_pools(ListWorkPoolsRequest {})
        .await
        .reply(api)?;
    let pools: Vec<WorkPoolView> = reply.work_pools.iter().map(WorkPoolView::from).collect();
    match format {
        Format::Table => view::print_table(&pools)?,
        Format::Json => output::print_json(&pools)?,
    }
    Ok(())
}

/// Shows one pool.
async fn inspect(api: &Api, name: String, format: Format) -> anyhow::Result<()> {
    let pool = api
        .work_pools()
        .get_work_pool(GetWorkPoolRequest { name })
        .await
        .reply(api)?;
    let pool = WorkPoolView::from(&pool);
    match format {
        Format::Table => view::print_detail(&pool)?,
        Format::Json => output::print_json(&pool)?,
    }
    Ok(())
}

/// An update of pool `name` that changes nothing yet.
fn update(name: String) -> UpdateWorkPoolRequest {
    UpdateWorkPoolRequest {
        name,
        paused: None,
        concurrency_limit: None,
        clear_concurrency_limit: false,
    }
}

/// Sends `update` and returns the updated pool.
async fn send_update(api: &Api, update: UpdateWorkPoolRequest) -> anyhow::Result<WorkPoolView> {
    let pool = api.work_pools().update_work_pool(update).await.reply(api)?;
    Ok(WorkPoolView::from(&pool))
}

/// The pool's default container settings from its flags, checked.
fn container_defaults(
    args: &crate::cli::ContainerDefaultsArgs,
) -> Result<orch_core::ContainerSettings, String> {
    let pull_policy = args
        .pull_policy
        .as_deref()
        .map(orch_core::PullPolicy::parse)
        .transpose()
        .map_err(|problem| format!("--pull-policy: {problem}"))?;
    let settings = orch_core::ContainerSettings {
        image: args.image.clone(),
        memory: args.memory.clone(),
        cpus: args.cpus,
        volumes: (!args.volumes.is_empty()).then(|| args.volumes.clone()),
        network: args.network.clone(),
        user: args.user.clone(),
        pull_policy,
        keep_container: args.keep_container.then_some(true),
    };
    settings.validate()?;
    Ok(settings)
}
