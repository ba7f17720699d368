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
    /// Whether the database stores writes now.
    pub database_writable: bool,
    /// Why it does not, when it does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_write_error: Option<String>,
    #[serde(skip)]
    started_at_micros: i64,
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
            database_writable: status.database_writable,
            database_write_error: Some(status.database_write_error.clone())
                .filter(|error| !error.is_empty()),
            started_at_micros: status.started_at_micros,
        }
    }
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
            "Writes",
            match &status.database_write_error {
                None => "ok".to_owned(),
                Some(error) => format!("FAILING: {error}"),
            },
        ),
    ])
}
