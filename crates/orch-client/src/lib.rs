//! How orch's CLI, worker and SDK talk to the server.
//!
//! - [`connect`]: the one gRPC channel builder ([`ClientOptions`] -> [`Api`]):
//!   connect and request timeouts, HTTP/2 keepalive, the message size limit,
//!   and the [`Credentials`] interceptor that attaches `authorization: Bearer
//!   <key>` when an API key is configured.
//! - [`urls`] and [`failover`]: several replicas' URLs in one setting
//!   (`http://a:4200,http://b:4200`); calls go to one at a time, moving to
//!   the next when it fails at the connection level (refused, reset, timed
//!   out, draining), and staying on one that answers.
//! - [`retry`]: one retry policy for calls that must go through: exponential
//!   backoff with jitter while the failure is transient ([`is_transient`]:
//!   unreachable, restarting, `RESOURCE_EXHAUSTED` when the server's disk is
//!   full), never for a refusal on the merits.
//! - [`shipper`]: the one bounded, byte-capped shipper of log lines and task
//!   run reports ([`Shipper`]), used by the worker (a flow's output) and the
//!   SDK (`tracing` events and task states).
//! - [`states`]: a worker's state reports of many runs sent together
//!   (`SetFlowRunStates`), one call at a time ([`StateReports`]).
//! - [`flow_env`]: the environment a worker gives a flow process, read by the
//!   SDK (see `docs/flow-protocol.md`).
//!
//! ```no_run
//! # async fn example() -> Result<(), orch_client::ConnectError> {
//! let options = orch_client::ClientOptions::new("http://127.0.0.1:4200");
//! let api = orch_client::Api::connect(&options).await?;
//! let mut flow_runs = api.flow_runs();
//! # Ok(()) }
//! ```

pub mod connect;
pub mod failover;
pub mod flow_env;
pub mod retry;
pub mod shipper;
pub mod states;
pub mod urls;

pub use connect::{Api, ClientOptions, ConnectError, Credentials, Transport, normalize_url};
pub use retry::{attempt, backoff, describe, error_chain, is_transient, retry};
pub use shipper::{Outbox, Report, Shipper, ShipperOptions};
pub use states::StateReports;
pub use urls::{join_urls, split_urls};
