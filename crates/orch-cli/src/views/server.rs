//! The server's status.

use std::time::Duration;

use orch_proto::v1 as proto;
use serde::Serialize;

use crate::output::{table, time};

/// The status of a running server.
#[derive(Debug, Clone, Serialize)]
pub struct ServerStatusView {
    /// Always true: a server that does not answer is an error.
    pub up: bool,
    /// Where it was reached.
    pub api_url: String,
    /// Its orch version.
    pub version: String,
    /// `sqlite` or `postgres`.
    pub database_backend: String,
    /// The database URL, without any password.
    pub database_url: String,
    /// When it started (RFC 3339).
    pub started_at: Option<String>,
    /// Seconds since it started.
    pub uptime_seconds: u64,
    /// Workers heartbeating now.
    pub workers_online: i64,
    /// The newest migration applied to the database.
    pub schema_version: i64,
    /// The newest migration the server knows.
    pub schema_latest: i64,
    /// The retention settings in words.
    pub retention: String,
    /// Deleted by retention since the server started.
    pub pruned_runs: u64,
    /// Log lines deleted by retention since the server started.
    pub pruned_log_lines: u64,
    /// When the last pruning pass ended (RFC 3339).
    pub last_prune: Option<String>,
    /// Folder of automatic backups; null when off.
    pub backup_dir: Option<String>,
    /// When the last automatic backup succeeded (RFC 3339).
    pub last_backup: Option<String>,
    /// The file of the last automatic backup.
    pub last_backup_file: Option<String>,
    /// Why the last automatic backup failed.
    pub last_backup_error: Option<String>,
    /// Whether the database stores writes now.
    pub database_writable: bool,
    /// Why it does not, when it does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_write_error: Option<String>,
    /// The replica that answered ("host (pid N)").
    pub replica: String,
    /// Who runs each background duty.
    pub duties: Vec<DutyView>,
    /// The replicas alive on the database, oldest first.
    pub replicas: Vec<ReplicaView>,
    /// How many replicas this one divides the bad-key and stream limits by
    /// (the live ones as of its last renewal).
    pub limits_shared_by: u32,
    #[serde(skip)]
    started_at_micros: i64,
}

/// Who runs a background duty.
#[derive(Debug, Clone, Serialize)]
pub struct DutyView {
    /// The duty (`scheduler`, `sweep`, `prune`, `automation-conditions`, `backup`).
    pub duty: String,
    /// The replica running it.
    pub holder: String,
    /// Whether that is the replica that answered.
    pub this_replica: bool,
    /// Since when (RFC 3339).
    pub since: Option<String>,
    /// When its lease lapses unless renewed (RFC 3339).
    pub expires_at: Option<String>,
}

/// A server replica alive on the database.
#[derive(Debug, Clone, Serialize)]
pub struct ReplicaView {
    /// "host (pid N)".
    pub name: String,
    /// Whether that is the replica that answered.
    pub this_replica: bool,
    /// Since when (RFC 3339).
    pub since: Option<String>,
}

impl ServerStatusView {
    /// The view of `status`, as answered at `api_url`.
    pub fn new(api_url: &str, status: &proto::ServerStatus) -> Self {
        Self {
            up: true,
            api_url: api_url.to_owned(),
            version: status.version.clone(),
            database_backend: status.database_backend.clone(),
            database_url: status.database_url.clone(),
            started_at: time::rfc3339(status.started_at_micros),
            uptime_seconds: status.uptime_seconds,
            workers_online: status.workers_online,
            schema_version: status.schema_version,
            schema_latest: status.schema_latest,
            retention: status.retention.clone(),
            pruned_runs: status.pruned_runs,
            pruned_log_lines: status.pruned_log_lines,
            last_prune: optional_time(status.last_prune_micros),
            backup_dir: non_empty(&status.backup_dir),
            last_backup: optional_time(status.last_backup_micros),
            last_backup_file: non_empty(&status.last_backup_file),
            last_backup_error: non_empty(&status.last_backup_error),
            database_writable: status.database_writable,
            database_write_error: Some(status.database_write_error.clone())
                .filter(|error| !error.is_empty()),
            replica: status.replica.clone(),
            duties: status
                .duties
                .iter()
                .map(|d| DutyView {
                    duty: d.duty.clone(),
                    holder: d.holder.clone(),
                    this_replica: d.this_replica,
                    since: time::rfc3339(d.acquired_at_micros),
                    expires_at: time::rfc3339(d.expires_at_micros),
                })
                .collect(),
            replicas: status
                .replicas
                .iter()
                .map(|r| ReplicaView {
                    name: r.name.clone(),
                    this_replica: r.this_replica,
                    since: time::rfc3339(r.started_at_micros),
                })
                .collect(),
            limits_shared_by: status.limits_shared_by.max(1),
            started_at_micros: status.started_at_micros,
        }
    }
}

fn optional_time(micros: i64) -> Option<String> {
    (micros > 0).then(|| time::rfc3339(micros)).flatten()
}

fn non_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_string())
}

/// What `orch server prune` deleted, or would.
#[derive(Debug, Clone, Serialize)]
pub struct PruneView {
    /// Whether nothing was deleted, only counted.
    pub dry_run: bool,
    /// Finished flow runs.
    pub runs: u64,
    /// Log lines.
    pub log_lines: u64,
    /// The retention settings in words.
    pub retention: String,
}

impl From<&proto::PruneResponse> for PruneView {
    fn from(reply: &proto::PruneResponse) -> Self {
        Self {
            dry_run: reply.dry_run,
            runs: reply.runs,
            log_lines: reply.log_lines,
            retention: reply.retention.clone(),
        }
    }
}

/// Writes a prune report.
pub fn print_prune(view: &PruneView) -> std::io::Result<()> {
    let verb = if view.dry_run {
        "Would delete"
    } else {
        "Deleted"
    };
    table::print_details(&[
        ("Retention", view.retention.clone()),
        (
            verb,
            format!("{} finished runs, {} log lines", view.runs, view.log_lines),
        ),
    ])
}

/// Writes the status as a listing.
pub fn print(status: &ServerStatusView) -> std::io::Result<()> {
    let uptime = time::duration(Duration::from_secs(status.uptime_seconds));
    table::print_details(&[
        ("Server", format!("up at {}", status.api_url)),
        ("Version", status.version.clone()),
        (
            "Database",
            format!("{} ({})", status.database_backend, status.database_url),
        ),
        (
            "Uptime",
            format!(
                "{uptime} (since {})",
                time::timestamp(status.started_at_micros)
            ),
        ),
        ("Workers online", status.workers_online.to_string()),
        (
            "Schema",
            if status.schema_version >= status.schema_latest {
                format!("{} (current)", status.schema_version)
            } else {
                format!(
                    "{} (this server knows {})",
                    status.schema_version, status.schema_latest
                )
            },
        ),
        ("Retention", status.retention.clone()),
        (
            "Pruned",
            format!(
                "{} runs, {} log lines since start (last pass: {})",
                status.pruned_runs,
                status.pruned_log_lines,
                status.last_prune.as_deref().unwrap_or("none yet")
            ),
        ),
        (
            "Backups",
            match (&status.backup_dir, &status.last_backup_error) {
                (None, _) => "off (orch server backup FILE copies the database)".into(),
                (Some(dir), Some(error)) => format!("{dir}: last attempt failed: {error}"),
                (Some(dir), None) => format!(
                    "{dir}, last {}",
                    status.last_backup.as_deref().unwrap_or("none yet")
                ),
            },
        ),
        (
            "Writes",
            match &status.database_write_error {
                None => "ok".to_owned(),
                Some(error) => format!("FAILING: {error}"),
            },
        ),
        ("Replica", status.replica.clone()),
        ("Replicas", replicas(status)),
        ("Duties", duties(status)),
    ])
}

/// "2 live: this replica, other-host (pid 7)".
fn replicas(status: &ServerStatusView) -> String {
    if status.replicas.is_empty() {
        return "none registered yet".into();
    }
    let names: Vec<String> = status
        .replicas
        .iter()
        .map(|r| {
            if r.this_replica {
                "this replica".to_owned()
            } else {
                r.name.clone()
            }
        })
        .collect();
    let shared = match status.limits_shared_by {
        0 | 1 => String::new(),
        by => format!(" (limits shared by {by})"),
    };
    format!("{} live: {}{shared}", names.len(), names.join(", "))
}

/// "scheduler: this replica; sweep: other-host (pid 7); ...".
fn duties(status: &ServerStatusView) -> String {
    if status.duties.is_empty() {
        return "none elected yet".into();
    }
    status
        .duties
        .iter()
        .map(|d| {
            let who = if d.this_replica {
                "this replica".to_owned()
            } else {
                d.holder.clone()
            };
            format!("{}: {who}", d.duty)
        })
        .collect::<Vec<_>>()
        .join("; ")
}
