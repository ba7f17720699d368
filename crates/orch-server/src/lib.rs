//! orch's server: gRPC, a JSON API, the web dashboard and Prometheus metrics on one port.
//! It owns all state, in SQLite or PostgreSQL through `orch-store`.

pub mod api;
mod automations;
pub mod background;
pub mod caller;
mod convert;
mod dashboard;
mod detached;
mod error;
pub mod events;
mod grpc;
mod health;
mod http;
pub mod maintenance;
mod metrics;
pub mod ops;
mod relay;
pub mod scheduler;
mod state;
mod streams;
mod watch;

use std::time::Duration;

pub use error::ServerError;
pub use health::{Check, readiness};
pub use maintenance::{BackupSchedule, RetentionConfig};
pub use state::AppState;

/// The server's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// How the server is started.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Interface to bind, e.g. `127.0.0.1`.
    pub host: String,
    /// Port to bind; 0 picks a free one (the bound address is printed).
    pub port: u16,
    /// `sqlite://path/orch.db` or `postgres://...`.
    pub database_url: String,
    /// A Scheduled run not started this long after its expected start is Late.
    pub late_after: Duration,
    /// A worker silent for this long is offline and its runs' leases expire.
    pub worker_lease: Duration,
    /// How long finished runs and log lines are kept, and how pruning runs.
    pub retention: RetentionConfig,
    /// Automatic backups (SQLite only), when set.
    pub backup: Option<BackupSchedule>,
    /// Streams (`logs --follow`, `--watch`, live pages) one client address
    /// may hold open at once.
    pub max_streams_per_client: usize,
}

/// Default of [`ServerConfig::max_streams_per_client`].
pub const DEFAULT_MAX_STREAMS_PER_CLIENT: usize = 32;

impl ServerConfig {
    /// Defaults for everything but the database.
    pub fn new(database_url: impl Into<String>) -> ServerConfig {
        ServerConfig {
            host: "127.0.0.1".into(),
            port: 4200,
            database_url: database_url.into(),
            late_after: Duration::from_secs(15),
            worker_lease: Duration::from_secs(30),
            retention: RetentionConfig::default(),
            backup: None,
            max_streams_per_client: DEFAULT_MAX_STREAMS_PER_CLIENT,
        }
    }
}

/// The full HTTP service: gRPC, JSON API, dashboard, metrics and a 404 for anything else.
pub fn router(state: AppState) -> axum::Router {
    grpc::routes(&state)
        .into_axum_router()
        .merge(http::router(state.clone()))
        .merge(health::router(state.clone()))
        .merge(api::router(state.clone()))
        .merge(dashboard::router(state.clone()))
        .route(
            "/metrics",
            axum::routing::get(metrics::handler).with_state(state),
        )
        .fallback(http::not_found)
        .method_not_allowed_fallback(http::method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(api::MAX_BODY_BYTES))
        .layer(axum::middleware::map_response(http::json_errors))
}

/// Runs the server until `shutdown` resolves. Prints `orch server listening on
/// http://HOST:PORT` to stdout once it accepts connections.
pub async fn serve(
    config: ServerConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    Server::bind(config).await?.run(shutdown).await
}

/// Where people reach the dashboard, for links in automation messages:
/// `ORCH_PUBLIC_URL`, else the bound address (a wildcard bind as localhost).
fn public_url(bound: &std::net::SocketAddr) -> String {
    if let Ok(url) = std::env::var("ORCH_PUBLIC_URL")
        && !url.is_empty()
    {
        return url;
    }
    let host = if bound.ip().is_unspecified() {
        "localhost".to_owned()
    } else {
        bound.ip().to_string()
    };
    format!("http://{host}:{}", bound.port())
}

/// A server whose database is open and whose port is bound, not yet serving.
pub struct Server {
    listener: tokio::net::TcpListener,
    store: orch_store::Store,
    config: ServerConfig,
    /// On SQLite, the lock that keeps a second server off the database.
    _sqlite_lock: Option<std::fs::File>,
}

/// Takes `<database>.lock` beside a SQLite database, so that a second server
/// on the same file fails at start with an explanation instead of meeting
/// "database is locked" later. `None` when there is nothing to lock (not
/// SQLite, or a folder that does not exist, which connecting will report).
///
/// `orch server restore` takes the same lock, so that no server starts on a
/// database while it is being replaced.
pub fn lock_sqlite(database_url: &str) -> Result<Option<std::fs::File>, ServerError> {
    let Some(path) = orch_store::sqlite_path(database_url) else {
        return Ok(None);
    };
    let mut lock_path = path.clone().into_os_string();
    lock_path.push(".lock");
    let Ok(file) = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
    else {
        return Ok(None);
    };
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Err(ServerError::DatabaseInUse {
            path: path.display().to_string(),
            lock: std::path::Path::new(&lock_path).display().to_string(),
        }),
        Err(std::fs::TryLockError::Error(error)) => {
            tracing::warn!(%error, "cannot lock the SQLite database; not guarding against a second server");
            Ok(None)
        }
    }
}

impl Server {
    /// Opens (and migrates) the database and binds the port.
    pub async fn bind(config: ServerConfig) -> Result<Server, ServerError> {
        let sqlite_lock = lock_sqlite(&config.database_url)?;
        let store = orch_store::Store::connect(&config.database_url)
            .await
            .map_err(|source| ServerError::Database {
                url: orch_store::redact_password(&config.database_url),
                source,
            })?;
        if let (Some(backup), orch_store::Backend::Postgres) = (&config.backup, store.backend()) {
            return Err(ServerError::Config(format!(
                "automatic backups (--backup-dir) copy SQLite databases only; back up PostgreSQL with pg_dump, e.g. from cron: {}",
                orch_store::pg_dump_command(&config.database_url, &backup.dir.join("orch.dump"))
            )));
        }
        let addr = format!("{}:{}", config.host, config.port);
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .map_err(|source| ServerError::Bind {
                addr: addr.clone(),
                source,
            })?;
        Ok(Server {
            listener,
            store,
            config,
            _sqlite_lock: sqlite_lock,
        })
    }

    /// The bound address (the real port when 0 was asked for).
    pub fn local_addr(&self) -> Result<std::net::SocketAddr, ServerError> {
        self.listener.local_addr().map_err(ServerError::Serve)
    }

    /// Serves until `shutdown` resolves, then lets open requests finish.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let bound = self.local_addr()?;
        // Held until the server has stopped serving.
        let _sqlite_lock = self._sqlite_lock;
        let store = self.store;
        let (stop_sender, stop_receiver) = tokio::sync::watch::channel(false);
        let state = AppState::new(store.clone(), self.config, stop_receiver);
        let background = tokio::spawn(background::run(state.clone()));
        let scheduler = tokio::spawn(scheduler::run(state.clone()));
        let maintenance = tokio::spawn(maintenance::run(state.clone()));
        let automations = tokio::spawn(automations::run(state.clone(), public_url(&bound)));
        if store.backend() == orch_store::Backend::Postgres {
            relay::start(&state).await;
        }
        tracing::info!(%bound, database = %store.redacted_url(), "orch server started");
        println!("orch server listening on http://{bound}");
        let app = router(state);
        // Wake-ups are tiny frames: without TCP_NODELAY they wait ~40 ms for Nagle.
        let listener = axum::serve::ListenerExt::tap_io(self.listener, |tcp| {
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::debug!(%error, "cannot set TCP_NODELAY");
            }
        });
        let graceful = async move {
            shutdown.await;
            tracing::info!("shutting down");
            let _ = stop_sender.send(true);
        };
        let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(graceful)
            .await;
        let _ = background.await;
        let _ = scheduler.await;
        let _ = maintenance.await;
        let _ = automations.await;
        store.close().await;
        served.map_err(ServerError::Serve)
    }
}
