//! What the scheduler needs from the database: the schedules to keep
//! filled, creating their runs exactly once per slot, clearing runs of
//! schedules that went away, and the catch-up policy for runs that are due.
//!
//! Every run a schedule makes has the idempotency key
//! `scheduled:{deployment_id}:{slug}:{slot_micros}` under a unique index, so
//! two passes, two server replicas, a restart or a re-deploy never make a
//! second run for the same slot.

use orch_core::{CollisionStrategy, RunPolicy, StateType, names, triage};

use crate::Backend;
use crate::Schedules;
use crate::error::Result;
use crate::model::{FlowRun, JsonObject, Schedule};
use crate::rows::{FLOW_RUN_SELECT, FlowRunRow, sql, to_json};
use crate::schedules::{SCHEDULE_SELECT, ScheduleRow};
use crate::state_change::{Cause, Change, Changed, Rules, Transition, change_state};
use crate::transitions::NewState;

/// An active schedule of an unpaused deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleToFill {
    /// The deployment's id.
    pub deployment_id: String,
    /// "flow/name".
    pub deployment: String,
    /// The deployment's catch-up and concurrency rules.
    pub policy: RunPolicy,
    /// The schedule.
    pub schedule: Schedule,
    /// Parameters of its runs: the deployment's with the schedule's on top.
    pub parameters: JsonObject,
    /// Runs exist for its slots up to here (micros); `None` for none yet.
    pub filled_until: Option<i64>,
}

/// The idempotency key of the run of `slug`'s slot at `slot` (micros).
pub fn scheduled_run_key(deployment_id: &str, slug: &str, slot: i64) -> String {
    format!("scheduled:{deployment_id}:{slug}:{slot}")
}

#[derive(sqlx::FromRow)]
struct DueRow {
    id: String,
    state_name: String,
    deployment_id: String,
    schedule_slug: String,
    expected_start: i64,
    catch_up: String,
    max_lateness_seconds: Option<i64>,
}

impl Schedules<'_> {
    /// Active schedules of unpaused deployments.
    pub async fn schedules_to_fill(&self) -> Result<Vec<ScheduleToFill>> {
        let deployments = self.deployments().list_deployments(None).await?;
        let rows: Vec<ScheduleRow> = sqlx::query_as(sql(format!(
            "{SCHEDULE_SELECT} WHERE active = 1 ORDER BY deployment_id, position"
        )))
        .fetch_all(&self.reader)
        .await?;
        let mut fills = Vec::new();
        for row in rows {
            let Some(deployment) = deployments
                .iter()
                .find(|d| d.id == row.deployment_id && !d.paused)
            else {
                continue;
            };
            let filled_until = row.filled_until;
            let schedule = row.into_schedule()?;
            fills.push(ScheduleToFill {
                deployment_id: deployment.id.clone(),
                deployment: deployment.full_name(),
                policy: deployment.policy,
                parameters: orch_core::merge_parameters(
                    &deployment.parameters,
                    &schedule.rule.parameters,
                ),
                schedule,
                filled_until,
            });
        }
        Ok(fills)
    }

    /// Creates the runs of `slots` (micros) for a schedule, each at most
    /// once ever, and records that the schedule is filled up to
    /// `filled_until`. Nothing is created if the schedule was removed or
    /// deactivated meanwhile. Each run made is a transition (from no state,
    /// [`Cause::Created`]); the value is their ids.
    pub async fn create_scheduled_runs(
        &self,
        fill: &ScheduleToFill,
        slots: &[i64],
        filled_until: i64,
    ) -> Result<Changed<Vec<String>>> {
        let now = self.now();
        let slug = &fill.schedule.slug;
        let mut tx = self.writer.begin().await?;
        let mut created = Vec::new();
        for &slot in slots {
            let uuid = uuid::Uuid::new_v4();
            let id = uuid.to_string();
            let message = format!("scheduled by schedule \"{slug}\"");
            let inserted = sqlx::query(
                "INSERT INTO flow_runs (id, name, flow_id, deployment_id, work_pool_id, parameters, tags, \
                 state_type, state_name, state_message, state_timestamp, expected_start, run_count, \
                 idempotency_key, schedule_slug, created_at, updated_at) \
                 SELECT $1, $2, d.flow_id, d.id, d.work_pool_id, $3, d.tags, 'SCHEDULED', 'Scheduled', \
                 $4, $5, $6, 0, $7, s.slug, $5, $5 \
                 FROM deployments d JOIN deployment_schedules s ON s.deployment_id = d.id \
                 WHERE d.id = $8 AND s.slug = $9 AND s.active = 1 \
                 ON CONFLICT (idempotency_key) DO NOTHING",
            )
            .bind(&id)
            .bind(crate::flow_runs::friendly_name(&uuid))
            .bind(to_json(&fill.parameters))
            .bind(&message)
            .bind(now)
            .bind(slot)
            .bind(scheduled_run_key(&fill.deployment_id, slug, slot))
            .bind(&fill.deployment_id)
            .bind(slug)
            .execute(&mut *tx)
            .await?;
            if inserted.rows_affected() == 1 {
                sqlx::query(
                    "INSERT INTO flow_run_states (flow_run_id, transition_id, type, name, message, timestamp) \
                     VALUES ($1, NULL, 'SCHEDULED', 'Scheduled', $2, $3)",
                )
                .bind(&id)
                .bind(&message)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                created.push(id);
            }
        }
        sqlx::query(
            "UPDATE deployment_schedules SET filled_until = $1 WHERE deployment_id = $2 AND slug = $3 \
             AND active = 1 AND (filled_until IS NULL OR filled_until < $1)",
        )
        .bind(filled_until)
        .bind(&fill.deployment_id)
        .bind(slug)
        .execute(&mut *tx)
        .await?;
        let runs = if created.is_empty() {
            Vec::new()
        } else {
            let placeholders: Vec<String> = (1..=created.len()).map(|n| format!("${n}")).collect();
            let text = format!(
                "{FLOW_RUN_SELECT} WHERE r.id IN ({}) ORDER BY r.expected_start, r.id",
                placeholders.join(", ")
            );
            let mut query = sqlx::query_as::<_, FlowRunRow>(sql(text));
            for id in &created {
                query = query.bind(id);
            }
            query.fetch_all(&mut *tx).await?
        };
        tx.commit().await?;
        let transitions = runs
            .into_iter()
            .map(|row| Ok(Transition::created(FlowRun::try_from(row)?, Cause::Created)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Changed {
            value: created,
            transitions,
        })
    }

    /// Runs the deployment's schedules made that are still Scheduled, soonest first.
    pub async fn waiting_scheduled_runs(&self, deployment_id: &str) -> Result<Vec<FlowRun>> {
        let rows: Vec<FlowRunRow> = sqlx::query_as(sql(format!(
            "{FLOW_RUN_SELECT} WHERE r.deployment_id = $1 AND r.schedule_slug IS NOT NULL \
             AND r.state_type = 'SCHEDULED' ORDER BY r.expected_start, r.id LIMIT 5000"
        )))
        .bind(deployment_id)
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter().map(FlowRun::try_from).collect()
    }

    /// Deletes waiting runs whose schedule no longer exists or is inactive
    /// (a schedule removed while a pass was creating its runs). Returns
    /// how many were deleted.
    pub async fn remove_orphaned_scheduled_runs(&self) -> Result<u64> {
        let deleted = sqlx::query(
            "DELETE FROM flow_runs WHERE schedule_slug IS NOT NULL AND state_type = 'SCHEDULED' \
             AND run_count = 0 AND state_name <> 'AwaitingRetry' AND NOT EXISTS (\
               SELECT 1 FROM deployment_schedules s WHERE s.deployment_id = flow_runs.deployment_id \
               AND s.slug = flow_runs.schedule_slug AND s.active = 1)",
        )
        .execute(self.writer.pool())
        .await?;
        Ok(deleted.rows_affected())
    }

    /// Applies the catch-up policy and `max_lateness_seconds` to the due
    /// runs that schedules made (of one pool, or all), and shows runs held
    /// back by their deployment's concurrency limit as
    /// AwaitingConcurrencySlot. Returns the transitions made.
    pub async fn apply_catch_up(&self, pool_id: Option<&str>) -> Result<Changed<()>> {
        let mut tx = self.writer.begin().await?;
        let outcome = catch_up_in(
            &mut tx,
            self.backend,
            pool_id,
            self.now(),
            self.late_after_micros,
        )
        .await?;
        tx.commit().await?;
        Ok(outcome.into())
    }
}

/// [`Schedules::apply_catch_up`] inside the caller's transaction.
pub(crate) async fn catch_up_in(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    pool_id: Option<&str>,
    now: i64,
    late_after_micros: i64,
) -> Result<Vec<Transition>> {
    // Runs being claimed elsewhere are left alone; those locked here cannot be claimed.
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE OF r SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let due: Vec<DueRow> = sqlx::query_as(sql(format!(
        "SELECT r.id, r.state_name, r.deployment_id, r.schedule_slug, r.expected_start, \
         d.catch_up, d.max_lateness_seconds \
         FROM flow_runs r JOIN deployments d ON d.id = r.deployment_id \
         WHERE r.state_type = 'SCHEDULED' AND r.schedule_slug IS NOT NULL AND r.run_count = 0 \
         AND r.state_name <> $1 AND r.expected_start <= $2 AND ($3 = '' OR r.work_pool_id = $3) \
         ORDER BY r.deployment_id, r.schedule_slug, r.expected_start, r.id{lock}"
    )))
    .bind(names::AWAITING_RETRY)
    .bind(now)
    .bind(pool_id.unwrap_or(""))
    .fetch_all(&mut *conn)
    .await?;
    let mut transitions = Vec::new();
    let mut start = 0;
    while start < due.len() {
        let first = &due[start];
        let end = start
            + due[start..]
                .iter()
                .take_while(|r| {
                    r.deployment_id == first.deployment_id && r.schedule_slug == first.schedule_slug
                })
                .count();
        let group = &due[start..end];
        let policy = RunPolicy {
            catch_up: first.catch_up.parse().unwrap_or_default(),
            max_lateness_seconds: first.max_lateness_seconds.map(|s| s as u64),
            ..RunPolicy::default()
        };
        let times: Vec<i64> = group.iter().map(|r| r.expected_start).collect();
        for (row, verdict) in group
            .iter()
            .zip(triage(&policy, &times, now, late_after_micros))
        {
            if let Some(reason) = verdict {
                let state = NewState::new(StateType::Cancelled, "Cancelled", &reason);
                let change = scheduled(&row.id, &row.state_name, &state, Cause::CatchUp);
                transitions.push(change_state(conn, backend, change, now).await?);
            }
        }
        start = end;
    }
    transitions.extend(mark_awaiting_slot(conn, backend, pool_id, now).await?);
    Ok(transitions)
}

/// A change of a run read Scheduled (and locked) in this transaction.
pub(crate) fn scheduled<'a>(
    run_id: &'a str,
    state_name: &'a str,
    to: &'a NewState,
    cause: Cause,
) -> Change<'a> {
    Change {
        run_id,
        from: StateType::Scheduled,
        from_name: state_name,
        to,
        cause,
        transition_id: None,
        rules: Rules::StateMachine,
        worker_id: None,
        no_open_subflows: false,
    }
}

/// Names due runs of deployments at their concurrency limit (strategy
/// enqueue) AwaitingConcurrencySlot, once.
async fn mark_awaiting_slot(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    pool_id: Option<&str>,
    now: i64,
) -> Result<Vec<Transition>> {
    let held: Vec<(String, String, i64)> = sqlx::query_as(sql(format!(
        "SELECT r.id, r.state_name, d.concurrency_limit FROM flow_runs r JOIN deployments d ON d.id = r.deployment_id \
         WHERE r.state_type = 'SCHEDULED' AND r.expected_start <= $1 AND ($2 = '' OR r.work_pool_id = $2) \
         AND d.concurrency_limit IS NOT NULL AND d.collision_strategy = $3 AND d.paused = 0 \
         AND r.state_name NOT IN ($4, $5) \
         AND (SELECT COUNT(*) FROM flow_runs x WHERE x.deployment_id = d.id \
              AND {}) >= d.concurrency_limit{}",
        StateType::in_flight_sql("x.state_type"),
        match backend {
            Backend::Postgres => " FOR UPDATE OF r SKIP LOCKED",
            Backend::Sqlite => "",
        }
    )))
    .bind(now)
    .bind(pool_id.unwrap_or(""))
    .bind(CollisionStrategy::Enqueue.as_str())
    .bind(names::AWAITING_CONCURRENCY_SLOT)
    .bind(names::AWAITING_RETRY)
    .fetch_all(&mut *conn)
    .await?;
    let mut marked = Vec::with_capacity(held.len());
    for (run_id, state_name, limit) in held {
        let state = NewState::new(
            StateType::Scheduled,
            names::AWAITING_CONCURRENCY_SLOT,
            &format!("waiting: deployment concurrency limit {limit} reached"),
        );
        let change = scheduled(&run_id, &state_name, &state, Cause::ConcurrencyLimit);
        marked.push(change_state(conn, backend, change, now).await?);
    }
    Ok(marked)
}
