//! The default of every setting that more than one part of orch knows about,
//! written once. The server, the worker, the CLI (its flags' defaults and
//! `orch config view`) and the SDK read them from here, so a default cannot
//! differ between the side that applies it and the side that documents it.

use std::time::Duration;

/// The API URL of client commands, workers and flows.
pub const API_URL: &str = "http://127.0.0.1:4200";
/// The interface `orch server start` binds.
pub const HOST: &str = "127.0.0.1";
/// The port `orch server start` binds (gRPC, REST, dashboard and metrics).
pub const PORT: u16 = 4200;

/// A Scheduled run not started this long after its expected start is Late.
pub const LATE_AFTER: Duration = Duration::from_secs(15);
/// A worker silent for this long is offline and its runs' leases expire.
pub const WORKER_LEASE: Duration = Duration::from_secs(30);
/// How long a server reuses an API key it checked (revocations still hold
/// at once: they empty the cache; see orch-server's `auth::cache`).
pub const TOKEN_CACHE: Duration = Duration::from_secs(10);
/// How often a worker tells the server it is alive (well under [`WORKER_LEASE`]).
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);
/// How often a worker claims without being woken: the fallback for a missed
/// push and for the time its event stream is down.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// On cancel, how long a run's processes have between SIGTERM and SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(10);
/// On worker shutdown, how long running flows may take to finish.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// How long a tag concurrency slot lasts without renewal.
pub const SLOT_LEASE: Duration = Duration::from_secs(60);
/// Streams (`logs --follow`, `--watch`, live pages) one client address may hold open.
pub const MAX_STREAMS_PER_CLIENT: usize = 32;

/// How long a client waits for the server to accept a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a CLI call waits for the server's answer (streams: for their start).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one attempt of a worker's or flow's call may take before it is
/// retried: shorter than [`REQUEST_TIMEOUT`], since these calls are retried.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Interval of the HTTP/2 pings that detect a server gone without closing the
/// connection (a network partition).
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(20);
/// How long a ping may go unanswered before the connection counts as dead.
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

// Checked at compile time: a heartbeat fits several times in a lease, and a
// retried call gives up before a CLI call would.
const _: () = assert!(HEARTBEAT_INTERVAL.as_secs() * 3 <= WORKER_LEASE.as_secs());
const _: () = assert!(CALL_TIMEOUT.as_secs() < REQUEST_TIMEOUT.as_secs());
const _: () = assert!(KEEPALIVE_TIMEOUT.as_secs() < KEEPALIVE_INTERVAL.as_secs());
