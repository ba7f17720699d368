//! Creating, finding and listing flow runs.

use orch_core::{StateType, names};

use crate::Backend;
use crate::FlowRuns;
use crate::audit::{NewAuditRecord, PendingAudit};
use crate::deployments::run_parameters;
use crate::error::{Result, StoreError};
use crate::model::{FlowRun, FlowRunFilter, JsonObject, State};
use crate::rows::{FLOW_RUN_SELECT, FlowRunRow, StateRow, sql, to_json};
use crate::run_creation::{Inserted, NewRunRow};
use crate::scheduling::scheduled;
use crate::state_change::{Cause, Changed, Transition, change_state};
use crate::transitions::{NewState, flow_run_not_found};

/// Default page size of [`FlowRuns::list_flow_runs`].
pub const DEFAULT_LIST_LIMIT: u32 = 50;

const ADJECTIVES: [&str; 32] = [
    "amber", "bold", "brisk", "calm", "clever", "crisp", "daring", "eager", "fancy", "fleet",
    "gentle", "golden", "hardy", "jolly", "keen", "lively", "lucky", "mellow", "nimble", "noble",
    "plucky", "proud", "quick", "quiet", "rapid", "silver", "steady", "sunny", "swift", "tidy",
    "vivid", "witty",
];
const NOUNS: [&str; 32] = [
    "badger", "beaver", "bison", "condor", "crane", "dingo", "eagle", "falcon", "ferret", "gecko",
    "heron", "ibis", "jackal", "koala", "lemur", "lynx", "marten", "moose", "narwhal", "ocelot",
    "otter", "panda", "puffin", "quokka", "raven", "salmon", "tapir", "toucan", "walrus", "wombat",
    "yak", "zebra",
];

/// A friendly run name such as "brisk-otter", drawn from the id's random bits.
pub(crate) fn friendly_name(id: &uuid::Uuid) -> String {
    let bytes = id.as_bytes();
    let adjective = ADJECTIVES[(bytes[15] as usize) % ADJECTIVES.len()];
    let noun = NOUNS[(bytes[14] as usize) % NOUNS.len()];
    format!("{adjective}-{noun}")
}

impl FlowRuns<'_> {
    /// Creates a Scheduled run of a deployment, due at `scheduled_at` (default now).
    /// With a non-empty `idempotency_key`, a second call returns the first run.
    /// The creation is a transition (from no state, [`Cause::Created`]); none
    /// when the key's run is returned.
    pub async fn create_flow_run(
        &self,
        deployment_ref: &str,
        overrides: &JsonObject,
        scheduled_at: Option<i64>,
        idempotency_key: &str,
    ) -> Result<Changed<FlowRun>> {
        let created = self
            .create_flow_run_audited(
                deployment_ref,
                overrides,
                scheduled_at,
                idempotency_key,
                None,
                None,
            )
            .await?;
        Ok(Changed {
            value: created.value.0,
            transitions: created.transitions,
        })
    }

    /// [`FlowRuns::create_flow_run`], writing `audit` (the record of the call
    /// that asks for the run) in the run's own transaction: the run is never
    /// there without its record. Returns the run and whether the record was
    /// written; it is not when no run was made (the idempotency key's run is
    /// returned, or an error), and the caller then records the call itself.
    /// With `trace`, the run's trace is the caller's (see
    /// [`orch_core::RunTrace`]) and keeps its `tracestate`. The creation is
    /// the call's one transition.
    pub async fn create_flow_run_audited(
        &self,
        deployment_ref: &str,
        overrides: &JsonObject,
        scheduled_at: Option<i64>,
        idempotency_key: &str,
        audit: Option<&NewAuditRecord>,
        trace: Option<&orch_core::CallerTrace>,
    ) -> Result<Changed<(FlowRun, bool)>> {
        let deployment = self
            .deployments()
            .deployment_for_run(deployment_ref)
            .await?;
        if !idempotency_key.is_empty()
            && let Some(run) = self.flow_run_by_idempotency_key(idempotency_key).await?
        {
            return Ok(Changed::unchanged((run, false)));
        }
        let now = self.now();
        let uuid = uuid::Uuid::new_v4();
        let id = uuid.to_string();
        let parameters = run_parameters(&deployment, overrides);
        let parameters_json = to_json(&parameters);
        orch_core::limits::check_parameters_size("the run's parameters", parameters_json.len())
            .map_err(|error| StoreError::InvalidInput(error.to_string()))?;
        let expected_start = scheduled_at.unwrap_or(now);
        let message = if expected_start > now {
            "scheduled"
        } else {
            "run requested"
        };
        let name = friendly_name(&uuid);
        let inserted = self
            .run_creator
            .submit(NewRunRow {
                id: id.clone(),
                name: name.clone(),
                deployment_id: deployment.id.clone(),
                parameters: parameters_json,
                message,
                now,
                expected_start,
                idempotency_key: Some(idempotency_key.to_string()).filter(|k| !k.is_empty()),
                trace_parent: trace.map(|trace| trace.parent.to_string()),
                trace_state: trace
                    .and_then(|trace| trace.state.as_ref())
                    .map(ToString::to_string),
                audit: audit.map(|record| PendingAudit::new(record.clone(), self.clock.clone())),
            })
            .await?;
        if inserted == Inserted::No {
            // Lost a race for the idempotency key: the winner's run is the answer.
            if !idempotency_key.is_empty()
                && let Some(run) = self.flow_run_by_idempotency_key(idempotency_key).await?
            {
                return Ok(Changed::unchanged((run, false)));
            }
            // Otherwise the deployment was deleted since it was looked up.
            return Err(
                match self.deployments().deployment_for_run(deployment_ref).await {
                    Err(error) => error,
                    Ok(_) => StoreError::Conflict(format!(
                        "deployment \"{deployment_ref}\" changed while the run was being created; try again"
                    )),
                },
            );
        }
        // Everything the run holds is known here: no need to read it back.
        let run = FlowRun {
            name,
            flow: deployment.flow.clone(),
            deployment: deployment.full_name(),
            deployment_id: Some(deployment.id.clone()),
            work_pool: deployment.work_pool.clone(),
            work_pool_id: Some(deployment.work_pool_id.clone()),
            state: State {
                kind: StateType::Scheduled,
                name: StateType::Scheduled.display_name().to_string(),
                message: message.to_string(),
                timestamp: now,
            },
            parameters,
            tags: deployment.tags,
            expected_start,
            start_time: None,
            end_time: None,
            run_count: 0,
            worker_id: None,
            worker_name: String::new(),
            exit_code: None,
            usage: None,
            trace_parent: trace.map(|trace| trace.parent),
            trace_state: trace.and_then(|trace| trace.state.clone()),
            created_at: now,
            schedule_slug: None,
            parent_flow_run_id: None,
            parent_task_run_id: None,
            id,
        };
        Ok(Changed {
            transitions: vec![Transition::created(run.clone(), Cause::Created)],
            value: (run, audit.is_some()),
        })
    }

    async fn flow_run_by_idempotency_key(&self, key: &str) -> Result<Option<FlowRun>> {
        let row: Option<FlowRunRow> = sqlx::query_as(sql(format!(
            "{FLOW_RUN_SELECT} WHERE r.idempotency_key = $1"
        )))
        .bind(key)
        .fetch_optional(&self.reader)
        .await?;
        row.map(FlowRun::try_from).transpose()
    }

    /// A run by id, unambiguous id prefix (4+ characters) or unique name.
    pub async fn flow_run(&self, reference: &str) -> Result<FlowRun> {
        let row: Option<FlowRunRow> =
            sqlx::query_as(sql(format!("{FLOW_RUN_SELECT} WHERE r.id = $1")))
                .bind(reference)
                .fetch_optional(&self.reader)
                .await?;
        if let Some(row) = row {
            return row.try_into();
        }
        let mut matches: Vec<FlowRunRow> = Vec::new();
        if reference.len() >= 4 {
            matches = sqlx::query_as(sql(format!(
                "{FLOW_RUN_SELECT} WHERE r.id >= $1 AND r.id < $1 || '~' ORDER BY r.id LIMIT 6"
            )))
            .bind(reference)
            .fetch_all(&self.reader)
            .await?;
        }
        if matches.is_empty() {
            matches = sqlx::query_as(sql(format!(
                "{FLOW_RUN_SELECT} WHERE r.name = $1 ORDER BY r.created_at DESC LIMIT 6"
            )))
            .bind(reference)
            .fetch_all(&self.reader)
            .await?;
        }
        match matches.len() {
            0 => Err(flow_run_not_found(reference)),
            1 => matches.pop().expect("one match").try_into(),
            _ => {
                let ids: Vec<String> = matches
                    .into_iter()
                    .filter_map(|row| FlowRun::try_from(row).ok())
                    .map(|run| format!("{} ({})", run.id, run.name))
                    .collect();
                Err(StoreError::InvalidInput(format!(
                    "\"{reference}\" matches several flow runs: {}; give more of the id",
                    ids.join(", ")
                )))
            }
        }
    }

    /// The run's states, oldest first.
    pub async fn flow_run_history(&self, run_id: &str) -> Result<Vec<State>> {
        let rows: Vec<StateRow> = sqlx::query_as(
            "SELECT type, name, message, timestamp FROM flow_run_states WHERE flow_run_id = $1 ORDER BY id",
        )
        .bind(run_id)
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter().map(State::try_from).collect()
    }

    /// The first page of runs matching `filter`, newest first: a shorthand
    /// (for tests and tools) of [`FlowRuns::flow_run_page`], the one run list
    /// query. Above [`crate::MAX_PAGE_SIZE`] runs, page with it instead.
    pub async fn list_flow_runs(&self, filter: &FlowRunFilter) -> Result<Vec<FlowRun>> {
        let query = crate::FlowRunQuery {
            flow: filter.flow.clone(),
            deployment_id: filter.deployment_id.clone(),
            work_pool: filter.work_pool.clone(),
            state_type: filter.state_type,
            state_name: filter.state_name.clone(),
            top_level: filter.top_level,
            ..Default::default()
        };
        Ok(self.flow_run_page(&query, None, filter.limit).await?.runs)
    }

    /// Marks Scheduled runs due before `due_before` as Late (except those
    /// AwaitingConcurrencySlot, which say why they wait); returns the transitions made.
    pub async fn mark_late_runs(&self, due_before: i64) -> Result<Changed<()>> {
        let now = self.now();
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let mut tx = self.writer.begin().await?;
        let late: Vec<(String, String)> = sqlx::query_as(sql(format!(
            "SELECT id, state_name FROM flow_runs WHERE state_type = 'SCHEDULED' AND expected_start < $1 \
             AND state_name NOT IN ($2, $3) ORDER BY expected_start LIMIT 500{lock}"
        )))
        .bind(due_before)
        .bind(names::LATE)
        .bind(names::AWAITING_CONCURRENCY_SLOT)
        .fetch_all(&mut *tx)
        .await?;
        let state = NewState::new(
            StateType::Scheduled,
            names::LATE,
            "not started in time: no worker picked it up",
        );
        let mut transitions = Vec::with_capacity(late.len());
        for (id, name) in &late {
            let change = scheduled(id, name, &state, Cause::Late);
            transitions.push(change_state(&mut tx, self.backend, change, now).await?);
        }
        tx.commit().await?;
        Ok(transitions.into())
    }

    /// Ids of pools that have Scheduled runs falling due in `(after, until]`.
    pub async fn pools_with_runs_due(&self, after: i64, until: i64) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT DISTINCT work_pool_id FROM flow_runs WHERE state_type = 'SCHEDULED' \
             AND expected_start > $1 AND expected_start <= $2 AND work_pool_id IS NOT NULL",
        )
        .bind(after)
        .bind(until)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn friendly_names_are_adjective_noun() {
        let name = friendly_name(&uuid::Uuid::new_v4());
        let (adjective, noun) = name.split_once('-').expect("a dash");
        assert!(ADJECTIVES.contains(&adjective));
        assert!(NOUNS.contains(&noun));
    }
}
