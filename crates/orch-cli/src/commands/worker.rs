//! `orch worker start` and `orch worker ls`.

use orch_proto::v1::ListWorkersRequest;

use super::Context;
use crate::cli::{WorkerCommand, WorkerListArgs, WorkerStartArgs};
use crate::client::{self, Reply};
use crate::output::{self, Format};
use crate::signal::shutdown_signal;
use crate::views::worker::{self as view, WorkerView};

/// Runs an `orch worker` command.
pub async fn run(context: &Context, command: WorkerCommand) -> anyhow::Result<()> {
    match command {
        WorkerCommand::Start(args) => start(context, args).await,
        WorkerCommand::Ls(args) => list(context, args).await,
    }
}

/// Executes the pool's runs until SIGINT or SIGTERM.
async fn start(context: &Context, args: WorkerStartArgs) -> anyhow::Result<()> {
    let api_url = orch_client::join_urls(&[&context.settings.api_url.value]);
    let mut config = orch_worker::WorkerConfig::new(api_url, args.pool);
    config.name = args.name;
    config.limit = args.limit;
    context.settings.roles.worker.apply(&mut config);
    config.state_dir = Some(context.settings.home.value.join("worker"));
    config.pass_env = pass_env(&args.pass_env)?;
    config.container_api_url = args.container_api_url.clone();
    args.isolation.apply(&context.settings, &mut config);
    config.api_key = super::worker_key::for_local_worker(
        &context.settings.home.value,
        &config.api_url,
        &config.pool,
        context.settings.roles.client.request_timeout.value,
    )
    .await;
    config.tls_ca = orch_proto::tls::ca_file(client::tls_ca());
    orch_worker::run(config, shutdown_signal())
        .await
        // The error's message is complete; its source would repeat the cause.
        .map_err(|error| anyhow::anyhow!("{error}"))
}

/// The checked `--pass-env` patterns.
pub fn pass_env(args: &crate::cli_security::PassEnvArgs) -> anyhow::Result<Vec<String>> {
    orch_worker::environment::check_pass_env(&args.pass_env).map_err(crate::error::usage)?;
    Ok(args.pass_env.clone())
}

/// Lists workers.
async fn list(context: &Context, args: WorkerListArgs) -> anyhow::Result<()> {
    let api = context.connect().await?;
    let request = ListWorkersRequest {
        work_pool: args.pool.unwrap_or_default(),
    };
    let reply = api.workers().list_workers(request).await.reply(&api)?;
    let workers: Vec<WorkerView> = reply.workers.iter().map(WorkerView::from).collect();
    match args.output.output {
        Format::Table => view::print_table(&workers)?,
        Format::Json => output::print_json(&workers)?,
    }
    Ok(())
}
