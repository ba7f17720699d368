//! The application layer's one error type, and the kinds the transports map.
//!
//! Each kind is mapped once onto a gRPC code (`crate::error::status`) and once
//! onto an HTTP status with a JSON body (`crate::api::ApiError`); messages are
//! shown to the user as they are, so they say what went wrong and what to do.

use orch_store::StoreError;

/// Why a use case failed.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// The store refused or failed (not found, conflict, storage full, ...).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The request itself is invalid.
    #[error("{0}")]
    Invalid(String),
    /// The server cannot serve the request now (shutting down); retry later.
    #[error("{0}")]
    Unavailable(String),
    /// No credential, or one the server does not accept.
    #[error("{0}")]
    Unauthenticated(String),
    /// A valid credential without the right to do this.
    #[error("{0}")]
    PermissionDenied(String),
}

/// What kind of failure an [`OpsError`] is: what the transports map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The named object does not exist.
    NotFound,
    /// The named object exists already.
    AlreadyExists,
    /// Valid, but not possible in the object's current state.
    Conflict,
    /// The request is malformed.
    Invalid,
    /// The database cannot store writes now; nothing was stored.
    Storage,
    /// Retry later.
    Unavailable,
    /// No or a bad credential.
    Unauthenticated,
    /// The credential may not do this.
    PermissionDenied,
    /// A fault of the server's.
    Internal,
}

impl OpsError {
    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            OpsError::Store(error) => match error {
                StoreError::NotFound { .. } => ErrorKind::NotFound,
                StoreError::AlreadyExists { .. } => ErrorKind::AlreadyExists,
                StoreError::Conflict(_) => ErrorKind::Conflict,
                StoreError::InvalidInput(_) | StoreError::UnsupportedUrl(_) => ErrorKind::Invalid,
                StoreError::Storage(_) => ErrorKind::Storage,
                StoreError::Forbidden(_) => ErrorKind::PermissionDenied,
                _ => ErrorKind::Internal,
            },
            OpsError::Invalid(_) => ErrorKind::Invalid,
            OpsError::Unavailable(_) => ErrorKind::Unavailable,
            OpsError::Unauthenticated(_) => ErrorKind::Unauthenticated,
            OpsError::PermissionDenied(_) => ErrorKind::PermissionDenied,
        }
    }

    /// Logs a failure that is the server's (storage, internal) once, where it
    /// is mapped for a client; `transport` names who answers ("gRPC", "API").
    pub fn log_if_server_fault(&self, transport: &str) {
        match self.kind() {
            ErrorKind::Storage => {
                tracing::error!(error = %self, "{transport} request failed: the database cannot store writes");
            }
            ErrorKind::Internal => tracing::error!(error = %self, "{transport} request failed"),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_keep_their_kind_and_message() {
        let missing = OpsError::from(StoreError::NotFound {
            kind: "deployment",
            name: "a/b".into(),
            hint: String::new(),
        });
        assert_eq!(missing.kind(), ErrorKind::NotFound);
        assert_eq!(missing.to_string(), "deployment \"a/b\" not found");
        let full = OpsError::from(StoreError::Storage("disk full".into()));
        assert_eq!(full.kind(), ErrorKind::Storage);
        assert_eq!(
            OpsError::from(StoreError::Conflict("already Completed".into())).kind(),
            ErrorKind::Conflict
        );
        assert_eq!(OpsError::Invalid("x".into()).kind(), ErrorKind::Invalid);
    }
}
