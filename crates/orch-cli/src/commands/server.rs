//! `orch server start|status|stop|prune|backup|restore`.

use anyhow::Context as _;
use orch_proto::v1::{GetStatusRequest, PruneRequest};

use super::{Context, background, backup};
use crate::cli::{PruneArgs, ServerCommand, ServerStartArgs};
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
        ServerCommand::Stop(args) => background::stop(context, background::SERVER, &args).await,
        ServerCommand::Prune(args) => prune(context, args).await,
        ServerCommand::Backup(args) => backup::backup(context, args).await,
        ServerCommand::Restore(args) => backup::restore(context, args).await,
    }
}

/// The server's settings from the command line, environment and config file.
pub fn server_config(
    context: &Context,
    args: &ServerStartArgs,
) -> anyhow::Result<orch_server::ServerConfig> {
    let settings = &context.settings;
    let ops = &settings.ops;
    let every = crate::config_ops::checked_duration(
        "--prune-every",
        &args.prune_every,
        orch_core::settings::PRUNE_EVERY_SECONDS,
    )?;
    Ok(orch_server::ServerConfig {
        host: settings.host.value.clone(),
        port: settings.port.value,
        database_url: settings.database_url.value.clone(),
        database: orch_store::ConnectOptions {
            pool_size: args.database.database_pool_size,
            direct_url: args.database.database_direct_url.clone(),
        },
        late_after: settings.roles.server.late_after.value,
        worker_lease: settings.roles.server.worker_lease.value,
        token_cache: settings.roles.server.token_cache.value,
        retention: orch_server::RetentionConfig {
            policy: ops.retention_policy()?,
            every,
            ..orch_server::RetentionConfig::default()
        },
        backup: ops.backup_schedule()?,
        max_streams_per_client: settings.roles.server.max_streams_per_client.value,
        automation_env: settings.roles.server.automation_env.value.clone(),
        secret_key: Some(secret_key(&settings.home.value)),
        allowed_hosts: args.security.allowed_hosts.clone(),
        tls: args
            .security
            .tls_cert
            .clone()
            .zip(args.security.tls_key.clone())
            .map(|(cert, key)| orch_server::TlsFiles { cert, key }),
        allow_plaintext: args.security.allow_plaintext,
        auth: !args.no_auth,
        credentials_file: Some(
            settings
                .home
                .value
                .join(orch_proto::credentials::CREDENTIALS_FILE),
        ),
        secure_cookies: args.security.tls_cert.is_some(),
        auth_failures_per_minute: orch_server::DEFAULT_AUTH_FAILURES_PER_MINUTE,
        trace_url_template: args
            .traces
            .trace_url_template
            .as_deref()
            .map(|template| {
                orch_server::check_trace_url_template(template)
                    .map(|()| template.to_owned())
                    .map_err(|error| crate::error::usage(format!("--trace-url-template: {error}")))
            })
            .transpose()?,
    })
}

/// Variable holding the key that seals secrets (64 hex digits).
pub const SECRET_KEY_VAR: &str = orch_core::env_vars::SECRET_KEY;

/// The key sealing secrets: `ORCH_SECRET_KEY`, else `$ORCH_HOME/secret.key`.
fn secret_key(home: &std::path::Path) -> orch_server::SecretKeySource {
    match std::env::var(SECRET_KEY_VAR) {
        Ok(key) if !key.trim().is_empty() => orch_server::SecretKeySource::Value(key),
        _ => orch_server::SecretKeySource::File(home.join("secret.key")),
    }
}

/// Creates the orch home folder when the database goes there, and makes it
/// owner-only (an existing installation is tightened, with a log line).
pub fn prepare_home(settings: &crate::config::Settings) -> anyhow::Result<()> {
    let home = &settings.home.value;
    if settings.database_url.source == Source::Default {
        orch_proto::private_files::create_dir(home).with_context(|| {
            format!(
                "cannot create the orch home folder {} (set ORCH_HOME to another folder)",
                home.display()
            )
        })?;
    }
    if home.is_dir() {
        orch_proto::private_files::tighten_home(home);
    }
    Ok(())
}

/// Serves until SIGINT or SIGTERM.
async fn start(context: &Context, args: ServerStartArgs) -> anyhow::Result<()> {
    let config = server_config(context, &args)?;
    if args.background {
        return background::start(context, background::SERVER);
    }
    prepare_home(&context.settings)?;
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
    let view = ServerStatusView::new(&api.url(), &status);
    match format {
        Format::Table => view::print(&view)?,
        Format::Json => output::print_json(&view)?,
    }
    Ok(())
}

/// Asks the server to prune now, or to count what it would prune.
async fn prune(context: &Context, args: PruneArgs) -> anyhow::Result<()> {
    let api = context.connect().await?;
    let reply = api
        .server()
        .prune(PruneRequest {
            dry_run: args.dry_run,
        })
        .await
        .reply(&api)?;
    let view = view::PruneView::from(&reply);
    match args.output.output {
        Format::Table => view::print_prune(&view)?,
        Format::Json => output::print_json(&view)?,
    }
    Ok(())
}
