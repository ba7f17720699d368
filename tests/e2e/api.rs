//! The REST JSON API against the real server, worker and SDK flows, on SQLite:
//! every endpoint, its filters and pagination, and its errors (JSON with a
//! message and the right status).

#[path = "api/endpoints.rs"]
mod endpoints;
#[path = "api/runs.rs"]
mod runs;
#[path = "api/shapes.rs"]
mod shapes;
mod web;

/// The database every server of this binary runs on.
const BACKEND: orch_e2e::Backend = orch_e2e::Backend::Sqlite;
