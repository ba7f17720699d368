//! A test's own empty database on either backend.

use tempfile::TempDir;

use crate::postgres::{TempDatabase, fresh_database};

/// A test's own empty database, removed on drop: a SQLite file in a temporary
/// folder, or a fresh database on the test process's PostgreSQL server.
#[derive(Debug)]
pub struct TestDatabase {
    url: String,
    // Held only to be dropped with the value: each removes what it holds.
    _folder: Option<TempDir>,
    _postgres: Option<TempDatabase>,
}

impl TestDatabase {
    /// `sqlite://<temp folder>/orch.db` (created on connect).
    pub fn sqlite() -> TestDatabase {
        let folder = TempDir::new().expect("temp dir");
        TestDatabase {
            url: format!("sqlite://{}", folder.path().join("orch.db").display()),
            _folder: Some(folder),
            _postgres: None,
        }
    }

    /// A fresh PostgreSQL database. Blocks while it is created (and, the
    /// first time in a process, while the server starts).
    pub fn postgres() -> TestDatabase {
        let database = fresh_database();
        TestDatabase {
            url: database.url().to_string(),
            _folder: None,
            _postgres: Some(database),
        }
    }

    /// The URL for `Store::connect` or `--database-url`.
    pub fn url(&self) -> &str {
        &self.url
    }
}
