//! Subflow runs: a flow called inside a flow is a flow run of its own,
//! created Running by its parent's process and linked to the parent run and
//! to the parent's task run standing for the call (see [`orch_core::subflow`]).
//!
//! It has no deployment and no work pool: no claim ever hands it out and no
//! deployment, pool or worker limit counts it. Its later states come through
//! the one state path like any run's, and a parent whose process ends ends
//! its unfinished subflow runs there too (`state_change::change_state`).

use orch_core::subflow;

use crate::FlowRuns;
use crate::error::{Result, StoreError};
use crate::model::{FlowRun, JsonObject};
use crate::new_id;
use crate::rows::{FLOW_RUN_SELECT, FlowRunRow, sql, to_json};
use crate::state_change::{Cause, Changed, Transition};
use crate::tokens::insert_run_credential;
use crate::transitions::{flow_run_not_found, load_run_for_update};

/// Most subflow runs [`FlowRuns::subflow_runs`] returns for one parent.
pub const MAX_SUBFLOW_RUNS_LISTED: u32 = 1000;

/// A subflow run to create.
#[derive(Debug, Clone, Default)]
pub struct NewSubflowRun {
    /// The run whose code calls the subflow; it must be Running.
    pub parent_flow_run_id: String,
    /// The parent's task run standing for the call, reported before (its
    /// id also makes the creation idempotent: [`subflow::run_key`]).
    pub parent_task_run_id: Option<String>,
    /// The subflow's name (a flow of that name is made if there is none).
    pub flow: String,
    /// The parameters it was called with.
    pub parameters: JsonObject,
    /// The span the run's span is a child of (the wrapper task's), whose
    /// trace it joins.
    pub trace_parent: Option<orch_core::TraceParent>,
}

/// A subflow run made (or found again) by [`FlowRuns::create_subflow_run`].
#[derive(Clone, PartialEq)]
pub struct CreatedSubflowRun {
    /// The run, Running when just made.
    pub run: FlowRun,
    /// The key its code reports with (its own run credential), when asked
    /// for one and the run is not finished.
    pub credential: Option<String>,
    /// False when the call found the run an earlier call made.
    pub created: bool,
}

impl std::fmt::Debug for CreatedSubflowRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedSubflowRun")
            .field("run", &self.run)
            .field("credential", &self.credential.as_ref().map(|_| "***"))
            .field("created", &self.created)
            .finish()
    }
}

impl FlowRuns<'_> {
    /// Creates a subflow run of `new.parent_flow_run_id`, Running at once
    /// (its first state, made through the state path's rules, is the returned
    /// transition). With `credential`, makes its own run credential in the
    /// same transaction. Called again for the same `parent_task_run_id`, it
    /// returns the run the first call made (and a fresh credential).
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] for an unknown parent,
    /// [`StoreError::Conflict`] when the parent is not Running,
    /// [`StoreError::InvalidInput`] for a bad flow name, parameters over the
    /// limit, or a wrapper task run that is not one of the parent's.
    pub async fn create_subflow_run(
        &self,
        new: &NewSubflowRun,
        credential: bool,
    ) -> Result<Changed<CreatedSubflowRun>> {
        orch_core::validate_name(orch_core::NameKind::Flow, &new.flow)
            .map_err(|error| StoreError::InvalidInput(error.to_string()))?;
        let parameters = to_json(&new.parameters);
        orch_core::limits::check_parameters_size("the subflow run's parameters", parameters.len())
            .map_err(|error| StoreError::InvalidInput(error.to_string()))?;
        let key = new.parent_task_run_id.as_deref().map(subflow::run_key);
        let now = self.now();
        let mut tx = self.writer.begin().await?;
        if let Some(key) = &key
            && let Some(found) = self
                .subflow_run_by_key(&mut tx, key, new, credential)
                .await?
        {
            tx.commit().await?;
            return Ok(Changed::unchanged(found));
        }
        let parent = load_run_for_update(&mut tx, self.backend, &new.parent_flow_run_id)
            .await?
            .ok_or_else(|| flow_run_not_found(&new.parent_flow_run_id))?;
        subflow::validate_start(&parent.name, parent.state.kind)
            .map_err(|error| StoreError::Conflict(error.to_string()))?;
        if let Some(task_run_id) = &new.parent_task_run_id {
            let owner: Option<(String,)> =
                sqlx::query_as("SELECT flow_run_id FROM task_runs WHERE id = $1")
                    .bind(task_run_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if owner.as_ref().map(|(run,)| run.as_str()) != Some(parent.id.as_str()) {
                return Err(StoreError::InvalidInput(format!(
                    "task run {task_run_id} is not a task run of the parent run {}: report the \
                     task run standing for the subflow call (ReportTaskRuns) before creating \
                     the subflow run",
                    parent.name
                )));
            }
        }
        sqlx::query(
            "INSERT INTO flows (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
        )
        .bind(new_id())
        .bind(&new.flow)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let uuid = uuid::Uuid::new_v4();
        let id = uuid.to_string();
        let message = format!("subflow run started by its parent run {}", parent.name);
        let inserted: Option<(String,)> = sqlx::query_as(
            "INSERT INTO flow_runs (id, name, flow_id, deployment_id, work_pool_id, parameters, tags, \
             state_type, state_name, state_message, state_timestamp, expected_start, start_time, \
             run_count, idempotency_key, created_at, updated_at, trace_parent, \
             parent_flow_run_id, parent_task_run_id) \
             SELECT $1, $2, f.id, NULL, NULL, $3, $4, $5, $6, $7, $8, $8, $8, 1, $9, $8, $8, $10, \
             $11, $12 FROM flows f WHERE f.name = $13 \
             ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
        )
        .bind(&id)
        .bind(crate::flow_runs::friendly_name(&uuid))
        .bind(&parameters)
        .bind(to_json(&parent.tags))
        .bind(subflow::START.as_str())
        .bind(subflow::START.display_name())
        .bind(&message)
        .bind(now)
        .bind(&key)
        .bind(new.trace_parent.map(|parent| parent.to_string()))
        .bind(&parent.id)
        .bind(&new.parent_task_run_id)
        .bind(&new.flow)
        .fetch_optional(&mut *tx)
        .await?;
        if inserted.is_none() {
            // Another call with the same key won the race: its run is the answer.
            tx.rollback().await?;
            return Box::pin(self.create_subflow_run(new, credential)).await;
        }
        sqlx::query(
            "INSERT INTO flow_run_states (flow_run_id, transition_id, type, name, message, timestamp) \
             VALUES ($1, NULL, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(subflow::START.as_str())
        .bind(subflow::START.display_name())
        .bind(&message)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let key = match credential {
            true => Some(insert_run_credential(&mut tx, &id, now).await?),
            false => None,
        };
        let run = load_run_for_update(&mut tx, self.backend, &id)
            .await?
            .ok_or_else(|| flow_run_not_found(&id))?;
        tx.commit().await?;
        let transition = Transition::created(run.clone(), Cause::SubflowStarted);
        Ok(Changed {
            value: CreatedSubflowRun {
                run,
                credential: key,
                created: true,
            },
            transitions: vec![transition],
        })
    }

    /// The subflow run an earlier call made under `key`, with a fresh
    /// credential when asked and it is not finished.
    async fn subflow_run_by_key(
        &self,
        tx: &mut sqlx::AnyConnection,
        key: &str,
        new: &NewSubflowRun,
        credential: bool,
    ) -> Result<Option<CreatedSubflowRun>> {
        let row: Option<FlowRunRow> = sqlx::query_as(sql(format!(
            "{FLOW_RUN_SELECT} WHERE r.idempotency_key = $1"
        )))
        .bind(key)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(run) = row.map(FlowRun::try_from).transpose()? else {
            return Ok(None);
        };
        if run.parent_flow_run_id.as_deref() != Some(new.parent_flow_run_id.as_str()) {
            return Err(StoreError::Conflict(format!(
                "task run {} already stands for subflow run {} of another parent run",
                new.parent_task_run_id.as_deref().unwrap_or_default(),
                run.name
            )));
        }
        let credential = match credential && !run.state.kind.is_terminal() {
            true => Some(insert_run_credential(tx, &run.id, self.now()).await?),
            false => None,
        };
        Ok(Some(CreatedSubflowRun {
            run,
            credential,
            created: false,
        }))
    }

    /// The subflow runs of run `run_id`, oldest first (at most
    /// [`MAX_SUBFLOW_RUNS_LISTED`]).
    pub async fn subflow_runs(&self, run_id: &str) -> Result<Vec<FlowRun>> {
        let rows: Vec<FlowRunRow> = sqlx::query_as(sql(format!(
            "{FLOW_RUN_SELECT} WHERE r.parent_flow_run_id = $1 ORDER BY r.created_at, r.id LIMIT $2"
        )))
        .bind(run_id)
        .bind(i64::from(MAX_SUBFLOW_RUNS_LISTED))
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter().map(FlowRun::try_from).collect()
    }
}
