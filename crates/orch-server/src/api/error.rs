//! Errors of the JSON API: a status code and a message a person can act on,
//! sent as `{"error": "..."}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use orch_store::StoreError;

use crate::ops::{ErrorKind, OpsError};
use serde_json::json;

/// A failed API request.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// What went wrong and what to do about it.
    pub message: String,
}

impl ApiError {
    /// 400: the request is malformed.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// 404: the named object does not exist.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }

    /// 422: well-formed JSON that is not what the endpoint takes.
    pub fn unprocessable(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: message.into(),
        }
    }

    /// 429: the client holds too much of the server already.
    pub fn too_many_requests(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: message.into(),
        }
    }

    /// 409: valid, but not possible in the object's current state.
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::CONFLICT,
            message: message.into(),
        }
    }
}

impl From<OpsError> for ApiError {
    /// The one place kinds become HTTP statuses.
    fn from(error: OpsError) -> ApiError {
        error.log_if_server_fault("API");
        let status = match error.kind() {
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::AlreadyExists | ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::Invalid => StatusCode::BAD_REQUEST,
            ErrorKind::Storage | ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError {
            status,
            message: error.to_string(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        ApiError::from(OpsError::from(error))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(json!({ "error": self.message }))).into_response()
    }
}

/// The result of an API handler.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_map_to_statuses() {
        let missing = StoreError::NotFound {
            kind: "deployment",
            name: "a/b".into(),
            hint: String::new(),
        };
        assert_eq!(ApiError::from(missing).status, StatusCode::NOT_FOUND);
        let conflict = StoreError::Conflict("already Completed".into());
        assert_eq!(ApiError::from(conflict).status, StatusCode::CONFLICT);
        let invalid = StoreError::InvalidInput("bad cursor".into());
        let error = ApiError::from(invalid);
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
        assert_eq!(error.message, "bad cursor");
    }
}
