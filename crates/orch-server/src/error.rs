//! The server's error type and its mapping onto gRPC statuses.

use orch_store::StoreError;

/// Errors that stop the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The address could not be bound.
    #[error(
        "cannot listen on {addr}: {source}. Is another server running? Pick another port with --port or ORCH_PORT"
    )]
    Bind {
        /// The address.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The database could not be opened or migrated.
    #[error("cannot open the database {url}: {source}")]
    Database {
        /// The URL, password redacted.
        url: String,
        /// The cause.
        source: StoreError,
    },
    /// Another server holds the SQLite database.
    #[error(
        "another orch server is already using {path} (it holds {lock}). A SQLite database serves one server: stop the other one, give this one its own database with --database-url, or run several servers on one PostgreSQL database (--database-url postgres://...)"
    )]
    DatabaseInUse {
        /// The database file.
        path: String,
        /// The lock file beside it.
        lock: String,
    },
    /// A setting cannot work with this database.
    #[error("{0}")]
    Config(String),
    /// Serving failed.
    #[error("server error: {0}")]
    Serve(std::io::Error),
}

/// Maps a store error onto the gRPC status a client sees; its message is shown as it is.
pub(crate) fn status(error: StoreError) -> tonic::Status {
    match error {
        StoreError::NotFound { .. } => tonic::Status::not_found(error.to_string()),
        StoreError::AlreadyExists { .. } => tonic::Status::already_exists(error.to_string()),
        StoreError::Conflict(_) => tonic::Status::failed_precondition(error.to_string()),
        StoreError::InvalidInput(_) | StoreError::UnsupportedUrl(_) => {
            tonic::Status::invalid_argument(error.to_string())
        }
        // Not `Unavailable`: clients read that as "cannot reach the server".
        StoreError::Storage(_) => {
            tracing::error!(%error, "request failed: the database cannot store writes");
            tonic::Status::resource_exhausted(error.to_string())
        }
        other => {
            tracing::error!(error = %other, "request failed");
            tonic::Status::internal(other.to_string())
        }
    }
}

/// A status for a malformed request field.
pub(crate) fn invalid(message: impl Into<String>) -> tonic::Status {
    tonic::Status::invalid_argument(message.into())
}
