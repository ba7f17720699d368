//! The write of one state change ([`crate::state_change::change_state`]):
//! the run's new state and its history row, in as few round trips as the
//! backend allows.

use crate::Backend;
use crate::error::Result;
use crate::model::FlowRun;
use crate::state_change::Change;

/// The UPDATE of [`write_state`], `$1`..`$14`: the new state over the run,
/// if it is still in the state read (`$9`). RETURNING gives the run as
/// written, with the names `FLOW_RUN_SELECT` joins (no second read), and
/// whether it has task runs.
macro_rules! update_state_sql {
    () => {
        "UPDATE flow_runs SET \
           run_count = run_count + CASE WHEN $1 = 'RUNNING' AND state_type <> 'RUNNING' THEN 1 ELSE 0 END, \
           start_time = CASE WHEN $1 = 'RUNNING' AND start_time IS NULL THEN $4 ELSE start_time END, \
           end_time = CASE WHEN $5 = 1 THEN $4 ELSE end_time END, \
           worker_id = CASE WHEN $1 = 'SCHEDULED' THEN NULL ELSE COALESCE($14, worker_id) END, \
           lease_expired_worker_id = CASE WHEN $14 IS NULL THEN lease_expired_worker_id ELSE NULL END, \
           expected_start = COALESCE($6, expected_start), \
           exit_code = COALESCE($7, exit_code), \
           cpu_user_micros = CASE WHEN $1 = 'RUNNING' THEN NULL ELSE COALESCE($10, cpu_user_micros) END, \
           cpu_system_micros = CASE WHEN $1 = 'RUNNING' THEN NULL ELSE COALESCE($11, cpu_system_micros) END, \
           max_rss_bytes = CASE WHEN $1 = 'RUNNING' THEN NULL ELSE COALESCE($12, max_rss_bytes) END, \
           wall_micros = CASE WHEN $1 = 'RUNNING' THEN NULL ELSE COALESCE($13, wall_micros) END, \
           state_type = $1, state_name = $2, state_message = $3, state_timestamp = $4, updated_at = $4 \
         WHERE id = $8 AND state_type = $9 \
         RETURNING id, name, (SELECT name FROM flows WHERE id = flow_runs.flow_id) AS flow, \
           COALESCE((SELECT name FROM flows WHERE id = flow_runs.flow_id) || '/' || \
             (SELECT name FROM deployments WHERE id = flow_runs.deployment_id), '') AS deployment, \
           deployment_id, \
           COALESCE((SELECT name FROM work_pools WHERE id = flow_runs.work_pool_id), '') AS work_pool, \
           work_pool_id, state_type, state_name, state_message, state_timestamp, \
           parameters, tags, expected_start, start_time, end_time, run_count, worker_id, \
           COALESCE((SELECT name FROM workers WHERE id = flow_runs.worker_id), '') AS worker_name, \
           exit_code, cpu_user_micros, cpu_system_micros, max_rss_bytes, \
           wall_micros, trace_parent, trace_state, created_at, schedule_slug, parent_flow_run_id, \
           parent_task_run_id, CAST(CASE WHEN EXISTS (SELECT 1 FROM task_runs t \
             WHERE t.flow_run_id = flow_runs.id) THEN 1 ELSE 0 END AS BIGINT) AS task_runs"
    };
}

/// The history row of a state change, in the same round trip as its UPDATE
/// (SQLite runs both statements of one query on its thread, with the
/// query's one list of binds: `$15` is the transition id); written only if
/// the UPDATE changed the run (`changes()`: rows the last statement changed).
const UPDATE_STATE_AND_HISTORY_SQLITE: &str = concat!(
    update_state_sql!(),
    "; INSERT INTO flow_run_states (flow_run_id, transition_id, type, name, message, timestamp) \
     SELECT $8, $15, $1, $2, $3, $4 WHERE changes() = 1"
);

/// Writes the new state over the run, if it is still in `change.from`, and
/// appends it to the history. Returns the run as written and whether it has
/// task runs ([`crate::Transition::task_runs`]); `None` when it was not written.
///
/// Every statement is a round trip to the database (on SQLite, to sqlx's
/// thread for the connection, and back): on SQLite the UPDATE and the
/// history INSERT go as one query; PostgreSQL takes one statement per
/// prepared query, so there they are two.
pub(crate) async fn write_state(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    change: &Change<'_>,
    now: i64,
) -> Result<Option<(FlowRun, bool)>> {
    #[derive(sqlx::FromRow)]
    struct Updated {
        task_runs: i64,
        #[sqlx(flatten)]
        run: crate::rows::FlowRunRow,
    }
    let state = change.to;
    let text = match backend {
        Backend::Sqlite => UPDATE_STATE_AND_HISTORY_SQLITE,
        Backend::Postgres => update_state_sql!(),
    };
    let update = sqlx::query_as::<_, Updated>(text)
        .bind(state.kind.as_str())
        .bind(&state.name)
        .bind(&state.message)
        .bind(now)
        .bind(i64::from(state.kind.is_terminal()))
        .bind(state.expected_start)
        .bind(state.exit_code.map(i64::from))
        .bind(change.run_id)
        .bind(change.from.as_str())
        .bind(state.usage.map(|u| u.cpu_user_micros))
        .bind(state.usage.map(|u| u.cpu_system_micros))
        .bind(state.usage.map(|u| u.max_rss_bytes))
        .bind(state.usage.map(|u| u.wall_micros))
        .bind(change.worker_id);
    let updated = match backend {
        // Every row (the UPDATE's one at most), so that the INSERT after it runs too.
        Backend::Sqlite => update
            .bind(change.transition_id)
            .fetch_all(&mut *conn)
            .await?
            .pop(),
        Backend::Postgres => {
            let updated = update.fetch_optional(&mut *conn).await?;
            if updated.is_some() {
                sqlx::query(
                    "INSERT INTO flow_run_states (flow_run_id, transition_id, type, name, message, timestamp) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(change.run_id)
                .bind(change.transition_id)
                .bind(state.kind.as_str())
                .bind(&state.name)
                .bind(&state.message)
                .bind(now)
                .execute(&mut *conn)
                .await?;
            }
            updated
        }
    };
    let Some(updated) = updated else {
        return Ok(None);
    };
    Ok(Some((
        FlowRun::try_from(updated.run)?,
        updated.task_runs > 0,
    )))
}
