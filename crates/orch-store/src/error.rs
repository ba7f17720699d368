//! The store's error type.

/// What can go wrong in the store. Messages are meant for the user as they are.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A named object does not exist.
    #[error("{kind} \"{name}\" not found{hint}")]
    NotFound {
        /// "work pool", "deployment", ...
        kind: &'static str,
        /// What was asked for.
        name: String,
        /// A "did you mean" hint or a how-to, possibly empty.
        hint: String,
    },
    /// A named object exists already.
    #[error("{kind} \"{name}\" already exists{hint}")]
    AlreadyExists {
        /// "work pool", ...
        kind: &'static str,
        /// Its name.
        name: String,
        /// What to do instead.
        hint: String,
    },
    /// The request is valid but conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// The request itself is invalid.
    #[error("{0}")]
    InvalidInput(String),
    /// The request touches what belongs to someone else (another run's
    /// task runs): refused whoever asks.
    #[error("{0}")]
    Forbidden(String),
    /// The database URL is not usable.
    #[error("unsupported database URL \"{0}\": use sqlite://PATH or postgres://USER@HOST/DB")]
    UnsupportedUrl(String),
    /// Migrations could not be applied.
    #[error("cannot apply database migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database cannot store writes now: disk full, I/O error, read-only
    /// file system, connection lost. Nothing of the failed write was stored.
    #[error(
        "the database cannot store writes now ({0}); nothing was stored. Free disk space or fix the database's storage, then retry: the server recovers by itself"
    )]
    Storage(String),
    /// Any other database failure.
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// A stored JSON column could not be read back.
    #[error("corrupt JSON in column {column}: {source}")]
    CorruptJson {
        /// The column.
        column: &'static str,
        /// The cause.
        source: serde_json::Error,
    },
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        if is_storage_failure(&error) {
            StoreError::Storage(error.to_string())
        } else {
            StoreError::Database(error)
        }
    }
}

/// Whether `error` says the database cannot store anything now, as opposed to
/// a problem with one statement (a constraint, a syntax error).
fn is_storage_failure(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
        sqlx::Error::Database(db) => {
            let Some(code) = db.code() else {
                return false;
            };
            if let Ok(sqlite) = code.parse::<i64>() {
                // SQLite result codes (extended codes keep the primary in the low byte):
                // READONLY 8, IOERR 10, CORRUPT 11, FULL 13, CANTOPEN 14, NOMEM 7.
                return matches!(sqlite & 0xff, 7 | 8 | 10 | 11 | 13 | 14);
            }
            // PostgreSQL SQLSTATEs: insufficient resources (53: disk full, out of
            // memory), connection exceptions (08), system errors (58),
            // read-only transactions (25006), shutting down (57P0x).
            code.starts_with("53")
                || code.starts_with("08")
                || code.starts_with("58")
                || code == "25006"
                || code.starts_with("57P0")
        }
        _ => false,
    }
}

impl StoreError {
    /// Whether this error says writes cannot be stored now (see [`StoreError::Storage`]).
    pub fn is_storage(&self) -> bool {
        matches!(self, StoreError::Storage(_))
    }

    /// A `NotFound` whose hint lists close matches among `candidates`.
    pub fn not_found<'a>(
        kind: &'static str,
        name: &str,
        candidates: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        let hint = orch_core::did_you_mean(&orch_core::close_matches(name, candidates));
        StoreError::NotFound {
            kind,
            name: name.to_string(),
            hint,
        }
    }
}

/// The store's result type.
pub type Result<T> = std::result::Result<T, StoreError>;
