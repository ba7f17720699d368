//! orch across real hosts: PostgreSQL, servers and workers each in a
//! container of orch's own images on a private Docker network (the harness
//! is `orch_e2e::hosts`), with links cut and restored, servers restarted,
//! while flows write a ledger of every execution. Each test asserts on the
//! run states in the database and on that ledger: every run completes, and
//! no flow body finishes twice.
//!
//! - `partitions`: a worker cut off for less than a lease, and for longer;
//! - `restarts`: a server restarted while its workers are cut off, and a
//!   rolling restart of two servers on PostgreSQL with runs flowing;
//! - `compose`: `deploy/compose.yaml` itself, on locally built images.
//!
//! The images are built from the binaries under test (never pulled) and
//! cached by content. Without a reachable Docker engine every test is
//! skipped with a message saying so. The tests of this binary run one at a
//! time: their timings are about leases, and two clusters at once on two
//! cores would blur them.

#[path = "hosts/compose.rs"]
mod compose;
#[path = "hosts/partitions.rs"]
mod partitions;
#[path = "hosts/restarts.rs"]
mod restarts;

use std::time::Duration;

/// How long a state the test waits for may take.
pub const WAIT: Duration = Duration::from_secs(90);

/// The workers' pace: heartbeats every half second, claims every second
/// without a push, 2 s between SIGTERM and SIGKILL.
pub const WORKER_ARGS: &[&str] = &[
    "--heartbeat-seconds",
    "0.5",
    "--poll-seconds",
    "1",
    "--kill-grace-seconds",
    "2",
];
