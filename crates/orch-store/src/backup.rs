//! Online backups of SQLite databases, checking database files, and the
//! schema version.
//!
//! A backup is `VACUUM INTO` a temporary file beside the destination: SQLite
//! copies one read transaction's snapshot, so the copy is consistent while
//! the server keeps writing (WAL readers do not block the writer). The copy
//! is then opened on its own and must pass `PRAGMA integrity_check` before it
//! is renamed into place. PostgreSQL databases are copied with `pg_dump`,
//! which [`pg_dump_command`] spells out.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};

use crate::Maintenance;
use crate::error::{Result, StoreError};
use crate::{Backend, MIGRATE_POSTGRES, MIGRATE_SQLITE, redact_password, sqlite_path};

/// The schema a database is at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SchemaVersion {
    /// The newest migration applied to the database (0 when none).
    pub applied: i64,
    /// The newest migration this build of orch knows.
    pub latest: i64,
}

impl SchemaVersion {
    /// Whether every migration this build knows is applied.
    pub fn is_current(&self) -> bool {
        self.applied >= self.latest
    }
}

/// A checked database file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileCheck {
    /// Its schema.
    pub schema: SchemaVersion,
    /// How many flow runs it holds.
    pub flow_runs: i64,
    /// Its size in bytes.
    pub bytes: u64,
}

/// The newest migration of `backend` in this build.
pub fn latest_migration(backend: Backend) -> i64 {
    let migrator = match backend {
        Backend::Sqlite => &MIGRATE_SQLITE,
        Backend::Postgres => &MIGRATE_POSTGRES,
    };
    migrator.iter().map(|m| m.version).max().unwrap_or(0)
}

impl Maintenance<'_> {
    /// The schema version of the database.
    pub async fn schema_version(&self) -> Result<SchemaVersion> {
        let applied = applied_version(&self.reader).await?;
        Ok(SchemaVersion {
            applied,
            latest: latest_migration(self.backend),
        })
    }

    /// Runs a trivial query: whether the database answers.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    /// Writes a consistent, checked copy of the database to `destination`
    /// (SQLite only; see [`pg_dump_command`] for PostgreSQL).
    pub async fn backup_to(&self, destination: &Path) -> Result<FileCheck> {
        match self.backend {
            Backend::Sqlite => {
                let mut conn = self.reader.acquire().await?;
                vacuum_into(destination, |target| async move {
                    sqlx::query("VACUUM INTO $1")
                        .bind(target)
                        .execute(&mut *conn)
                        .await
                        .map(|_| ())
                })
                .await
            }
            Backend::Postgres => Err(StoreError::InvalidInput(pg_dump_message(
                &self.url,
                destination,
            ))),
        }
    }
}

/// Backs up the SQLite database of `url` to `destination` without a server:
/// opens the file as it is (no migration) and copies it as
/// [`Maintenance::backup_to`] does. A running server may keep writing meanwhile.
pub async fn backup_database(url: &str, destination: &Path) -> Result<FileCheck> {
    sqlx::any::install_default_drivers();
    if !url.starts_with("sqlite:") {
        return Err(StoreError::InvalidInput(pg_dump_message(url, destination)));
    }
    let path = sqlite_path(url).ok_or_else(|| {
        StoreError::InvalidInput(format!("{url} names no database file to back up"))
    })?;
    if !path.is_file() {
        return Err(StoreError::InvalidInput(format!(
            "there is no database at {} (check --database-url or ORCH_DATABASE_URL)",
            path.display()
        )));
    }
    let mut conn = open_file(&path, false).await?;
    let connection = &mut conn;
    let checked = vacuum_into(destination, move |target| async move {
        sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(connection)
            .await
            .map(|_| ())
    })
    .await;
    conn.close().await?;
    checked
}

/// Opens the SQLite file at `path` itself: the connection options are
/// built from the path, never from a URL, so no character of the file name
/// is decoded (`good%41.db` opens `good%41.db`, never `goodA.db`). The
/// file must exist.
async fn open_file(path: &Path, read_only: bool) -> Result<SqliteConnection> {
    Ok(SqliteConnectOptions::new()
        .filename(path)
        .read_only(read_only)
        .create_if_missing(false)
        .busy_timeout(Duration::from_secs(10))
        .connect()
        .await?)
}

/// `VACUUM INTO` a temporary file beside `destination` (`copy` runs the
/// statement with the temporary file's name), check it, rename it.
async fn vacuum_into<F, Fut>(destination: &Path, copy: F) -> Result<FileCheck>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = std::result::Result<(), sqlx::Error>>,
{
    if destination.exists() {
        return Err(StoreError::InvalidInput(format!(
            "{} exists already: name a new file, or delete the old one first",
            destination.display()
        )));
    }
    let partial = partial_path(destination);
    let _ = std::fs::remove_file(&partial);
    // Created empty and owner-only (VACUUM INTO fills an empty file): a
    // backup holds everything the database does, keys in log lines included.
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(&partial).map_err(|error| {
        StoreError::InvalidInput(format!(
            "cannot write the backup {}: {error} (does the folder exist, and may orch write there?)",
            destination.display()
        ))
    })?;
    #[cfg(unix)]
    std::fs::set_permissions(
        &partial,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .map_err(|error| {
        StoreError::InvalidInput(format!("cannot make the backup owner-only: {error}"))
    })?;
    let target = partial.to_str().ok_or_else(|| {
        StoreError::InvalidInput(format!("{} is not a UTF-8 path", destination.display()))
    })?;
    if let Err(error) = copy(target.to_string()).await {
        let _ = std::fs::remove_file(&partial);
        return Err(StoreError::InvalidInput(format!(
            "cannot write the backup {}: {error} (does the folder exist, and may orch write there?)",
            destination.display()
        )));
    }
    match check_database_file(&partial).await {
        Ok(check) => {
            std::fs::rename(&partial, destination).map_err(|error| {
                StoreError::InvalidInput(format!(
                    "cannot move the backup into place at {}: {error}",
                    destination.display()
                ))
            })?;
            Ok(check)
        }
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            Err(error)
        }
    }
}

/// `FILE.partial`, where a backup is written before it is checked.
fn partial_path(destination: &Path) -> PathBuf {
    let mut name = destination.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// Opens the SQLite file at `path` read-only and checks that it is sound
/// (`PRAGMA integrity_check`) and an orch database no newer than this build.
pub async fn check_database_file(path: &Path) -> Result<FileCheck> {
    sqlx::any::install_default_drivers();
    let bad = |why: String| StoreError::InvalidInput(format!("{} {why}", path.display()));
    let metadata =
        std::fs::metadata(path).map_err(|error| bad(format!("cannot be read: {error}")))?;
    if !metadata.is_file() {
        return Err(bad(
            "is not a file (a SQLite database is one regular file)".into()
        ));
    }
    let mut conn = open_file(path, true)
        .await
        .map_err(|error| bad(format!("cannot be opened as a SQLite database: {error}")))?;
    let result = async {
        let rows: Vec<(String,)> = sqlx::query_as("PRAGMA integrity_check")
            .fetch_all(&mut conn)
            .await
            .map_err(|error| bad(format!("is not a SQLite database: {error}")))?;
        let verdict: Vec<String> = rows.into_iter().map(|(line,)| line).collect();
        if verdict != ["ok"] {
            return Err(bad(format!(
                "fails SQLite's integrity check: {}",
                verdict.join("; ")
            )));
        }
        let (applied,): (Option<i64>,) =
            sqlx::query_as("SELECT MAX(version) FROM _sqlx_migrations WHERE success = TRUE")
                .fetch_one(&mut conn)
                .await
                .map_err(|_| bad("is not an orch database (it has no migration history)".into()))?;
        let applied = applied.unwrap_or(0);
        let latest = latest_migration(Backend::Sqlite);
        if applied > latest {
            return Err(bad(format!(
                "was written by a newer orch (schema {applied}; this orch knows up to {latest}): upgrade orch first"
            )));
        }
        let (flow_runs,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM flow_runs")
            .fetch_one(&mut conn)
            .await
            .map_err(|error| bad(format!("has no readable flow_runs table: {error}")))?;
        Ok(FileCheck {
            schema: SchemaVersion { applied, latest },
            flow_runs,
            bytes: metadata.len(),
        })
    }
    .await;
    let _ = conn.close().await;
    result
}

async fn applied_version(pool: &sqlx::AnyPool) -> Result<i64> {
    let mut conn = pool.acquire().await?;
    applied_version_on(&mut conn).await
}

async fn applied_version_on(conn: &mut sqlx::AnyConnection) -> Result<i64> {
    let (version,): (Option<i64>,) =
        sqlx::query_as("SELECT MAX(version) FROM _sqlx_migrations WHERE success = TRUE")
            .fetch_one(&mut *conn)
            .await?;
    Ok(version.unwrap_or(0))
}

/// The `pg_dump` command that backs up the PostgreSQL database of `url` to
/// `destination` (password redacted: give it with PGPASSWORD or ~/.pgpass).
pub fn pg_dump_command(url: &str, destination: &Path) -> String {
    format!(
        "pg_dump --format=custom --file='{}' '{}'",
        destination.display(),
        redact_password(url)
    )
}

fn pg_dump_message(url: &str, destination: &Path) -> String {
    format!(
        "orch copies SQLite databases only; back up PostgreSQL with pg_dump, which takes a consistent \
         snapshot while the servers keep running: {} (give the password with PGPASSWORD or ~/.pgpass; \
         restore with pg_restore)",
        pg_dump_command(url, destination)
    )
}
