//! Test support shared by orch's test suites.
//!
//! [`TestDatabase`] gives each test its own empty database, a SQLite file or
//! a PostgreSQL database on a server private to the test process (see
//! [`postgres`]), so the store, the server and the end-to-end suites run
//! against real PostgreSQL as well as SQLite. [`OwnedPostgres`] is a server a
//! test may stop and start again.

mod database;
mod owned_postgres;
mod pgbouncer;
pub mod postgres;

pub use database::TestDatabase;
pub use owned_postgres::OwnedPostgres;
pub use pgbouncer::{PgBouncer, PoolMode};
pub use postgres::{TempDatabase, fresh_database};
