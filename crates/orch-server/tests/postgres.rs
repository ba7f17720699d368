//! The server's integration tests, each on a fresh database of a private
//! PostgreSQL server (see `orch_testkit::postgres`).

mod common;
/// Several servers on one database: PostgreSQL only (a SQLite file serves one server).
#[path = "postgres/replicas.rs"]
mod replicas;
mod suite;

/// The backend every test of this binary runs on.
const BACKEND: orch_store::Backend = orch_store::Backend::Postgres;
