//! orch's server: gRPC, a JSON API, the web dashboard and Prometheus metrics on one port.
//! It owns all state, in SQLite or PostgreSQL through `orch-store`.

pub mod api;
mod audit;
pub use ops::audit::Pending as PendingAudit;
pub mod auth;
mod automations;
pub mod background;
mod browser;
pub mod caller;
mod convert;
mod dashboard;
mod detached;
pub mod duties;
pub mod effects;
mod error;
pub mod events;
mod grpc;
mod health;
mod http;
pub mod maintenance;
mod metrics;
pub mod ops;
mod refusals;
mod relay;
pub mod routes;
pub mod scheduler;
mod secret_box;
mod state;
mod streams;
mod tls;
mod tracing_export;
mod watch;

use orch_proto::private_files;
use std::time::Duration;

use orch_core::defaults;

pub use error::ServerError;
pub use health::{Check, readiness};
pub use maintenance::{BackupSchedule, RetentionConfig};
pub use secret_box::SecretKeySource;
pub use state::AppState;
pub use tls::TlsFiles;

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
    /// PostgreSQL connections: the main pool's size, and PostgreSQL's own
    /// URL when `database_url` goes through PgBouncer in transaction mode.
    pub database: orch_store::ConnectOptions,
    /// A Scheduled run not started this long after its expected start is Late.
    pub late_after: Duration,
    /// A worker silent for this long is offline and its runs' leases expire.
    pub worker_lease: Duration,
    /// How long a checked API key or session is reused without reading the
    /// database again; zero: never (see [`auth::cache`]).
    pub token_cache: Duration,
    /// How long finished runs and log lines are kept, and how pruning runs.
    pub retention: RetentionConfig,
    /// Automatic backups (SQLite only), when set.
    pub backup: Option<BackupSchedule>,
    /// Streams (`logs --follow`, `--watch`, live pages) one client address
    /// may hold open at once, across every replica on the database (each
    /// allows its share).
    pub max_streams_per_client: usize,
    /// Variables of the server's environment automation placeholders may
    /// read (`--automation-env`), besides orch secrets and
    /// [`orch_core::automation::ALWAYS_ALLOWED_ENV`].
    pub automation_env: Vec<String>,
    /// The key sealing secrets at rest; `None`: secrets cannot be set or used.
    pub secret_key: Option<SecretKeySource>,
    /// Host names (the `Host` header) the server answers for, besides
    /// loopback names and the bind address; see [`browser`].
    pub allowed_hosts: Vec<String>,
    /// Serve TLS with these files; `None`: plaintext.
    pub tls: Option<TlsFiles>,
    /// Serve plaintext on an address other machines can reach.
    pub allow_plaintext: bool,
    /// Whether requests need a credential (`--no-auth` turns it off, on a
    /// loopback address only).
    pub auth: bool,
    /// Where the admin key is written on first start (`$ORCH_HOME/credentials`);
    /// `None`: no key is written (make tokens some other way).
    pub credentials_file: Option<std::path::PathBuf>,
    /// Mark the dashboard's session cookie `Secure` (set when serving TLS).
    pub secure_cookies: bool,
    /// Bad API keys accepted per client address per minute before answering
    /// 429, across every replica on the database (each lets through its share).
    pub auth_failures_per_minute: u32,
    /// A URL holding `{trace_id}`: the run page links the run's trace there.
    pub trace_url_template: Option<String>,
}

/// Checks a `--trace-url-template`: an `http://` or `https://` URL holding
/// `{trace_id}` (nothing else may end up in a link of the dashboard).
///
/// # Errors
///
/// What is wrong with it, with an example.
pub fn check_trace_url_template(template: &str) -> Result<(), String> {
    let example = "e.g. http://localhost:16686/trace/{trace_id}";
    if !(template.starts_with("http://") || template.starts_with("https://")) {
        return Err(format!("{template:?} is not an http(s) URL; {example}"));
    }
    if !template.contains("{trace_id}") {
        return Err(format!(
            "{template:?} does not hold {{trace_id}}; {example}"
        ));
    }
    Ok(())
}

/// Default of [`ServerConfig::auth_failures_per_minute`].
pub const DEFAULT_AUTH_FAILURES_PER_MINUTE: u32 = 30;

/// Default of [`ServerConfig::max_streams_per_client`].
pub const DEFAULT_MAX_STREAMS_PER_CLIENT: usize = defaults::MAX_STREAMS_PER_CLIENT;

impl ServerConfig {
    /// Defaults for everything but the database.
    pub fn new(database_url: impl Into<String>) -> ServerConfig {
        ServerConfig {
            host: defaults::HOST.into(),
            port: defaults::PORT,
            database_url: database_url.into(),
            database: orch_store::ConnectOptions::default(),
            late_after: defaults::LATE_AFTER,
            worker_lease: defaults::WORKER_LEASE,
            token_cache: defaults::TOKEN_CACHE,
            retention: RetentionConfig::default(),
            backup: None,
            max_streams_per_client: DEFAULT_MAX_STREAMS_PER_CLIENT,
            automation_env: Vec::new(),
            secret_key: None,
            allowed_hosts: Vec::new(),
            tls: None,
            allow_plaintext: false,
            auth: true,
            credentials_file: None,
            secure_cookies: false,
            auth_failures_per_minute: DEFAULT_AUTH_FAILURES_PER_MINUTE,
            trace_url_template: None,
        }
    }
}

/// The full HTTP service: gRPC, JSON API, dashboard, metrics and a 404 for
/// anything else, behind the one authentication layer ([`auth::check`]).
/// The JSON API answers under `/api/v1/` and, for one more release, under
/// the unversioned `/api/` paths ([`http::api_version`]).
pub fn router(state: AppState) -> axum::Router {
    let hosts = std::sync::Arc::new(browser::AllowedHosts::new(
        &state.config().host,
        &state.config().allowed_hosts,
    ));
    let config = state.config();
    let auth = auth::Auth::new(
        state.store().clone(),
        config.auth,
        config.auth_failures_per_minute,
        state.duties().live_replicas().clone(),
        state.token_cache().clone(),
    );
    let secure_cookies = config.secure_cookies;
    let refusals = refusals::Refusals::new(state.store().clone());
    let app = grpc::routes(&state)
        .into_axum_router()
        .merge(http::router(state.clone()))
        .merge(health::router(state.clone()))
        .merge(api::router(state.clone()))
        .merge(dashboard::router(state.clone()))
        .merge(auth::session::router(auth.clone(), secure_cookies))
        .route(
            "/metrics",
            axum::routing::get(metrics::handler).with_state(state.clone()),
        )
        .fallback(http::not_found)
        .method_not_allowed_fallback(http::method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(api::MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(state, audit::record))
        .layer(axum::middleware::from_fn_with_state(auth, auth::check))
        .layer(axum::middleware::from_fn_with_state(hosts, browser::guard))
        .layer(axum::middleware::from_fn_with_state(
            refusals,
            refusals::layer,
        ))
        .layer(axum::middleware::map_response(http::json_errors));
    // Outside the router, so that routing, authorization rules and the audit
    // trail all see one canonical path: `/api/v1/x` is served as `/api/x`.
    axum::Router::new().fallback_service(
        tower::ServiceBuilder::new()
            .layer(axum::middleware::from_fn(http::api_version))
            .layer(axum::middleware::from_fn(dashboard::error_pages))
            .service(app),
    )
}

/// Runs the server until `shutdown` resolves. Prints `orch server listening on
/// http://HOST:PORT` (`https://` with TLS) to stdout once it accepts connections.
pub async fn serve(
    config: ServerConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    Server::bind(config).await?.run(shutdown).await
}

/// Where people reach the dashboard, for links in automation messages:
/// `ORCH_PUBLIC_URL`, else the bound address (a wildcard bind as localhost).
fn public_url(bound: &std::net::SocketAddr) -> String {
    if let Ok(url) = std::env::var(orch_core::env_vars::PUBLIC_URL)
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

/// The dashboard link that logs a browser in as `token` once (a one-time
/// code, never the key); `orch ui` makes fresh ones. Without one the
/// dashboard still takes a token at its login page.
async fn login_link(store: &orch_store::Store, token: &str, url: &str) -> Option<String> {
    match store.tokens().create_login_code(token).await {
        Ok((code, _)) => Some(format!("{url}/login?code={code}")),
        Err(error) => {
            tracing::warn!(%error, "cannot make a dashboard login link; log in with an API token, or run 'orch ui'");
            None
        }
    }
}

/// How a login link is offered: the link, how long it works, how to get another.
pub fn login_link_line(link: &str) -> String {
    format!(
        "{link}  (logs you in; works once, for {} minutes; 'orch ui' prints a fresh link)",
        orch_store::LOGIN_CODE_SECONDS / 60
    )
}

/// A server whose database is open and whose port is bound, not yet serving.
pub struct Server {
    listener: tokio::net::TcpListener,
    /// Set when serving TLS.
    tls: Option<tokio_rustls::TlsAcceptor>,
    store: orch_store::Store,
    config: ServerConfig,
    /// A one-time dashboard login link, printed when serving starts.
    login_link: Option<String>,
    /// On SQLite, the lock that keeps a second server off the database.
    _sqlite_lock: Option<std::fs::File>,
}

/// Whether `host` is a loopback address or name.
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The host a client on this machine uses to reach a server bound to `host`.
fn client_host(host: &str) -> String {
    match host {
        "0.0.0.0" | "::" | "[::]" | "" => "127.0.0.1".to_owned(),
        host if host.contains(':') && !host.starts_with('[') => format!("[{host}]"),
        host => host.to_owned(),
    }
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
    let mut options = std::fs::OpenOptions::new();
    options.create(true).truncate(false).write(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, private_files::FILE_MODE);
    let Ok(file) = options.open(&lock_path) else {
        return Ok(None);
    };
    let _ = private_files::restrict(std::path::Path::new(&lock_path), private_files::FILE_MODE);
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

/// Makes a SQLite database owner-only before it is opened: the file is
/// created 0600 if missing (SQLite gives its `-wal` and `-shm` the database's
/// mode), and an existing one and its companions are tightened, with a log line.
fn private_sqlite_files(database_url: &str) {
    let Some(path) = orch_store::sqlite_path(database_url) else {
        return;
    };
    if path.parent().is_some_and(std::path::Path::is_dir) && !path.exists() {
        let mut options = std::fs::OpenOptions::new();
        options.create(true).truncate(false).write(true);
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, private_files::FILE_MODE);
        let _ = options.open(&path);
    }
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut file = path.clone().into_os_string();
        file.push(suffix);
        let file = std::path::PathBuf::from(file);
        match private_files::restrict(&file, private_files::FILE_MODE) {
            Ok(true) => tracing::warn!(
                file = %file.display(),
                "made the database file owner-only (0600): it was readable by other users of this machine"
            ),
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(file = %file.display(), %error, "cannot make the database file owner-only")
            }
        }
    }
}

impl Server {
    /// Opens (and migrates) the database and binds the port.
    pub async fn bind(config: ServerConfig) -> Result<Server, ServerError> {
        tls::check_plaintext(&config.host, config.tls.as_ref(), config.allow_plaintext)?;
        let tls = config.tls.as_ref().map(tls::acceptor).transpose()?;
        let sqlite_lock = lock_sqlite(&config.database_url)?;
        private_sqlite_files(&config.database_url);
        let store = orch_store::Store::connect_with(&config.database_url, &config.database)
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
        if !config.auth {
            if !is_loopback(&config.host) {
                return Err(ServerError::Config(format!(
                    "--no-auth is allowed on a loopback address only (127.0.0.1, ::1, localhost), not {}: anyone who can reach the port could run code on your workers. Drop --no-auth (clients find the admin key in $ORCH_HOME/credentials) or bind 127.0.0.1",
                    config.host
                )));
            }
            tracing::warn!(
                "authentication is OFF (--no-auth): every local user and process can read, run and deploy through this server"
            );
        }
        let addr = format!("{}:{}", config.host, config.port);
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .map_err(|source| ServerError::Bind {
                addr: addr.clone(),
                source,
            })?;
        let mut login = None;
        if config.auth
            && let Some(file) = &config.credentials_file
        {
            let port = listener.local_addr().map_err(ServerError::Serve)?.port();
            let scheme = if config.tls.is_some() {
                "https"
            } else {
                "http"
            };
            let url = format!("{scheme}://{}:{port}", client_host(&config.host));
            let outcome = auth::bootstrap::ensure_admin_key(&store, file, &url)
                .await
                .map_err(ServerError::Config)?;
            let admin = match outcome {
                auth::bootstrap::AdminKey::Created(name) => {
                    println!(
                        "orch server: created the admin API key {name:?} in {} (the CLI, workers and flows on this machine use it; keep it secret)",
                        file.display()
                    );
                    name
                }
                auth::bootstrap::AdminKey::Reused(name) => {
                    tracing::info!(token = %name, file = %file.display(), "admin API key found");
                    name
                }
            };
            login = login_link(&store, &admin, &url).await;
        }
        Ok(Server {
            listener,
            tls,
            store,
            config,
            login_link: login,
            _sqlite_lock: sqlite_lock,
        })
    }

    /// Takes the one-time dashboard login link made at start (for the local
    /// admin key), so that the caller prints it rather than [`Server::run`].
    pub fn take_login_link(&mut self) -> Option<String> {
        self.login_link.take()
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
        // Take the free duties before the loops' first passes.
        duties::round(&state).await;
        let duties = tokio::spawn(duties::run(state.clone()));
        let background = tokio::spawn(background::run(state.clone()));
        let scheduler = tokio::spawn(scheduler::run(state.clone()));
        let maintenance = tokio::spawn(maintenance::run(state.clone()));
        let automations = tokio::spawn(automations::run(state.clone(), public_url(&bound)));
        if store.backend() == orch_store::Backend::Postgres {
            relay::start(&state).await;
            auth::cache::listen(&state).await;
        }
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        tracing::info!(%bound, database = %store.redacted_url(), tls = self.tls.is_some(), "orch server started");
        println!("orch server listening on {scheme}://{bound}");
        if let Some(link) = &self.login_link {
            println!("orch server: dashboard {}", login_link_line(link));
        }
        let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
        let graceful = async move {
            shutdown.await;
            tracing::info!("shutting down");
            let _ = stop_sender.send(true);
        };
        let served = match self.tls {
            Some(acceptor) => {
                let listener =
                    tls::TlsListener::new(self.listener, acceptor).map_err(ServerError::Serve)?;
                // `tap_io` gives the connections their client address.
                let listener = axum::serve::ListenerExt::tap_io(listener, |_| {});
                axum::serve(listener, app)
                    .with_graceful_shutdown(graceful)
                    .await
            }
            None => {
                // Wake-ups are tiny frames: without TCP_NODELAY they wait ~40 ms for Nagle.
                let listener = axum::serve::ListenerExt::tap_io(self.listener, |tcp| {
                    if let Err(error) = tcp.set_nodelay(true) {
                        tracing::debug!(%error, "cannot set TCP_NODELAY");
                    }
                });
                axum::serve(listener, app)
                    .with_graceful_shutdown(graceful)
                    .await
            }
        };
        let _ = background.await;
        let _ = scheduler.await;
        let _ = maintenance.await;
        let _ = automations.await;
        let _ = duties.await;
        store.close().await;
        served.map_err(ServerError::Serve)
    }
}
