//! Raw rows as read from SQL, and their conversion into [`crate::model`] records.

use orch_core::StateType;
use serde::de::DeserializeOwned;

use crate::error::{Result, StoreError};
use crate::model::{FlowRun, LogLine, State, Worker};

/// Parses a JSON column.
pub(crate) fn from_json<T: DeserializeOwned>(column: &'static str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|source| StoreError::CorruptJson { column, source })
}

/// Serialises a value for a JSON column.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("JSON values always serialise")
}

pub(crate) fn state_type(text: &str) -> Result<StateType> {
    text.parse()
        .map_err(|_| StoreError::Conflict(format!("corrupt state type {text:?} in the database")))
}

/// Columns of [`FLOW_RUN_SELECT`].
#[derive(sqlx::FromRow)]
pub(crate) struct FlowRunRow {
    id: String,
    name: String,
    flow: String,
    deployment: String,
    deployment_id: Option<String>,
    work_pool: String,
    work_pool_id: Option<String>,
    state_type: String,
    state_name: String,
    state_message: String,
    state_timestamp: i64,
    parameters: String,
    tags: String,
    expected_start: i64,
    start_time: Option<i64>,
    end_time: Option<i64>,
    run_count: i64,
    worker_id: Option<String>,
    worker_name: String,
    exit_code: Option<i64>,
    cpu_user_micros: Option<i64>,
    cpu_system_micros: Option<i64>,
    max_rss_bytes: Option<i64>,
    wall_micros: Option<i64>,
    trace_parent: Option<String>,
    trace_state: Option<String>,
    created_at: i64,
    schedule_slug: Option<String>,
    parent_flow_run_id: Option<String>,
    parent_task_run_id: Option<String>,
}

/// Selects [`FlowRunRow`]s; append `WHERE ...`.
pub(crate) const FLOW_RUN_SELECT: &str = "SELECT r.id, r.name, f.name AS flow, \
     COALESCE(f.name || '/' || d.name, '') AS deployment, r.deployment_id, \
     COALESCE(p.name, '') AS work_pool, r.work_pool_id, r.state_type, r.state_name, \
     r.state_message, r.state_timestamp, r.parameters, r.tags, r.expected_start, r.start_time, \
     r.end_time, r.run_count, r.worker_id, COALESCE(w.name, '') AS worker_name, r.exit_code, \
     r.cpu_user_micros, r.cpu_system_micros, r.max_rss_bytes, r.wall_micros, r.trace_parent, r.trace_state, \
     r.created_at, r.schedule_slug, r.parent_flow_run_id, r.parent_task_run_id \
     FROM flow_runs r JOIN flows f ON f.id = r.flow_id \
     LEFT JOIN deployments d ON d.id = r.deployment_id \
     LEFT JOIN work_pools p ON p.id = r.work_pool_id \
     LEFT JOIN workers w ON w.id = r.worker_id ";

impl TryFrom<FlowRunRow> for FlowRun {
    type Error = StoreError;

    fn try_from(row: FlowRunRow) -> Result<FlowRun> {
        Ok(FlowRun {
            state: State {
                kind: state_type(&row.state_type)?,
                name: row.state_name,
                message: row.state_message,
                timestamp: row.state_timestamp,
            },
            parameters: from_json("flow_runs.parameters", &row.parameters)?,
            tags: from_json("flow_runs.tags", &row.tags)?,
            id: row.id,
            name: row.name,
            flow: row.flow,
            deployment: row.deployment,
            deployment_id: row.deployment_id,
            work_pool: row.work_pool,
            work_pool_id: row.work_pool_id,
            expected_start: row.expected_start,
            start_time: row.start_time,
            end_time: row.end_time,
            run_count: row.run_count as u32,
            worker_id: row.worker_id,
            worker_name: row.worker_name,
            exit_code: row.exit_code.map(|c| c as i32),
            usage: usage(
                row.cpu_user_micros,
                row.cpu_system_micros,
                row.max_rss_bytes,
                row.wall_micros,
            ),
            // Checked when the run was created; unreadable text is no parent.
            trace_parent: row
                .trace_parent
                .as_deref()
                .and_then(|text| orch_core::TraceParent::parse(text).ok()),
            trace_state: row
                .trace_state
                .as_deref()
                .and_then(|text| orch_core::TraceState::parse(text).ok().flatten()),
            created_at: row.created_at,
            schedule_slug: row.schedule_slug,
            parent_flow_run_id: row.parent_flow_run_id,
            parent_task_run_id: row.parent_task_run_id,
        })
    }
}

/// The usage columns of a run, when its worker reported them.
fn usage(
    cpu_user_micros: Option<i64>,
    cpu_system_micros: Option<i64>,
    max_rss_bytes: Option<i64>,
    wall_micros: Option<i64>,
) -> Option<orch_core::ResourceUsage> {
    Some(orch_core::ResourceUsage {
        cpu_user_micros: cpu_user_micros?,
        cpu_system_micros: cpu_system_micros?,
        max_rss_bytes: max_rss_bytes?,
        wall_micros: wall_micros?,
    })
}

/// A row of `flow_run_states`.
#[derive(sqlx::FromRow)]
pub(crate) struct StateRow {
    #[sqlx(rename = "type")]
    kind: String,
    name: String,
    message: String,
    timestamp: i64,
}

impl TryFrom<StateRow> for State {
    type Error = StoreError;

    fn try_from(row: StateRow) -> Result<State> {
        Ok(State {
            kind: state_type(&row.kind)?,
            name: row.name,
            message: row.message,
            timestamp: row.timestamp,
        })
    }
}

/// A row of `logs`.
#[derive(sqlx::FromRow)]
pub(crate) struct LogRow {
    id: i64,
    flow_run_id: String,
    emitter: String,
    seq: i64,
    timestamp: i64,
    stream: String,
    level: String,
    message: String,
    task_run_id: String,
}

impl From<LogRow> for LogLine {
    fn from(row: LogRow) -> LogLine {
        LogLine {
            id: row.id,
            flow_run_id: row.flow_run_id,
            emitter: row.emitter,
            seq: row.seq,
            timestamp: row.timestamp,
            stream: row.stream,
            level: row.level,
            message: row.message,
            task_run_id: row.task_run_id,
        }
    }
}

/// Columns of [`WORKER_SELECT`].
#[derive(sqlx::FromRow)]
pub(crate) struct WorkerRow {
    id: String,
    name: String,
    work_pool: String,
    work_pool_id: String,
    hostname: String,
    run_limit: i64,
    version: String,
    started_at: i64,
    last_heartbeat: i64,
    stopped_at: Option<i64>,
    runs_in_flight: i64,
    heartbeat_interval_micros: Option<i64>,
}

/// Selects [`WorkerRow`]s; append `WHERE ...`.
pub(crate) static WORKER_SELECT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT w.id, w.name, p.name AS work_pool, w.work_pool_id, \
         w.hostname, w.run_limit, w.version, w.started_at, w.last_heartbeat, w.stopped_at, \
         (SELECT COUNT(*) FROM flow_runs r WHERE r.worker_id = w.id AND {}) AS runs_in_flight, \
         w.heartbeat_interval_micros \
         FROM workers w JOIN work_pools p ON p.id = w.work_pool_id ",
        orch_core::StateType::in_flight_sql("r.state_type")
    )
});

impl From<WorkerRow> for Worker {
    fn from(row: WorkerRow) -> Worker {
        Worker {
            id: row.id,
            name: row.name,
            work_pool: row.work_pool,
            work_pool_id: row.work_pool_id,
            hostname: row.hostname,
            limit: row.run_limit as u32,
            version: row.version,
            started_at: row.started_at,
            last_heartbeat: row.last_heartbeat,
            stopped_at: row.stopped_at,
            runs_in_flight: row.runs_in_flight,
            heartbeat_interval: row.heartbeat_interval_micros.filter(|i| *i > 0),
        }
    }
}

/// Marks SQL assembled from this crate's constants (never from user input) as safe to run.
pub(crate) fn sql(text: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(text)
}

/// `($1, $2), ($3, $4)` for `rows` rows of `columns` binds, numbered the way
/// both backends accept (`QueryBuilder<Any>` writes `?`, which PostgreSQL refuses).
pub(crate) fn values_placeholders(rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|row| {
            let first = row * columns + 1;
            let params: Vec<String> = (first..first + columns).map(|n| format!("${n}")).collect();
            format!("({})", params.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Splits `items` into chunks of at most `max` whose lengths are powers of
/// two. A multi-row statement's text depends on its row count, and each text
/// is prepared once per connection and cached: power-of-two sizes keep the
/// number of texts (and of preparations) small, whatever the batch sizes.
pub(crate) fn cacheable_chunks<T>(items: &[T], max: usize) -> impl Iterator<Item = &[T]> {
    let max = max.max(1);
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let size = rest.len().min(max);
        let size = 1 << size.ilog2();
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        Some(chunk)
    })
}

#[cfg(test)]
mod tests {
    use super::{cacheable_chunks, values_placeholders};

    #[test]
    fn chunks_are_powers_of_two_and_cover_everything_in_order() {
        let items: Vec<u32> = (0..1000).collect();
        let chunks: Vec<&[u32]> = cacheable_chunks(&items, 256).collect();
        let sizes: Vec<usize> = chunks.iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [256, 256, 256, 128, 64, 32, 8]);
        assert_eq!(chunks.concat(), items);
        assert_eq!(cacheable_chunks(&items[..0], 256).count(), 0);
        assert_eq!(
            cacheable_chunks(&items[..3], 256)
                .map(<[u32]>::len)
                .collect::<Vec<_>>(),
            [2, 1]
        );
    }

    #[test]
    fn numbers_placeholders_row_by_row() {
        assert_eq!(values_placeholders(1, 1), "($1)");
        assert_eq!(values_placeholders(2, 3), "($1, $2, $3), ($4, $5, $6)");
    }
}
