//! Task runs: the steps of a flow run, as the SDK reports them.

use std::collections::{BTreeSet, HashMap};

use orch_core::{StateType, TaskSnapshot, task_snapshot_applies};

use crate::TaskRuns;
use crate::error::{Result, StoreError};
use crate::model::State;
use crate::rows::{
    StateRow, cacheable_chunks, from_json, sql, state_type, to_json, values_placeholders,
};

/// A task run and one entry of its history: the records declared once in
/// [`orch_core::records`].
pub use orch_core::records::{TaskRun, TaskRunState};

/// A task run state change a report made.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskTransition {
    /// The task run.
    pub task_run_id: String,
    /// Its flow run.
    pub flow_run_id: String,
    /// The state type it left; `None` for a new task run.
    pub from: Option<StateType>,
    /// The state type it entered.
    pub to: StateType,
    /// Its attempt now.
    pub attempt: u32,
    /// When it entered the state (the SDK's timestamp).
    pub at: i64,
}

#[derive(sqlx::FromRow)]
struct TaskRunRow {
    id: String,
    flow_run_id: String,
    name: String,
    tags: String,
    state_type: String,
    state_name: String,
    state_message: String,
    state_timestamp: i64,
    attempt: i64,
    max_retries: i64,
    start_time: Option<i64>,
    end_time: Option<i64>,
    error: String,
    result: String,
    created_at: i64,
    cpu_micros: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct HistoryRow {
    task_run_id: String,
    seq: i64,
    attempt: i64,
    #[sqlx(flatten)]
    state: StateRow,
}

/// Most rows per multi-row statement (16 binds each at most: within both
/// backends' bind limits).
const ROWS_PER_INSERT: usize = 256;

type Tx = crate::write::WriteTx;

/// Each task's newest snapshot in the report, in first-seen order. One
/// statement may not update a row twice (PostgreSQL refuses), and the newest
/// snapshot is the one that would win anyway.
fn newest_snapshots(task_runs: &[TaskRun]) -> Vec<&TaskRun> {
    let mut order: Vec<&str> = Vec::new();
    let mut newest: HashMap<&str, &TaskRun> = HashMap::new();
    for task in task_runs {
        match newest.get(task.id.as_str()) {
            None => {
                order.push(&task.id);
                newest.insert(&task.id, task);
            }
            Some(kept) if task.state.timestamp >= kept.state.timestamp => {
                newest.insert(&task.id, task);
            }
            Some(_) => {}
        }
    }
    order.into_iter().map(|id| newest[id]).collect()
}

/// A stored task run's snapshot and the flow run that owns it.
struct Stored {
    snapshot: TaskSnapshot,
    flow_run_id: String,
}

/// The stored snapshots of `ids`, by id (unknown ids are absent).
async fn stored_snapshots(tx: &mut Tx, ids: &[&str]) -> Result<HashMap<String, Stored>> {
    let mut stored = HashMap::new();
    for chunk in cacheable_chunks(ids, ROWS_PER_INSERT) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|n| format!("${n}")).collect();
        let statement = format!(
            "SELECT id, state_type, attempt, state_timestamp, flow_run_id FROM task_runs \
             WHERE id IN ({})",
            placeholders.join(", ")
        );
        let mut query = sqlx::query_as::<_, (String, String, i64, i64, String)>(sql(statement));
        for id in chunk {
            query = query.bind(*id);
        }
        for (id, kind, attempt, timestamp, flow_run_id) in query.fetch_all(&mut **tx).await? {
            let snapshot = TaskSnapshot {
                kind: state_type(&kind)?,
                attempt: u32::try_from(attempt).unwrap_or(0),
                timestamp,
            };
            stored.insert(
                id,
                Stored {
                    snapshot,
                    flow_run_id,
                },
            );
        }
    }
    Ok(stored)
}

/// Refuses a report that names a task run of another flow run: as the task
/// being reported (its state, history) or as an upstream task (a graph
/// edge). A run's credential may only change its own run's tasks.
/// Returns the stored snapshots of the task runs the report names.
async fn check_ownership(tx: &mut Tx, task_runs: &[TaskRun]) -> Result<HashMap<String, Stored>> {
    let mut owner: HashMap<&str, &str> = HashMap::new();
    for task in task_runs {
        if let Some(other) = owner.insert(&task.id, &task.flow_run_id)
            && other != task.flow_run_id
        {
            return Err(foreign(&task.id, other, &task.flow_run_id));
        }
    }
    let mut ids: BTreeSet<&str> = owner.keys().copied().collect();
    ids.extend(
        task_runs
            .iter()
            .flat_map(|task| task.upstream_ids.iter().map(String::as_str)),
    );
    let ids: Vec<&str> = ids.into_iter().collect();
    let stored = stored_snapshots(tx, &ids).await?;
    for task in task_runs {
        let named =
            std::iter::once(task.id.as_str()).chain(task.upstream_ids.iter().map(String::as_str));
        for id in named {
            if let Some(known) = stored.get(id)
                && known.flow_run_id != task.flow_run_id
            {
                return Err(foreign(id, &known.flow_run_id, &task.flow_run_id));
            }
        }
    }
    Ok(stored)
}

fn foreign(task_run_id: &str, owner: &str, reported_for: &str) -> StoreError {
    StoreError::Forbidden(format!(
        "task run \"{task_run_id}\" belongs to flow run \"{owner}\", not to \"{reported_for}\": \
         a flow run reports and links only its own task runs (give each task run a new id)"
    ))
}

fn snapshot_of(task: &TaskRun) -> TaskSnapshot {
    TaskSnapshot {
        kind: task.state.kind,
        attempt: task.attempt,
        timestamp: task.state.timestamp,
    }
}

/// The one path of task run state changes: the newest snapshot of each
/// task in the report, kept where orch-core's rule says it moves the task
/// forward ([`task_snapshot_applies`]), as transitions.
fn task_transitions<'t>(
    stored: &HashMap<String, Stored>,
    task_runs: &'t [TaskRun],
) -> (Vec<&'t TaskRun>, Vec<TaskTransition>) {
    let newest = newest_snapshots(task_runs);
    let mut kept = Vec::with_capacity(newest.len());
    let mut transitions = Vec::with_capacity(newest.len());
    for task in newest {
        let before = stored.get(&task.id).map(|known| known.snapshot);
        if !task_snapshot_applies(before, snapshot_of(task)) {
            continue;
        }
        transitions.push(TaskTransition {
            task_run_id: task.id.clone(),
            flow_run_id: task.flow_run_id.clone(),
            from: before.map(|b| b.kind),
            to: task.state.kind,
            attempt: task.attempt,
            at: task.state.timestamp,
        });
        kept.push(task);
    }
    (kept, transitions)
}

/// Inserts task runs or moves them to a newer snapshot; an older snapshot
/// than the stored one changes nothing (a guard against a concurrent report
/// on PostgreSQL; [`task_transitions`] already chose these).
async fn upsert_task_runs(tx: &mut Tx, tasks: &[&TaskRun]) -> Result<()> {
    let statement = format!(
        "INSERT INTO task_runs (id, flow_run_id, name, tags, state_type, state_name, state_message, \
         state_timestamp, attempt, max_retries, start_time, end_time, error, result, created_at, \
         cpu_micros) VALUES {} \
         ON CONFLICT (id) DO UPDATE SET state_type = excluded.state_type, \
         state_name = excluded.state_name, state_message = excluded.state_message, \
         state_timestamp = excluded.state_timestamp, attempt = excluded.attempt, \
         start_time = COALESCE(task_runs.start_time, excluded.start_time), \
         end_time = excluded.end_time, error = excluded.error, result = excluded.result, \
         cpu_micros = COALESCE(excluded.cpu_micros, task_runs.cpu_micros) \
         WHERE excluded.state_timestamp >= task_runs.state_timestamp",
        values_placeholders(tasks.len(), 16)
    );
    let mut query = sqlx::query(sql(statement));
    for task in tasks {
        query = query
            .bind(&task.id)
            .bind(&task.flow_run_id)
            .bind(&task.name)
            .bind(to_json(&task.tags))
            .bind(task.state.kind.as_str())
            .bind(&task.state.name)
            .bind(&task.state.message)
            .bind(task.state.timestamp)
            .bind(i64::from(task.attempt))
            .bind(i64::from(task.max_retries))
            .bind(task.start_time)
            .bind(task.end_time)
            .bind(&task.error)
            .bind(&task.result)
            .bind(task.created_at)
            .bind(task.cpu_micros);
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

/// Appends history entries; an entry already stored (same task run and seq) is skipped.
async fn insert_states(tx: &mut Tx, states: &[(&str, &TaskRunState)]) -> Result<()> {
    let statement = format!(
        "INSERT INTO task_run_states (task_run_id, seq, attempt, type, name, message, timestamp) \
         VALUES {} ON CONFLICT (task_run_id, seq) DO NOTHING",
        values_placeholders(states.len(), 7)
    );
    let mut query = sqlx::query(sql(statement));
    for (task_run_id, entry) in states {
        query = query
            .bind(*task_run_id)
            .bind(i64::from(entry.seq))
            .bind(i64::from(entry.attempt))
            .bind(entry.state.kind.as_str())
            .bind(&entry.state.name)
            .bind(&entry.state.message)
            .bind(entry.state.timestamp);
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

/// Records `(upstream, downstream)` edges; known edges are skipped.
async fn insert_edges(tx: &mut Tx, edges: &[(&str, &str)]) -> Result<()> {
    let statement = format!(
        "INSERT INTO task_run_edges (upstream_id, downstream_id) VALUES {} \
         ON CONFLICT (upstream_id, downstream_id) DO NOTHING",
        values_placeholders(edges.len(), 2)
    );
    let mut query = sqlx::query(sql(statement));
    for (upstream, downstream) in edges {
        query = query.bind(*upstream).bind(*downstream);
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

impl TaskRuns<'_> {
    /// Creates or updates task runs and appends their new states and edges, in
    /// one transaction. Resending a report changes nothing; an older snapshot
    /// arriving after a newer one does not overwrite it (see
    /// [`orch_core::task_snapshot_applies`]). Returns the state changes made.
    pub async fn report_task_runs(&self, task_runs: &[TaskRun]) -> Result<Vec<TaskTransition>> {
        if task_runs.is_empty() {
            return Ok(Vec::new());
        }
        let flow_runs: BTreeSet<&str> = task_runs.iter().map(|t| t.flow_run_id.as_str()).collect();
        let mut tx = self.writer.begin().await?;
        for flow_run_id in flow_runs {
            let exists: Option<(String,)> =
                sqlx::query_as("SELECT id FROM flow_runs WHERE id = $1")
                    .bind(flow_run_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if exists.is_none() {
                tx.rollback().await?;
                return Err(StoreError::InvalidInput(format!(
                    "task runs name flow run \"{flow_run_id}\", which does not exist"
                )));
            }
        }
        if task_runs
            .iter()
            .any(|task| task.id.is_empty() || task.name.is_empty())
        {
            tx.rollback().await?;
            return Err(StoreError::InvalidInput(
                "a task run needs an id and a name".to_string(),
            ));
        }
        let stored = match check_ownership(&mut tx, task_runs).await {
            Ok(stored) => stored,
            Err(error) => {
                tx.rollback().await?;
                return Err(error);
            }
        };
        // Multi-row statements: a report of hundreds of tasks is a handful of
        // round trips, not several per task.
        let (kept, transitions) = task_transitions(&stored, task_runs);
        for chunk in cacheable_chunks(&kept, ROWS_PER_INSERT) {
            upsert_task_runs(&mut tx, chunk).await?;
        }
        let states: Vec<(&str, &TaskRunState)> = task_runs
            .iter()
            .flat_map(|task| {
                task.history
                    .iter()
                    .map(move |entry| (task.id.as_str(), entry))
            })
            .collect();
        for chunk in cacheable_chunks(&states, ROWS_PER_INSERT) {
            insert_states(&mut tx, chunk).await?;
        }
        let edges: Vec<(&str, &str)> = task_runs
            .iter()
            .flat_map(|task| {
                task.upstream_ids
                    .iter()
                    .map(move |up| (up.as_str(), task.id.as_str()))
            })
            .collect();
        for chunk in cacheable_chunks(&edges, ROWS_PER_INSERT) {
            insert_edges(&mut tx, chunk).await?;
        }
        tx.commit().await?;
        Ok(transitions)
    }

    /// A flow run's task runs with history and edges, in creation order.
    pub async fn list_task_runs(&self, flow_run_id: &str) -> Result<Vec<TaskRun>> {
        let rows: Vec<TaskRunRow> = sqlx::query_as(
            "SELECT id, flow_run_id, name, tags, state_type, state_name, state_message, state_timestamp, \
             attempt, max_retries, start_time, end_time, error, result, created_at, cpu_micros \
             FROM task_runs WHERE flow_run_id = $1 ORDER BY created_at, id",
        )
        .bind(flow_run_id)
        .fetch_all(&self.reader)
        .await?;
        let history: Vec<HistoryRow> = sqlx::query_as(
            "SELECT s.task_run_id, s.seq, s.attempt, s.type, s.name, s.message, s.timestamp \
             FROM task_run_states s JOIN task_runs t ON t.id = s.task_run_id \
             WHERE t.flow_run_id = $1 ORDER BY s.task_run_id, s.seq",
        )
        .bind(flow_run_id)
        .fetch_all(&self.reader)
        .await?;
        let edges: Vec<(String, String)> = sqlx::query_as(
            "SELECT e.upstream_id, e.downstream_id FROM task_run_edges e \
             JOIN task_runs t ON t.id = e.downstream_id WHERE t.flow_run_id = $1 ORDER BY e.upstream_id",
        )
        .bind(flow_run_id)
        .fetch_all(&self.reader)
        .await?;
        let mut histories: HashMap<String, Vec<TaskRunState>> = HashMap::new();
        for row in history {
            histories
                .entry(row.task_run_id)
                .or_default()
                .push(TaskRunState {
                    seq: row.seq as u32,
                    attempt: row.attempt as u32,
                    state: State::try_from(row.state)?,
                });
        }
        let mut upstreams: HashMap<String, Vec<String>> = HashMap::new();
        for (upstream, downstream) in edges {
            upstreams.entry(downstream).or_default().push(upstream);
        }
        rows.into_iter()
            .map(|row| {
                Ok(TaskRun {
                    history: histories.remove(&row.id).unwrap_or_default(),
                    upstream_ids: upstreams.remove(&row.id).unwrap_or_default(),
                    tags: from_json("task_runs.tags", &row.tags)?,
                    state: State {
                        kind: state_type(&row.state_type)?,
                        name: row.state_name,
                        message: row.state_message,
                        timestamp: row.state_timestamp,
                    },
                    id: row.id,
                    flow_run_id: row.flow_run_id,
                    name: row.name,
                    attempt: row.attempt as u32,
                    max_retries: row.max_retries as u32,
                    start_time: row.start_time,
                    end_time: row.end_time,
                    error: row.error,
                    result: row.result,
                    created_at: row.created_at,
                    cpu_micros: row.cpu_micros,
                })
            })
            .collect()
    }
}
