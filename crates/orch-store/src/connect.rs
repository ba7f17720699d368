//! Connecting to PostgreSQL: the pools' sizes, and PgBouncer in
//! transaction mode (docs/operations.md "Connections" and "PgBouncer").

use std::time::Duration;

use sqlx::Executor;
use sqlx::any::{AnyPoolOptions, install_default_drivers};

use crate::error::{Result, StoreError};
use crate::{Backend, MIGRATE_POSTGRES, RESERVED_CONNECTIONS, Store, redact_password, write};

/// How [`Store::connect_with`] connects to PostgreSQL (SQLite ignores it).
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    /// Connections of the main pool: API requests, worker calls and writes
    /// ([`DEFAULT_POOL_SIZE`]). Each server also opens [`RESERVED_CONNECTIONS`]
    /// for background duties and one for `LISTEN`.
    pub pool_size: u32,
    /// PostgreSQL itself, when the URL goes through a pooler in transaction
    /// mode (PgBouncer `pool_mode = transaction`); `None`: the URL reaches
    /// PostgreSQL (or a pooler in session mode). See [`Store::connect_with`].
    pub direct_url: Option<String>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            pool_size: DEFAULT_POOL_SIZE,
            direct_url: None,
        }
    }
}

impl std::fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("pool_size", &self.pool_size)
            .field(
                "direct_url",
                &self.direct_url.as_deref().map(redact_password),
            )
            .finish()
    }
}

/// Default of [`ConnectOptions::pool_size`].
pub const DEFAULT_POOL_SIZE: u32 = 16;

impl Store {
    /// Connects to `url` and applies pending migrations.
    ///
    /// With [`ConnectOptions::direct_url`] set, `url` goes through a pooler
    /// in transaction mode, which hands each transaction to any server
    /// connection: a statement outside a transaction may be prepared on one
    /// and executed on another, and session state (prepared statements,
    /// `LISTEN`, session advisory locks) does not stay with the client. So
    /// on such a URL the store keeps no statement cache (`statement-cache-capacity=0`),
    /// runs everything it does between two uses of a pooled connection
    /// inside one transaction (the pool's hooks open it on acquire and
    /// commit it on release), and applies migrations and listens for other
    /// replicas through `direct_url` only. PgBouncer must also drop the
    /// statements a client prepared when it releases a server connection
    /// (`server_reset_query = DEALLOCATE ALL`, `server_reset_query_always = 1`):
    /// sqlx names the statements it prepares even with its cache off.
    pub async fn connect_with(url: &str, options: &ConnectOptions) -> Result<Store> {
        install_default_drivers();
        if url.starts_with("sqlite:") {
            return Self::connect_sqlite(url).await;
        }
        if !(url.starts_with("postgres:") || url.starts_with("postgresql:")) {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        }
        if options.pool_size == 0 {
            return Err(StoreError::InvalidInput(
                "the database pool size is 0: give it at least 1 connection (16 by default)".into(),
            ));
        }
        let (pool_url, listen_url) = match &options.direct_url {
            None => (url.to_string(), url.to_string()),
            Some(direct) => {
                if !(direct.starts_with("postgres:") || direct.starts_with("postgresql:")) {
                    return Err(StoreError::InvalidInput(format!(
                        "the direct database URL {} is not a postgres:// URL: give the URL of \
                         PostgreSQL itself (not of the pooler)",
                        redact_password(direct)
                    )));
                }
                let migrations = AnyPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(direct)
                    .await?;
                MIGRATE_POSTGRES.run(&migrations).await?;
                migrations.close().await;
                (without_statement_cache(url), direct.clone())
            }
        };
        let pooled = options.direct_url.is_some();
        let pool = postgres_pool(pooled)
            .max_connections(options.pool_size)
            .connect(&pool_url)
            .await?;
        if !pooled {
            MIGRATE_POSTGRES.run(&pool).await?;
        }
        let reserved = postgres_pool(pooled)
            .max_connections(RESERVED_CONNECTIONS)
            .connect_lazy(&pool_url)?;
        let kind = if pooled {
            write::WriterKind::PostgresPooled
        } else {
            write::WriterKind::Postgres
        };
        let mut store = Self::assemble(Backend::Postgres, kind, pool.clone(), pool, reserved, url);
        store.listen_url = listen_url;
        if let Err(error) = store.ensure_log_partitions(store.now()).await {
            tracing::warn!(%error, "cannot make the log partitions ahead; lines go to the default partition until the next pruning pass does");
        }
        Ok(store)
    }
}

/// Options of a PostgreSQL pool; `pooled`: its URL goes through a pooler in
/// transaction mode, so each use of a connection runs in one transaction.
fn postgres_pool(pooled: bool) -> AnyPoolOptions {
    let options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(10));
    if !pooled {
        return options;
    }
    options
        .after_connect(|conn, _| Box::pin(async move { conn.execute("BEGIN").await.map(drop) }))
        .before_acquire(|conn, _| {
            Box::pin(async move { conn.execute("BEGIN").await.map(|_| true) })
        })
        // A transaction that failed is rolled back by COMMIT; one a write
        // transaction committed already makes this a no-op (with a warning).
        .after_release(|conn, _| {
            Box::pin(async move { conn.execute("COMMIT").await.map(|_| true) })
        })
}

/// `url` with sqlx's statement cache off (`statement-cache-capacity=0`).
fn without_statement_cache(url: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}statement-cache-capacity=0")
}
