//! Connecting to PostgreSQL: the pools' sizes, and PostgreSQL's own URL for
//! what a connection pooler cannot carry (docs/operations.md "Connections"
//! and "PgBouncer").

use std::time::Duration;

use sqlx::AnyPool;
use sqlx::any::{AnyPoolOptions, install_default_drivers};

use crate::error::{Result, StoreError};
use crate::{Backend, MIGRATE_POSTGRES, RESERVED_CONNECTIONS, Store, redact_password};

/// How [`Store::connect_with`] connects to PostgreSQL (SQLite ignores it).
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    /// Connections of the main pool: API requests, worker calls and writes
    /// ([`DEFAULT_POOL_SIZE`]). Each server also opens [`RESERVED_CONNECTIONS`]
    /// for background duties and one for `LISTEN`.
    pub pool_size: u32,
    /// PostgreSQL itself, when the URL goes through a connection pooler
    /// (PgBouncer): migrations (which hold a session lock) and `LISTEN` use
    /// it; `None`: the URL is used for everything. See [`Store::connect_with`].
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
    /// With [`ConnectOptions::direct_url`] set, `url` may go through a
    /// connection pooler: migrations (sqlx holds a session advisory lock
    /// while it applies them) and `LISTEN` for the other replicas' events
    /// (a session's subscription) use the direct URL, everything else the
    /// pooled one. Everything else needs no session state: duty leases are
    /// rows, advisory locks are transaction-scoped. Statements are prepared
    /// by name (sqlx's statement cache), which PgBouncer carries in session
    /// mode, and in transaction mode from PgBouncer 1.21 with
    /// `max_prepared_statements` (docs/operations.md "PgBouncer").
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
        let pool = postgres_pool()
            .max_connections(options.pool_size)
            .connect(url)
            .await?;
        refuse_transaction_pooling(&pool, url).await?;
        let listen_url = match &options.direct_url {
            None => {
                MIGRATE_POSTGRES.run(&pool).await?;
                url.to_string()
            }
            Some(direct) => {
                if !(direct.starts_with("postgres:") || direct.starts_with("postgresql:")) {
                    return Err(StoreError::InvalidInput(format!(
                        "the direct database URL {} is not a postgres:// URL: give the URL of \
                         PostgreSQL itself (not of the pooler)",
                        redact_password(direct)
                    )));
                }
                let migrations = postgres_pool().max_connections(1).connect(direct).await?;
                MIGRATE_POSTGRES.run(&migrations).await?;
                migrations.close().await;
                direct.clone()
            }
        };
        let reserved = postgres_pool()
            .max_connections(RESERVED_CONNECTIONS)
            .connect_lazy(url)?;
        let mut store = Self::assemble(Backend::Postgres, pool.clone(), pool, reserved, url);
        store.listen_url = listen_url;
        if let Err(error) = store.maintenance().ensure_log_partitions(store.now()).await {
            tracing::warn!(%error, "cannot make the log partitions ahead; lines go to the default partition until the next pruning pass does");
        }
        Ok(store)
    }
}

/// Options of a PostgreSQL pool.
fn postgres_pool() -> AnyPoolOptions {
    AnyPoolOptions::new().acquire_timeout(Duration::from_secs(10))
}

/// Fails, saying what to do, when `url` goes through a pooler in transaction
/// mode that does not carry prepared statements (PgBouncer before 1.21, or
/// without `max_prepared_statements`): there each connection's statements
/// land on whichever server connection is free, and two clients' statements
/// of the same name collide. Two connections each prepare one statement; on
/// PostgreSQL itself, or a pooler in session mode, they never collide.
async fn refuse_transaction_pooling(pool: &AnyPool, url: &str) -> Result<()> {
    if pool.options().get_max_connections() < 2 {
        return Ok(());
    }
    let mut conns = [pool.acquire().await?, pool.acquire().await?];
    for turn in [0, 1, 0] {
        let probe = sqlx::query("SELECT $1::BIGINT")
            .bind(1_i64)
            .execute(&mut *conns[turn])
            .await;
        if let Err(sqlx::Error::Database(error)) = &probe
            // duplicate_prepared_statement, invalid_sql_statement_name
            && matches!(error.code().as_deref(), Some("42P05" | "26000"))
        {
            for conn in &mut conns {
                conn.close_on_drop();
            }
            return Err(StoreError::InvalidInput(format!(
                "the database URL {} goes through a connection pooler in transaction mode that \
                 does not keep prepared statements ({error}): orch prepares its statements. \
                 Use PgBouncer in session mode (pool_mode = session), or PgBouncer 1.21 or later \
                 with max_prepared_statements = 200 in transaction mode, and give PostgreSQL's \
                 own URL as --database-direct-url (docs/operations.md \"PgBouncer\")",
                redact_password(url)
            )));
        }
        probe?;
    }
    Ok(())
}
