//! `orch up`: the whole local orchestrator in one process — server on SQLite,
//! the deploy file's work pools and deployments, and a worker per pool.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use orch_proto::v1 as proto;
use tokio::sync::watch;

use super::{Context, deploy};
use crate::cli::UpArgs;
use crate::client::Api;
use crate::signal::shutdown_signal;
use crate::views::deploy as deploy_view;

/// Starts everything, then runs until SIGINT or SIGTERM.
pub async fn run(context: &Context, args: UpArgs) -> anyhow::Result<()> {
    let file = deploy::parse(&args.file)?;
    let specs = &file.deployments;
    let config = super::server::server_config(context, &args.server)?;
    if args.server.background {
        return super::background::start(context, super::background::UP);
    }
    if !args.no_build {
        build_workspace_binaries(&args.file)?;
    }
    super::server::prepare_home(&context.settings)?;
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let mut server = orch_server::Server::bind(config)
        .await
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    let login_link = server.take_login_link();
    let url = format!(
        "{scheme}://{}",
        server
            .local_addr()
            .map_err(|error| anyhow::anyhow!("{error}"))?
    );

    // Workers stop first (they report their runs and deregister), then the server.
    let (stop_server, server_stopping) = watch::channel(false);
    let (stop_workers, workers_stopping) = watch::channel(false);
    let server_task = tokio::spawn(server.run(signalled(server_stopping)));
    let api = wait_for_server(&url, context.settings.roles.client.request_timeout.value).await?;

    let pools: BTreeSet<&str> = specs.iter().map(|spec| spec.work_pool.as_str()).collect();
    for pool in &pools {
        ensure_pool(&api, pool).await?;
    }
    let report = deploy::apply(&api, &args.file, &file).await?;
    deploy_view::print(&report)?;

    let mut workers = Vec::new();
    for pool in &pools {
        let mut config = orch_worker::WorkerConfig::new(url.clone(), *pool);
        context.settings.roles.worker.apply(&mut config);
        config.pass_env = super::worker::pass_env(&args.pass_env)?;
        args.isolation.apply(&context.settings, &mut config);
        config.api_key = super::worker_key::for_local_worker(
            &context.settings.home.value,
            &url,
            pool,
            context.settings.roles.client.request_timeout.value,
        )
        .await;
        config.tls_ca = orch_proto::tls::ca_file(crate::client::tls_ca());
        workers.push(tokio::spawn(orch_worker::run(
            config,
            signalled(workers_stopping.clone()),
        )));
    }
    println!();
    println!(
        "orch is up: dashboard {url}/  (API {url}, {} deployment(s) on {} pool(s))",
        specs.len(),
        pools.len()
    );
    if let Some(link) = &login_link {
        println!("Dashboard: {}", orch_server::login_link_line(link));
    }
    println!("Try: orch deployment ls --api-url {url}   ·   Ctrl-C stops everything");

    shutdown_signal().await;
    let _ = stop_workers.send(true);
    for worker in workers {
        if let Ok(Err(error)) = worker.await {
            eprintln!("error: worker: {error}");
        }
    }
    let _ = stop_server.send(true);
    server_task
        .await
        .context("the server task failed")?
        .map_err(|error| anyhow::anyhow!("{error}"))
}

/// Resolves once `stopping` turns true.
async fn signalled(mut stopping: watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stop| *stop).await;
}

/// Waits (bounded) until the in-process server answers.
async fn wait_for_server(url: &str, request_timeout: Duration) -> anyhow::Result<Api> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match Api::connect(url, request_timeout).await {
            Ok(api) => return Ok(api),
            Err(error) if Instant::now() > deadline => return Err(error),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Creates a process pool unless it exists.
async fn ensure_pool(api: &Api, name: &str) -> anyhow::Result<()> {
    let request = proto::CreateWorkPoolRequest {
        name: name.to_string(),
        r#type: "process".into(),
        ..Default::default()
    };
    match api.work_pools().create_work_pool(request).await {
        Ok(_) => {
            println!("Created work pool {name}");
            Ok(())
        }
        Err(status) if status.code() == tonic::Code::AlreadyExists => Ok(()),
        Err(status) => Err(api.error(status)),
    }
}

/// When the deploy file sits in a cargo workspace (a fresh clone of orch),
/// builds the workspace's flow binaries in release mode and puts them on the
/// PATH the worker's flow processes inherit, so `entrypoint = ["sentinel", ...]` works.
/// `orch-cli` brings `orch-sandbox`, which the worker starts flows through
/// when it sits beside `orch` (a few milliseconds less per run than `orch __sandbox`).
fn build_workspace_binaries(deploy_file: &Path) -> anyhow::Result<()> {
    let Some(root) = workspace_root(deploy_file) else {
        return Ok(());
    };
    let packages: Vec<&str> = ["sentinel", "orch-cli"]
        .into_iter()
        .filter(|package| {
            root.join("crates")
                .join(package)
                .join("Cargo.toml")
                .exists()
        })
        .collect();
    if packages.is_empty() {
        return Ok(());
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = std::process::Command::new(&cargo);
    command.current_dir(&root).args(["build", "--release"]);
    for package in &packages {
        command.args(["-p", package]);
    }
    println!(
        "Building flow binaries ({}) in release mode...",
        packages.join(", ")
    );
    let status = command.status().with_context(|| {
        format!("cannot run {cargo} to build the flow binaries (pass --no-build to skip)")
    })?;
    if !status.success() {
        anyhow::bail!(
            "building {} failed ({status}); fix the build or pass --no-build",
            packages.join(", ")
        );
    }
    let bin_dir = root.join("target").join("release");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let joined = std::env::join_paths(std::iter::once(bin_dir).chain(std::env::split_paths(&path)))
        .context("cannot extend PATH")?;
    // SAFETY: called before any other thread reads the environment: the runtime's
    // worker threads do not touch it, and nothing has been spawned that does.
    unsafe { std::env::set_var("PATH", joined) };
    Ok(())
}

/// The nearest folder above `file` whose Cargo.toml declares a workspace.
fn workspace_root(file: &Path) -> Option<PathBuf> {
    let start = std::fs::canonicalize(file).ok()?;
    start.ancestors().skip(1).find_map(|dir| {
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).ok()?;
        manifest.contains("[workspace]").then(|| dir.to_path_buf())
    })
}
