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

/// Maps a use case's error (or a store error) onto the gRPC status a client
/// sees; its message is shown as it is. The one place kinds become gRPC codes.
pub(crate) fn status(error: impl Into<crate::ops::OpsError>) -> tonic::Status {
    use crate::ops::ErrorKind;
    let error = error.into();
    error.log_if_server_fault("gRPC");
    let code = match error.kind() {
        ErrorKind::NotFound => tonic::Code::NotFound,
        ErrorKind::AlreadyExists => tonic::Code::AlreadyExists,
        ErrorKind::Conflict => tonic::Code::FailedPrecondition,
        ErrorKind::Invalid => tonic::Code::InvalidArgument,
        // Not `Unavailable`: clients read that as "cannot reach the server".
        ErrorKind::Storage => tonic::Code::ResourceExhausted,
        ErrorKind::Unavailable => tonic::Code::Unavailable,
        ErrorKind::Unauthenticated => tonic::Code::Unauthenticated,
        ErrorKind::PermissionDenied => tonic::Code::PermissionDenied,
        ErrorKind::Internal => tonic::Code::Internal,
    };
    tonic::Status::new(code, error.to_string())
}

/// A status for a malformed request field.
pub(crate) fn invalid(message: impl Into<String>) -> tonic::Status {
    tonic::Status::invalid_argument(message.into())
}
