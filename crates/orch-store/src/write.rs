//! Write transactions that never outlive a failure, and the writer's health.
//!
//! Why not `sqlx::Transaction`: sqlx counts transaction depth itself and
//! assumes the database agrees. SQLite does not always: on `SQLITE_FULL` (and
//! `SQLITE_IOERR`, `SQLITE_NOMEM`) it may roll the whole transaction back by
//! itself. sqlx's `ROLLBACK` on drop then fails ("no transaction is active"),
//! its depth stays at 1, the next `begin` issues `SAVEPOINT` instead of
//! `BEGIN`, and after one more failure the connection is left inside a
//! transaction that is never committed: every later write on the writer's
//! only connection is acknowledged, visible to nobody else, and lost at the
//! next restart. That was the "full disk loses acknowledged runs" defect.
//!
//! A [`WriteTx`] issues `BEGIN`/`COMMIT`/`ROLLBACK` itself, and a transaction
//! that does not end in a successful `COMMIT` or `ROLLBACK` (a failed
//! statement, a failed commit, a dropped future) closes its connection: the
//! database rolls back whatever was left and the pool opens a clean one. So a
//! failure can never leak into a later transaction.
//!
//! The writer's health ([`WriteHealth`]) is the outcome of the last write
//! transaction: a failure marks it failing with the database's reason until a
//! later commit succeeds, which needs no restart.

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool};

use crate::error::{Result, StoreError};

/// Whether writes currently succeed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WriteHealth {
    /// The last write transaction committed (or none was tried yet).
    pub ok: bool,
    /// Why the last write failed, when it did.
    pub error: Option<String>,
    /// When writes started failing (microseconds since the epoch).
    pub failing_since: Option<i64>,
    /// Write transactions that failed since the store was opened.
    pub failures: u64,
}

#[derive(Debug, Default)]
struct HealthState {
    error: Option<(String, i64)>,
    failures: u64,
}

/// The pool that writes, with its health; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    pool: AnyPool,
    health: Arc<Mutex<HealthState>>,
    /// `BEGIN IMMEDIATE` on SQLite: the transaction takes the write lock
    /// before its first read, so a second connection writing the same file
    /// (a replica in tests, `orch server` tools) makes it wait out the busy
    /// timeout instead of failing with `SQLITE_BUSY_SNAPSHOT` when it writes
    /// after reading. `BEGIN` elsewhere.
    begin: &'static str,
}

impl Writer {
    pub(crate) fn new(pool: AnyPool, sqlite: bool) -> Writer {
        Writer {
            pool,
            health: Arc::default(),
            begin: if sqlite { "BEGIN IMMEDIATE" } else { "BEGIN" },
        }
    }

    /// The same writer (and health) on another pool.
    pub(crate) fn with_pool(&self, pool: AnyPool) -> Writer {
        Writer {
            pool,
            health: self.health.clone(),
            begin: self.begin,
        }
    }

    /// The pool, for single statements (which commit or roll back by themselves).
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Starts a write transaction.
    pub(crate) async fn begin(&self) -> Result<WriteTx> {
        let mut conn = match self.pool.acquire().await {
            Ok(conn) => conn,
            Err(error) => return Err(self.failed(error.into())),
        };
        if let Err(error) = sqlx::query(self.begin).execute(&mut *conn).await {
            conn.close_on_drop();
            return Err(self.failed(error.into()));
        }
        Ok(WriteTx {
            conn: Some(conn),
            writer: self.clone(),
        })
    }

    /// The writer's health now.
    pub(crate) fn health(&self) -> WriteHealth {
        let state = self.health.lock().expect("health lock");
        WriteHealth {
            ok: state.error.is_none(),
            error: state.error.as_ref().map(|(error, _)| error.clone()),
            failing_since: state.error.as_ref().map(|(_, since)| *since),
            failures: state.failures,
        }
    }

    /// Records `result` of a write: a storage failure marks the writer
    /// failing; success marks it healthy again.
    pub(crate) fn observe<T>(&self, result: Result<T>) -> Result<T> {
        match result {
            Ok(value) => {
                self.succeeded();
                Ok(value)
            }
            Err(error) => Err(self.failed(error)),
        }
    }

    fn succeeded(&self) {
        let mut state = self.health.lock().expect("health lock");
        if let Some((error, _)) = state.error.take() {
            tracing::info!(previous = %error, "database writes succeed again");
        }
    }

    /// Marks the writer failing when `error` says the database cannot store
    /// writes; returns the error for the caller.
    fn failed(&self, error: StoreError) -> StoreError {
        if error.is_storage() {
            let mut state = self.health.lock().expect("health lock");
            state.failures += 1;
            if state.error.is_none() {
                tracing::error!(%error, "database writes are failing");
            }
            let since = state
                .error
                .as_ref()
                .map_or_else(crate::now_micros, |(_, since)| *since);
            state.error = Some((error.to_string(), since));
        }
        error
    }
}

/// A write transaction on the writer's connection. Dereferences to the
/// connection, so `&mut *tx` runs a statement inside it.
#[derive(Debug)]
pub(crate) struct WriteTx {
    /// `None` once committed or rolled back.
    conn: Option<PoolConnection<Any>>,
    writer: Writer,
}

impl WriteTx {
    /// Commits; on failure the connection is closed, so nothing of this
    /// transaction survives, and the caller gets the database's reason.
    pub(crate) async fn commit(mut self) -> Result<()> {
        let mut conn = self.conn.take().expect("an open transaction");
        match sqlx::query("COMMIT").execute(&mut *conn).await {
            Ok(_) => {
                self.writer.succeeded();
                Ok(())
            }
            Err(error) => {
                conn.close_on_drop();
                Err(self.writer.failed(error.into()))
            }
        }
    }

    /// Rolls back (nothing was meant to be written).
    pub(crate) async fn rollback(mut self) -> Result<()> {
        let mut conn = self.conn.take().expect("an open transaction");
        if let Err(error) = sqlx::query("ROLLBACK").execute(&mut *conn).await {
            // SQLite may have rolled back by itself; either way this
            // connection's state is unknown, so it is not reused.
            tracing::debug!(%error, "rollback failed; closing the connection");
            conn.close_on_drop();
        }
        Ok(())
    }
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        // Neither committed nor rolled back: a statement failed or the caller
        // went away. Closing the connection rolls back whatever is left.
        if let Some(mut conn) = self.conn.take() {
            conn.close_on_drop();
        }
    }
}

impl Deref for WriteTx {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        self.conn.as_ref().expect("an open transaction")
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        self.conn.as_mut().expect("an open transaction")
    }
}
