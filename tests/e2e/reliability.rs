//! Reliability under hostile conditions, with the real binaries: a disk that
//! fills up, clients that stop reading, workers killed with `kill -9`, a
//! server stopped for longer than the lease, oversized input, peers that are
//! silent or not orch at all, and input that makes no sense.
//! `docs/reliability.md` maps each guarantee to its test here.

#[path = "reliability/disk.rs"]
mod disk;
#[path = "reliability/execution.rs"]
mod execution;
#[path = "reliability/guard.rs"]
mod guard;
#[path = "reliability/http.rs"]
mod http;
#[path = "reliability/input.rs"]
mod input;
#[path = "reliability/limits.rs"]
mod limits;
#[path = "reliability/slow_readers.rs"]
mod slow_readers;
