//! orch's persistent state, through sqlx on SQLite (default) or PostgreSQL.
//!
//! All SQL is written once, in the dialect both backends share (`$1` placeholders,
//! BIGINT microsecond times, JSON as TEXT), and runs through `sqlx::Any`. The few
//! statements that must differ (row locking on PostgreSQL) branch on [`Backend`].
//! On SQLite every write goes through a single connection, so writers never fight
//! over the database lock, while reads use a pool of their own (WAL mode).
//!
//! Every change of a flow run's state, whatever causes it, goes through one
//! function (`state_change::change_state`): it checks the move with
//! orch-core's rules, writes it, and returns a [`Transition`]. The public
//! functions that change states return their transitions ([`Changed`], or a
//! `Vec<Transition>`) so that the server produces their effects in one place.

mod artifacts;
mod audit;
mod automation_conditions;
mod automation_deliveries;
mod automation_firings;
mod automation_outbox;
mod automations;
mod backup;
mod claims;
mod clock;
mod concurrency;
mod connect;
mod container;
mod deployments;
mod duties;
mod error;
mod flow_runs;
mod group_commit;
mod handles;
mod log_partitions;
mod login_codes;
mod logs;
pub mod model;
mod notify;
mod pages;
mod replicas;
mod retention;
mod rollups;
mod rows;
mod run_counts;
mod run_creation;
mod schedules;
mod scheduling;
mod secrets;
mod state_change;
mod state_reports;
mod state_write;
mod stats;
mod subflows;
mod task_runs;
#[cfg(test)]
mod test_support;
mod tokens;
mod transitions;
mod work_pools;
mod workers;
mod write;

use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor};

pub use artifacts::{
    Artifact, ArtifactFilter, ArtifactKey, DEFAULT_ARTIFACT_LIMIT, MAX_ARTIFACT_LIMIT, NewArtifact,
};
pub use audit::{AUDIT_PAGE, AuditRecord, NewAuditRecord};
pub use automation_conditions::{ConditionRun, Incident};
pub use automation_deliveries::{AttemptResult, ClaimedDelivery};
pub use automation_firings::{FiringOutcome, NewDelivery, NewFiring};
pub use automation_outbox::{OutboxRow, OutboxSource};
pub use automations::{Automation, AutomationEntry, AutomationInput};
pub use backup::{
    FileCheck, SchemaVersion, backup_database, check_database_file, latest_migration,
    pg_dump_command,
};
pub use clock::{Clock, ManualClock, micros_to_utc};
pub use concurrency::{AcquireOutcome, ConcurrencyLimit, SlotHolder};
pub use connect::{ConnectOptions, DEFAULT_POOL_SIZE};
pub use deployments::{ChangeKind, DeploymentChange, DeploymentInput};
pub use duties::DutyLease;
pub use error::{Result, StoreError};
pub use flow_runs::DEFAULT_LIST_LIMIT;
pub use handles::{
    Artifacts, Audit, Automations, Claims, Concurrency, Deliveries, Deployments, FlowRuns, Logs,
    Maintenance, Outbox, Replicas, Schedules, Secrets, Stats, TaskRuns, Tokens, WorkPools, Workers,
};
pub use log_partitions::{DAY_MICROS, DAYS_AHEAD, PartitionsPruned, day_of, partition_name};
pub use login_codes::LOGIN_CODE_SECONDS;
pub use logs::DEFAULT_LOG_PAGE;
pub use model::*;
pub use notify::Listener;
pub use pages::{COUNT_CAP, FlowRunPage, FlowRunQuery, MAX_PAGE_SIZE, RunCursor, TimelinePoint};
pub use replicas::Replica;
pub use retention::{BatchSize, Pruned};
pub use scheduling::ScheduleToFill;
pub use secrets::SecretInfo;
pub use state_change::{Cause, Changed, Transition};
pub use stats::{DeploymentStateCount, PoolQueue, RunStats, StateCount};
pub use subflows::{CreatedSubflowRun, MAX_SUBFLOW_RUNS_LISTED, NewSubflowRun};
pub use task_runs::{TaskRun, TaskRunState, TaskTransition};
pub use tokens::{
    CREDENTIALS_CHANNEL, CredentialCheck, CredentialKind, KEY_PREFIX, NewToken, TokenInfo, key_id,
};
pub use transitions::{NewState, Proposal, TransitionResult};
pub use work_pools::{POOL_TYPES, WorkPoolUpdate};
pub use write::WriteHealth;

/// Which database the store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

impl Backend {
    /// "sqlite" or "postgres".
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Handle on the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
    /// Used for every statement that writes (and reads inside write transactions).
    writer: write::Writer,
    /// Used for plain reads; the same pool as `writer` on PostgreSQL. On SQLite
    /// (WAL) a read sees every transaction the writer committed before it began,
    /// so reads after a write need not take the writer's only connection.
    reader: AnyPool,
    /// A few connections only background loops use (heartbeats, scheduler,
    /// lease sweep; see [`Store::for_background`]), so API traffic cannot
    /// starve them.
    reserved: AnyPool,
    url: String,
    /// Where `LISTEN` connects: `url`, or PostgreSQL itself when `url`
    /// goes through a pooler in transaction mode.
    pub(crate) listen_url: String,
    /// Where "now" comes from.
    clock: Clock,
    /// A Scheduled run not started this long after its expected start is late.
    late_after_micros: i64,
    /// Writes new runs, many per transaction when many are created at once.
    run_creator: run_creation::RunCreator,
    /// Writes audit records, many per transaction when many are made at once.
    audit_writer: audit::AuditWriter,
    /// Writes reported states, many per transaction when many are made at once.
    state_reporter: state_reports::StateReporter,
}

/// Connections kept for background loops ([`Store::for_background`]).
pub const RESERVED_CONNECTIONS: u32 = 2;

/// Default of [`Store::with_late_after`]: 15 s.
pub const DEFAULT_LATE_AFTER: Duration = orch_core::defaults::LATE_AFTER;

static MIGRATE_SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
pub(crate) static MIGRATE_POSTGRES: sqlx::migrate::Migrator =
    sqlx::migrate!("./migrations/postgres");

impl Store {
    /// Connects to `url` (`sqlite://PATH` or `postgres://...`) and applies
    /// pending migrations, with the default [`ConnectOptions`].
    pub async fn connect(url: &str) -> Result<Store> {
        Self::connect_with(url, &ConnectOptions::default()).await
    }

    async fn connect_sqlite(url: &str) -> Result<Store> {
        let url_rwc = if url.contains("mode=") {
            url.to_string()
        } else if url.contains('?') {
            format!("{url}&mode=rwc")
        } else {
            format!("{url}?mode=rwc")
        };
        let writer = sqlite_pool()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect(&url_rwc)
            .await?;
        MIGRATE_SQLITE.run(&writer).await?;
        let reader = sqlite_pool().max_connections(4).connect(&url_rwc).await?;
        let reserved = sqlite_pool()
            .max_connections(RESERVED_CONNECTIONS)
            .connect_lazy(&url_rwc)?;
        Ok(Self::assemble(
            Backend::Sqlite,
            writer,
            reader,
            reserved,
            url,
        ))
    }

    /// A store on these pools, with the system clock, and its group-commit
    /// tasks started on the current runtime.
    pub(crate) fn assemble(
        backend: Backend,
        writer: AnyPool,
        reader: AnyPool,
        reserved: AnyPool,
        url: &str,
    ) -> Store {
        let writer = write::Writer::new(writer, backend == Backend::Sqlite);
        Store {
            backend,
            run_creator: run_creation::RunCreator::spawn(writer.clone(), run_creation::NewRuns),
            audit_writer: audit::AuditWriter::spawn(writer.clone(), audit::AuditRecords),
            state_reporter: state_reports::StateReporter::spawn(
                writer.clone(),
                state_reports::StateReports { backend },
            ),
            writer,
            reader,
            reserved,
            url: url.to_string(),
            listen_url: url.to_string(),
            clock: Clock::system(),
            late_after_micros: DEFAULT_LATE_AFTER.as_micros() as i64,
        }
    }

    /// The same store reading the time from `clock` (tests inject a
    /// [`ManualClock`]); every timestamp it writes and every "due" or
    /// "expired" it decides uses that clock.
    pub fn with_clock(mut self, clock: Clock) -> Store {
        self.clock = clock;
        self
    }

    /// The same store counting a Scheduled run as late (for the `skip`
    /// catch-up policy) this long after its expected start.
    pub fn with_late_after(mut self, late_after: Duration) -> Store {
        self.late_after_micros = late_after.as_micros() as i64;
        self
    }

    /// The same store reading through connections of its own that only
    /// background loops use (heartbeats, the scheduler, the lease sweep):
    /// however many clients read at once, these loops always find a
    /// connection. On PostgreSQL its writes go through them too (on SQLite
    /// every write shares the one writer connection, which no client holds).
    pub fn for_background(&self) -> Store {
        let mut store = self.clone();
        store.reader = self.reserved.clone();
        if self.backend == Backend::Postgres {
            store.writer = self.writer.with_pool(self.reserved.clone());
        }
        store
    }

    /// The clock in use.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Now, by the store's clock, in microseconds since the epoch.
    pub fn now(&self) -> i64 {
        self.clock.now_micros()
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The database URL with any password replaced by `***`.
    pub fn redacted_url(&self) -> String {
        redact_password(&self.url)
    }

    /// Whether writes currently succeed: a write that failed because the
    /// database cannot store anything (disk full, I/O error, read-only)
    /// marks it failing until a later write commits. Readiness checks
    /// (`/readyz`) and `orch server status` report it.
    pub fn write_health(&self) -> WriteHealth {
        self.writer.health()
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.writer.pool().close().await;
        self.reader.close().await;
        self.reserved.close().await;
    }
}

type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Run on every new SQLite connection: WAL lets readers work beside the one writer.
/// Options of a SQLite pool. A connection is not pinged before each use
/// (sqlx's `test_before_acquire`, made for network connections that the
/// other end may have closed): a SQLite connection is a file opened by this
/// process, and the ping is one more round trip to sqlx's thread for the
/// connection (a hand-off there and back) per transaction and per statement
/// run on a pool (docs/benchmarks.md, "Throughput"). A failed statement
/// still says so, and a write transaction that fails closes its connection
/// ([`write::WriteTx`]).
fn sqlite_pool() -> AnyPoolOptions {
    AnyPoolOptions::new()
        .test_before_acquire(false)
        .after_connect(sqlite_pragmas)
}

fn sqlite_pragmas(
    conn: &mut sqlx::AnyConnection,
    _meta: sqlx::pool::PoolConnectionMetadata,
) -> BoxFuture<'_, std::result::Result<(), sqlx::Error>> {
    Box::pin(async move {
        conn.execute(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
             PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
        )
        .await?;
        Ok(())
    })
}

/// The file of a `sqlite://PATH[?options]` URL; `None` for other URLs and
/// in-memory databases.
///
/// The path is percent-decoded exactly as sqlx decodes it when it opens the
/// URL, so that the file this names (for the lock, permissions, backups and
/// restores) is the file the server opens. URLs made from a path by
/// [`sqlite_url`] give that path back.
pub fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path.starts_with(":memory:") {
        return None;
    }
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .ok()?;
    Some(std::path::PathBuf::from(decoded.as_ref()))
}

/// The `sqlite://` URL of the database file at `path`: the characters a URL
/// would decode (`%`, `?`, `#`) are escaped, so that a folder named
/// `a%41b` stays `a%41b` and never becomes `aAb`.
pub fn sqlite_url(path: &std::path::Path) -> String {
    const ESCAPED: &percent_encoding::AsciiSet =
        &percent_encoding::CONTROLS.add(b'%').add(b'?').add(b'#');
    let text = path.to_string_lossy();
    format!(
        "sqlite://{}",
        percent_encoding::utf8_percent_encode(&text, ESCAPED)
    )
}

/// `postgres://user:secret@host/db` -> `postgres://user:***@host/db`.
pub fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((credentials, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

/// Now by the system clock, in microseconds since the Unix epoch. Store
/// methods use [`Store::now`] instead, which may be a test's clock.
pub fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// A new random id (random, so that any 8-character prefix shown in a table is distinctive).
pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_file_of_a_sqlite_url() {
        assert_eq!(
            sqlite_path("sqlite:///srv/orch/orch.db?mode=rwc"),
            Some("/srv/orch/orch.db".into())
        );
        assert_eq!(sqlite_path("sqlite:orch.db"), Some("orch.db".into()));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://db/orch"), None);
    }

    #[test]
    fn urls_made_from_paths_give_the_same_path_back() {
        for path in [
            "/srv/orch/orch.db",
            "/tmp/a%41b/orch.db",
            "/tmp/x?y#z/o.db",
            "rel.db",
        ] {
            let url = sqlite_url(std::path::Path::new(path));
            assert_eq!(sqlite_path(&url), Some(path.into()), "{url}");
        }
        assert_eq!(
            sqlite_url("/tmp/a%41b/o.db".as_ref()),
            "sqlite:///tmp/a%2541b/o.db"
        );
        // A URL written by hand is a URL: its escapes are decoded, as sqlx does.
        assert_eq!(
            sqlite_path("sqlite:///tmp/a%41b.db"),
            Some("/tmp/aAb.db".into())
        );
    }

    #[test]
    fn redacts_only_the_password() {
        assert_eq!(
            redact_password("postgres://orch:s3cret@db:5432/orch"),
            "postgres://orch:***@db:5432/orch"
        );
        assert_eq!(
            redact_password("postgres://orch@db/orch"),
            "postgres://orch@db/orch"
        );
        assert_eq!(redact_password("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
    }
}
