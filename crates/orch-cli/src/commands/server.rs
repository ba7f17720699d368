//! `orch server start` and `orch server status`.

use std::time::Duration;

use anyhow::Context as _;
use orch_proto::v1::GetStatusRequest;

use super::Context;
use crate::cli::{ServerCommand, ServerStartArgs};
use crate::client::Reply;
use crate::config::Source;
use crate::output::{self, Format};
use crate::signal::shutdown_signal;
use crate::views::server::{self as view, ServerStatusView};

/// Runs an `orch server` command.
pub async fn run(context: &Context, command: ServerCommand) -> anyhow::Result<()> {
    match command {
        ServerCommand::Start(args) => start(context, args).await,
        ServerCommand::Status(output) => status(context, output.output).await,
    }
}

/// Serves until SIGINT or SIGTERM.
async fn start(context: &Context, args: ServerStartArgs) -> anyhow::Result<()> {
    let settings = &context.settings;
    if settings.database_url.source == Source::Default {
        let home = &settings.home.value;
        std::fs::create_dir_all(home).with_context(|| {
            format!(
                "cannot create the orch home folder {} (set ORCH_HOME to another folder)",
                home.display()
            )
        })?;
    }
    let config = orch_server::ServerConfig {
        host: settings.host.value.clone(),
        port: settings.port.value,
        database_url: settings.database_url.value.clone(),
        late_after: Duration::from_secs(args.late_after_seconds),
        worker_lease: Duration::from_secs(args.worker_lease_seconds),
        max_streams_per_client: args.max_streams_per_client,
    };
    tracing::debug!(?config, "starting the server");
    orch_server::serve(config, shutdown_signal())
        .await
        // The error's message is complete; its source would repeat the cause.
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    tracing::info!("server stopped");
    Ok(())
}

/// Asks the server how it is.
async fn status(context: &Context, format: Format) -> anyhow::Result<()> {
    let api = context.connect().await?;
    let status = api
        .server()
        .get_status(GetStatusRequest {})
        .await
        .reply(&api)?;
    let view = ServerStatusView::new(api.url(), &status);
    match format {
        Format::Table => view::print(&view)?,
        Format::Json => output::print_json(&view)?,
    }
    Ok(())
}
