//! The store's integration tests, each on a fresh database of a private
//! PostgreSQL server (see `orch_testkit::postgres`).

mod common;
mod suite;

/// The backend every test of this binary runs on.
const BACKEND: orch_store::Backend = orch_store::Backend::Postgres;
