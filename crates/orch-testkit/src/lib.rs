//! Test support shared by orch's test suites.
//!
//! [`postgres::fresh_database`] gives each test its own empty PostgreSQL
//! database on a server private to the test process, so the store, the server
//! and the end-to-end suites run against real PostgreSQL as well as SQLite.

pub mod postgres;

pub use postgres::{TempDatabase, fresh_database};
