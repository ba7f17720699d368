//! The store's integration tests, each on a fresh SQLite file.

mod common;
mod suite;

/// The backend every test of this binary runs on.
const BACKEND: orch_store::Backend = orch_store::Backend::Sqlite;
