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
    /// The database URL is not usable.
    #[error("unsupported database URL \"{0}\": use sqlite://PATH or postgres://USER@HOST/DB")]
    UnsupportedUrl(String),
    /// Migrations could not be applied.
    #[error("cannot apply database migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Any other database failure.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored JSON column could not be read back.
    #[error("corrupt JSON in column {column}: {source}")]
    CorruptJson {
        /// The column.
        column: &'static str,
        /// The cause.
        source: serde_json::Error,
    },
}

impl StoreError {
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
