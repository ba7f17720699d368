//! The one error type of sentinel's library.

use std::path::PathBuf;

/// Everything that can go wrong in sentinel's library. Each variant says what
/// failed and, where there is one, what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum SentinelError {
    /// The configuration file could not be read or parsed.
    #[error("config {path}: {message}")]
    Config {
        /// The file that was read.
        path: PathBuf,
        /// What is wrong, with a hint.
        message: String,
    },
    /// A configuration value is invalid (independent of any file).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// An upstream service answered 429 Too Many Requests.
    #[error(
        "{service} rate-limited the request to {url} (HTTP 429{retry_after}); the task retry will try again",
        retry_after = retry_after_secs.map(|s| format!(", retry after {s} s")).unwrap_or_default()
    )]
    RateLimited {
        /// Which service (yahoo, newsapi, rss:NAME).
        service: String,
        /// The URL that was requested.
        url: String,
        /// The `Retry-After` header, when sent.
        retry_after_secs: Option<u64>,
    },
    /// An upstream service answered with an HTTP error status.
    #[error("{service} answered HTTP {status} for {url}: {body}")]
    Http {
        /// Which service.
        service: String,
        /// The URL that was requested.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// The start of the response body (or the service's error message).
        body: String,
    },
    /// The request did not complete (DNS, connect, TLS, timeout, ...).
    #[error("{service}: request to {url} failed: {source}")]
    Transport {
        /// Which service.
        service: String,
        /// The URL that was requested.
        url: String,
        /// The underlying client error.
        #[source]
        source: reqwest::Error,
    },
    /// A response or a file had an unexpected format.
    #[error("{what}: {message}")]
    Parse {
        /// What was being parsed (a URL or a file path).
        what: String,
        /// What is wrong with it.
        message: String,
    },
    /// Every configured source returned nothing.
    #[error("no data retrieved: {0}")]
    NoData(String),
    /// A file-system operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// sentinel's database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A database migration failed.
    #[error("database migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// The model could not be built, trained, saved or loaded.
    #[error("model: {0}")]
    Model(String),
    /// Not enough data for the requested operation.
    #[error("not enough data: {0}")]
    InsufficientData(String),
    /// The model registry has no such version, or no active model.
    #[error("model registry: {0}")]
    Registry(String),
    /// A value given on the command line or as a parameter is invalid.
    #[error("invalid input: {0}")]
    InvalidInput(String),
}

impl SentinelError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        SentinelError::Io {
            path: path.into(),
            source,
        }
    }

    /// True for errors a retry can fix: rate limits, 5xx, transport failures.
    pub fn is_transient(&self) -> bool {
        match self {
            SentinelError::RateLimited { .. } | SentinelError::Transport { .. } => true,
            SentinelError::Http { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

impl From<candle_core::Error> for SentinelError {
    fn from(e: candle_core::Error) -> Self {
        SentinelError::Model(e.to_string())
    }
}

/// Result alias of sentinel's library.
pub type Result<T, E = SentinelError> = std::result::Result<T, E>;
