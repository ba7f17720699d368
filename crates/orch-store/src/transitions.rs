//! State transitions of flow runs: every change goes through here and is recorded.

use orch_core::{StateType, names, validate_transition};

use crate::error::{Result, StoreError};
use crate::model::FlowRun;
use crate::rows::{FLOW_RUN_SELECT, sql};
use crate::{Backend, Store};

/// A state to enter.
#[derive(Debug, Clone, PartialEq)]
pub struct NewState {
    /// Type.
    pub kind: StateType,
    /// Display name; the type's name when empty.
    pub name: String,
    /// Why.
    pub message: String,
    /// Sets the run's expected start (for Scheduled states).
    pub expected_start: Option<i64>,
    /// The subprocess exit code, when known.
    pub exit_code: Option<i32>,
}

impl NewState {
    /// A state with a name and message.
    pub fn new(kind: StateType, name: &str, message: &str) -> NewState {
        NewState {
            kind,
            name: if name.is_empty() {
                kind.display_name().to_string()
            } else {
                name.to_string()
            },
            message: message.to_string(),
            expected_start: None,
            exit_code: None,
        }
    }
}

/// A client's proposed transition.
#[derive(Debug, Clone)]
pub struct Proposal {
    /// The state to enter.
    pub state: NewState,
    /// Client-made id making the request idempotent; empty for none.
    pub transition_id: String,
    /// The worker proposing it; it must hold the run.
    pub worker_id: Option<String>,
}

/// The outcome of a proposal.
#[derive(Debug, Clone, PartialEq)]
pub enum TransitionResult {
    /// The run is now in the proposed state (or a state the server chose instead,
    /// e.g. AwaitingRetry for a Failed run with retries left).
    Accepted(FlowRun),
    /// Nothing changed.
    Rejected {
        /// The run as it is.
        run: FlowRun,
        /// Why.
        reason: String,
    },
}

impl TransitionResult {
    /// The run after the call.
    pub fn run(&self) -> &FlowRun {
        match self {
            TransitionResult::Accepted(run) | TransitionResult::Rejected { run, .. } => run,
        }
    }
}

/// Writes `state` as the run's current state and appends it to the history.
pub(crate) async fn write_state(
    conn: &mut sqlx::AnyConnection,
    run_id: &str,
    state: &NewState,
    transition_id: Option<&str>,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE flow_runs SET \
           run_count = run_count + CASE WHEN $1 = 'RUNNING' AND state_type <> 'RUNNING' THEN 1 ELSE 0 END, \
           start_time = CASE WHEN $1 = 'RUNNING' AND start_time IS NULL THEN $4 ELSE start_time END, \
           end_time = CASE WHEN $5 = 1 THEN $4 ELSE end_time END, \
           worker_id = CASE WHEN $1 = 'SCHEDULED' THEN NULL ELSE worker_id END, \
           expected_start = COALESCE($6, expected_start), \
           exit_code = COALESCE($7, exit_code), \
           state_type = $1, state_name = $2, state_message = $3, state_timestamp = $4, updated_at = $4 \
         WHERE id = $8",
    )
    .bind(state.kind.as_str())
    .bind(&state.name)
    .bind(&state.message)
    .bind(now)
    .bind(i64::from(state.kind.is_terminal()))
    .bind(state.expected_start)
    .bind(state.exit_code.map(i64::from))
    .bind(run_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO flow_run_states (flow_run_id, transition_id, type, name, message, timestamp) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(run_id)
    .bind(transition_id)
    .bind(state.kind.as_str())
    .bind(&state.name)
    .bind(&state.message)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Whether `worker`'s final report on `run` comes after the lease sweep
/// ended the run for that worker, with nothing started since: the run is
/// Crashed, or waiting for its retry (Scheduled, claimed by nobody).
async fn late_report_applies(
    conn: &mut sqlx::AnyConnection,
    run: &FlowRun,
    worker: &str,
) -> Result<bool> {
    let waiting = run.state.kind == StateType::Scheduled && run.worker_id.is_none();
    if !(waiting || run.state.kind == StateType::Crashed) {
        return Ok(false);
    }
    let expired: Option<(Option<String>,)> =
        sqlx::query_as("SELECT lease_expired_worker_id FROM flow_runs WHERE id = $1")
            .bind(&run.id)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(expired.and_then(|(holder,)| holder).as_deref() == Some(worker))
}

/// Loads a run inside a transaction, locking its row on PostgreSQL.
pub(crate) async fn load_run_for_update(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    run_id: &str,
) -> Result<Option<FlowRun>> {
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE OF r",
        Backend::Sqlite => "",
    };
    let row: Option<crate::rows::FlowRunRow> =
        sqlx::query_as(sql(format!("{FLOW_RUN_SELECT} WHERE r.id = $1{lock}")))
            .bind(run_id)
            .fetch_optional(&mut *conn)
            .await?;
    row.map(FlowRun::try_from).transpose()
}

/// What the server enters instead of a Failed or Crashed proposal when flow
/// retries are left: AwaitingRetry, due after the retry delay.
///
/// `retries_used` counts the retries already granted (AwaitingRetry states in
/// the history), not `run_count`: a run failing before it reaches Running
/// never raises `run_count`, and would otherwise be retried forever, even
/// with no retries at all.
fn retry_instead(
    run: &FlowRun,
    proposed: &NewState,
    retries: u32,
    retries_used: u32,
    delay_seconds: u64,
    now: i64,
) -> Option<NewState> {
    let failing = matches!(proposed.kind, StateType::Failed | StateType::Crashed);
    let active = matches!(run.state.kind, StateType::Pending | StateType::Running);
    if !failing || !active || retries_used >= retries {
        return None;
    }
    let attempt = retries_used + 1;
    let mut state = NewState::new(
        StateType::Scheduled,
        names::AWAITING_RETRY,
        &format!(
            "retry {attempt} of {retries} in {delay_seconds}s after {}: {}",
            proposed.kind.display_name(),
            proposed.message
        ),
    );
    state.expected_start = Some(now + delay_seconds as i64 * 1_000_000);
    state.exit_code = proposed.exit_code;
    Some(state)
}

impl Store {
    /// Applies a proposed state to a run after checking it is allowed.
    pub async fn set_flow_run_state(
        &self,
        run_id: &str,
        proposal: Proposal,
    ) -> Result<TransitionResult> {
        let now = self.now();
        let mut tx = self.writer.begin().await?;
        if !proposal.transition_id.is_empty() {
            let seen: Option<(i64,)> =
                sqlx::query_as("SELECT id FROM flow_run_states WHERE transition_id = $1")
                    .bind(&proposal.transition_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if seen.is_some() {
                let run = load_run_for_update(&mut tx, self.backend, run_id).await?;
                tx.commit().await?;
                let run = run.ok_or_else(|| flow_run_not_found(run_id))?;
                return Ok(TransitionResult::Accepted(run));
            }
        }
        let run = load_run_for_update(&mut tx, self.backend, run_id)
            .await?
            .ok_or_else(|| flow_run_not_found(run_id))?;
        if let Some(worker) = &proposal.worker_id
            && proposal.state.kind.is_terminal()
            && late_report_applies(&mut tx, &run, worker).await?
        {
            // The lease sweep ended this run while its worker still had it
            // (the server stalled, or heartbeats were lost), and nothing has
            // started it since: the worker's own final report is the truth.
            let transition_id = Some(proposal.transition_id.as_str()).filter(|t| !t.is_empty());
            write_state(&mut tx, run_id, &proposal.state, transition_id, now).await?;
            sqlx::query(
                "UPDATE flow_runs SET worker_id = $1, lease_expired_worker_id = NULL WHERE id = $2",
            )
            .bind(worker)
            .bind(run_id)
            .execute(&mut *tx)
            .await?;
            let run = load_run_for_update(&mut tx, self.backend, run_id)
                .await?
                .ok_or_else(|| flow_run_not_found(run_id))?;
            tx.commit().await?;
            return Ok(TransitionResult::Accepted(run));
        }
        if let Some(worker) = &proposal.worker_id
            && run.worker_id.as_deref() != Some(worker.as_str())
        {
            let reason = match &run.worker_id {
                Some(_) => "the run is held by another worker".to_string(),
                None => format!("the run is {} and held by no worker", run.state.name),
            };
            tx.rollback().await?;
            return Ok(TransitionResult::Rejected { run, reason });
        }
        if let Err(error) = validate_transition(Some(run.state.kind), proposal.state.kind) {
            tx.rollback().await?;
            return Ok(TransitionResult::Rejected {
                run,
                reason: error.to_string(),
            });
        }
        let (retries, delay, retries_used): (i64, i64, i64) = sqlx::query_as(
            "SELECT COALESCE(d.retries, 0), COALESCE(d.retry_delay_seconds, 0), \
             (SELECT COUNT(*) FROM flow_run_states s WHERE s.flow_run_id = r.id AND s.name = $2) \
             FROM flow_runs r LEFT JOIN deployments d ON d.id = r.deployment_id WHERE r.id = $1",
        )
        .bind(run_id)
        .bind(names::AWAITING_RETRY)
        .fetch_one(&mut *tx)
        .await?;
        let state = retry_instead(
            &run,
            &proposal.state,
            retries as u32,
            retries_used as u32,
            delay as u64,
            now,
        )
        .unwrap_or_else(|| proposal.state.clone());
        let transition_id = Some(proposal.transition_id.as_str()).filter(|t| !t.is_empty());
        write_state(&mut tx, run_id, &state, transition_id, now).await?;
        let run = load_run_for_update(&mut tx, self.backend, run_id)
            .await?
            .ok_or_else(|| flow_run_not_found(run_id))?;
        tx.commit().await?;
        Ok(TransitionResult::Accepted(run))
    }

    /// Requests cancellation. Runs not started are Cancelled at once; started ones
    /// become Cancelling and the returned worker id must be told to kill them.
    pub async fn cancel_flow_run(&self, run_id: &str) -> Result<(FlowRun, Option<String>)> {
        let now = self.now();
        let mut tx = self.writer.begin().await?;
        let run = load_run_for_update(&mut tx, self.backend, run_id)
            .await?
            .ok_or_else(|| flow_run_not_found(run_id))?;
        let (state, notify) = match run.state.kind {
            kind if kind.is_terminal() => {
                tx.rollback().await?;
                return Err(StoreError::Conflict(format!(
                    "flow run {} is already {}, a terminal state: there is nothing to cancel",
                    run.name, run.state.name
                )));
            }
            StateType::Cancelling => {
                tx.rollback().await?;
                return Ok((run.clone(), run.worker_id));
            }
            StateType::Scheduled | StateType::Paused => (
                NewState::new(
                    StateType::Cancelled,
                    "Cancelled",
                    "cancelled by user before it started",
                ),
                None,
            ),
            _ => (
                NewState::new(
                    StateType::Cancelling,
                    "Cancelling",
                    "cancellation requested by user",
                ),
                run.worker_id.clone(),
            ),
        };
        write_state(&mut tx, run_id, &state, None, now).await?;
        let run = load_run_for_update(&mut tx, self.backend, run_id)
            .await?
            .ok_or_else(|| flow_run_not_found(run_id))?;
        tx.commit().await?;
        Ok((run, notify))
    }
}

pub(crate) fn flow_run_not_found(run_id: &str) -> StoreError {
    StoreError::NotFound {
        kind: "flow run",
        name: run_id.to_string(),
        hint: ": list runs with 'orch flow-run ls'".into(),
    }
}
