//! The worker's one error type: everything that stops it for good.

/// Why [`run`](crate::run) gave up.
///
/// Only start-up can fail: once the worker is registered, server outages are
/// retried until they pass and never surface here.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The API URL or key is unusable, or the server does not accept connections.
    #[error(transparent)]
    Connect(#[from] orch_client::ConnectError),

    /// The server did not answer the registration.
    #[error(
        "cannot reach the orch server at {url}: {cause}. Start it with 'orch server start' or point --api-url / ORCH_API_URL at it"
    )]
    Unreachable {
        /// The URL that was tried.
        url: String,
        /// The transport error, as text (it may come from tonic or a gRPC status).
        cause: String,
    },

    /// The server does not know the work pool the worker was asked to serve.
    #[error(
        "work pool {pool:?} does not exist; create it with: orch work-pool create {pool} --type process"
    )]
    PoolNotFound {
        /// The pool's name.
        pool: String,
    },

    /// The server refused to register the worker for another reason.
    #[error(
        "the orch server refused to register worker {name:?} on pool {pool:?}: {message} ({code:?})"
    )]
    Register {
        /// The worker's name.
        name: String,
        /// The pool's name.
        pool: String,
        /// The gRPC status code of the answer.
        code: tonic::Code,
        /// The server's explanation.
        message: String,
    },

    /// The isolation asked for by name is not available on this host.
    #[error("{0}")]
    Isolation(String),

    /// The pool's type needs an engine (Docker) that cannot be reached.
    #[error("{0}")]
    Engine(String),

    /// The pool is of a type this worker cannot run.
    #[error(
        "work pool {pool:?} is of type {pool_type:?}, which this worker cannot run (it runs \"process\" and \"docker\" pools): upgrade the worker"
    )]
    PoolType {
        /// The pool's name.
        pool: String,
        /// Its type.
        pool_type: String,
    },
}
