//! Proposed states of flow runs (client reports) and cancellation; every
//! change they make goes through [`crate::state_change::change_state`].

use orch_core::auth::Principal;
use orch_core::{RetryDecision, RetryPolicy, StateType, names, validate_transition};

use crate::Backend;
use crate::FlowRuns;
use crate::error::{Result, StoreError};
use crate::model::FlowRun;
use crate::rows::{FLOW_RUN_SELECT, sql};
use crate::state_change::{Cause, Change, Changed, Rules, Transition, change_state};

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
    /// What the run's processes used, when its worker measured it.
    pub usage: Option<orch_core::ResourceUsage>,
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
            usage: None,
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

/// What [`load_report_target`] reads.
struct ReportTarget {
    run: FlowRun,
    /// A report with the same transition id was applied already.
    seen: bool,
    /// The run has no unfinished subflow run.
    no_open_subflows: bool,
}

/// A report's run, read for update, whether a report with
/// `transition_id` was applied already: one statement, the report path being
/// the busiest write.
async fn load_report_target(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    run_id: &str,
    transition_id: &str,
) -> Result<Option<ReportTarget>> {
    #[derive(sqlx::FromRow)]
    struct Target {
        seen: i64,
        open_subflows: i64,
        #[sqlx(flatten)]
        run: crate::rows::FlowRunRow,
    }
    static QUERY: std::sync::LazyLock<[String; 2]> = std::sync::LazyLock::new(|| {
        let columns = FLOW_RUN_SELECT
            .strip_prefix("SELECT ")
            .expect("FLOW_RUN_SELECT starts with SELECT");
        let query = |lock: &str| {
            format!(
                "SELECT (SELECT COUNT(*) FROM flow_run_states s WHERE s.transition_id = $2) \
                 AS seen, (SELECT COUNT(*) FROM flow_runs c WHERE c.parent_flow_run_id = r.id \
                 AND c.state_type NOT IN ('COMPLETED', 'FAILED', 'CRASHED', 'CANCELLED')) \
                 AS open_subflows, {columns} WHERE r.id = $1{lock}"
            )
        };
        [query(""), query(" FOR UPDATE OF r")]
    });
    let query = &QUERY[usize::from(backend == Backend::Postgres)];
    let target: Option<Target> = sqlx::query_as(sql(query.clone()))
        .bind(run_id)
        .bind(transition_id)
        .fetch_optional(&mut *conn)
        .await?;
    target
        .map(|target| {
            Ok(ReportTarget {
                run: FlowRun::try_from(target.run)?,
                seen: target.seen > 0,
                no_open_subflows: target.open_subflows == 0,
            })
        })
        .transpose()
}

/// What a proposal came to inside a transaction.
pub(crate) enum Verdict {
    /// The state (or AwaitingRetry instead) was written.
    Accepted(Box<Transition>),
    /// Nothing was written, for this reason.
    Rejected(String),
}

/// Applies `proposal` to `run` (loaded for update in this transaction): the
/// proposing worker must hold the run, the move must be allowed, and a
/// failure with flow retries left becomes AwaitingRetry (see
/// [`orch_core::retry::decide`]). `no_open_subflows`: the caller's locked
/// read found no unfinished subflow run of `run`.
pub(crate) async fn propose_in(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    run: &FlowRun,
    proposal: &Proposal,
    cause: Cause,
    no_open_subflows: bool,
    now: i64,
) -> Result<Verdict> {
    if let Some(worker) = &proposal.worker_id
        && run.worker_id.as_deref() != Some(worker.as_str())
    {
        return Ok(Verdict::Rejected(match &run.worker_id {
            Some(_) => "the run is held by another worker".to_string(),
            None => format!("the run is {} and held by no worker", run.state.name),
        }));
    }
    if let Err(error) = validate_transition(Some(run.state.kind), proposal.state.kind) {
        return Ok(Verdict::Rejected(error.to_string()));
    }
    if run.is_subflow()
        && let Err(error) = orch_core::subflow::validate_report(run.state.kind, proposal.state.kind)
    {
        return Ok(Verdict::Rejected(error.to_string()));
    }
    // The policy and the retries used are read only when a retry is possible.
    let (retries, delay, retries_used): (i64, i64, i64) = if orch_core::retry::may_retry(
        run.state.kind,
        proposal.state.kind,
    ) {
        sqlx::query_as(
                "SELECT COALESCE(d.retries, 0), COALESCE(d.retry_delay_seconds, 0), \
                 (SELECT COUNT(*) FROM flow_run_states s WHERE s.flow_run_id = r.id AND s.name = $2) \
                 FROM flow_runs r LEFT JOIN deployments d ON d.id = r.deployment_id WHERE r.id = $1",
            )
            .bind(&run.id)
            .bind(names::AWAITING_RETRY)
            .fetch_one(&mut *conn)
            .await?
    } else {
        (0, 0, 0)
    };
    let policy = RetryPolicy {
        retries: u32::try_from(retries).unwrap_or(0),
        delay_seconds: u64::try_from(delay).unwrap_or(0),
    };
    let decision = orch_core::retry::decide(
        policy,
        u32::try_from(retries_used).unwrap_or(u32::MAX),
        run.state.kind,
        proposal.state.kind,
        &proposal.state.message,
        now,
    );
    let (state, cause) = match decision {
        RetryDecision::Final => (proposal.state.clone(), cause),
        RetryDecision::Retry { at, message, .. } => {
            let mut state =
                NewState::new(StateType::Scheduled, RetryDecision::STATE_NAME, &message);
            state.expected_start = Some(at);
            state.exit_code = proposal.state.exit_code;
            state.usage = proposal.state.usage;
            (state, Cause::Retry)
        }
    };
    let change = Change {
        transition_id: Some(proposal.transition_id.as_str()).filter(|t| !t.is_empty()),
        no_open_subflows,
        ..Change::of(run, &state, cause)
    };
    let transition = change_state(conn, backend, change, now).await?;
    Ok(Verdict::Accepted(Box::new(transition)))
}

/// Applies a proposed state to run `run_id` inside the caller's
/// transaction (one of a batch: see [`crate::state_reports`]). A rejected
/// proposal writes nothing; an error leaves the transaction to be rolled back.
/// `reporter`: who reports, when the run must be checked against them here
/// (see [`FlowRuns::set_flow_run_state_as`]); a refusal is
/// [`StoreError::Forbidden`] and writes nothing.
pub(crate) async fn set_state_in(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    run_id: &str,
    proposal: &Proposal,
    reporter: Option<&Principal>,
    now: i64,
) -> Result<Changed<TransitionResult>> {
    let Some(ReportTarget {
        run,
        seen,
        no_open_subflows,
    }) = load_report_target(conn, backend, run_id, &proposal.transition_id).await?
    else {
        return Err(flow_run_not_found(run_id));
    };
    if let Some(reporter) = reporter {
        let pool = Some(run.work_pool.as_str()).filter(|p| !p.is_empty());
        reporter
            .may_use_run(&run.id, pool)
            .map_err(|denied| StoreError::Forbidden(denied.0))?;
    }
    if seen {
        // This report was applied already (a retried call): nothing to do.
        return Ok(Changed::unchanged(TransitionResult::Accepted(run)));
    }
    if let Some(worker) = &proposal.worker_id
        && proposal.state.kind.is_terminal()
        && late_report_applies(conn, &run, worker).await?
    {
        // The lease sweep ended this run while its worker still had it
        // (the server stalled, or heartbeats were lost), and nothing has
        // started it since: the worker's own final report is the truth.
        let change = Change {
            transition_id: Some(proposal.transition_id.as_str()).filter(|t| !t.is_empty()),
            rules: Rules::LeaseCorrection,
            worker_id: Some(worker),
            ..Change::of(&run, &proposal.state, Cause::LeaseCorrection)
        };
        let transition = change_state(conn, backend, change, now).await?;
        return Ok(accepted(transition));
    }
    let cause = Cause::Report;
    match propose_in(conn, backend, &run, proposal, cause, no_open_subflows, now).await? {
        Verdict::Accepted(transition) => Ok(accepted(*transition)),
        // Nothing was written.
        Verdict::Rejected(reason) => Ok(Changed::unchanged(TransitionResult::Rejected {
            run,
            reason,
        })),
    }
}

impl FlowRuns<'_> {
    /// Applies a proposed state to a run after checking it is allowed, and
    /// returns the outcome with the transition made (none when rejected or
    /// when `transition_id` was already applied). Reports made at the same
    /// moment share one transaction ([`crate::state_reports`]); each is
    /// answered once committed.
    pub async fn set_flow_run_state(
        &self,
        run_id: &str,
        proposal: Proposal,
    ) -> Result<Changed<TransitionResult>> {
        self.report(run_id, proposal, None).await
    }

    /// [`FlowRuns::set_flow_run_state`] for `reporter`, who may report only
    /// on the runs [`Principal::may_use_run`] allows (a worker token: runs of
    /// its pools). The run is checked as it is read for the write, under the
    /// same lock, instead of being read once more before it: a refused
    /// report is [`StoreError::Forbidden`] and writes nothing.
    pub async fn set_flow_run_state_as(
        &self,
        run_id: &str,
        proposal: Proposal,
        reporter: &Principal,
    ) -> Result<Changed<TransitionResult>> {
        self.report(run_id, proposal, Some(reporter.clone())).await
    }

    async fn report(
        &self,
        run_id: &str,
        proposal: Proposal,
        reporter: Option<Principal>,
    ) -> Result<Changed<TransitionResult>> {
        let report = crate::state_reports::Report {
            run_id: run_id.to_owned(),
            proposal,
            reporter,
            now: self.now(),
        };
        self.state_reporter.submit(report).await
    }

    /// Requests cancellation. Runs not started are Cancelled at once; started ones
    /// become Cancelling and the returned worker id must be told to kill them
    /// (also when the run already was Cancelling: asking again repeats the request).
    pub async fn cancel_flow_run(
        &self,
        run_id: &str,
    ) -> Result<Changed<(FlowRun, Option<String>)>> {
        let now = self.now();
        let mut tx = self.writer.begin().await?;
        let run = load_run_for_update(&mut tx, self.backend, run_id)
            .await?
            .ok_or_else(|| flow_run_not_found(run_id))?;
        let state = match run.state.kind {
            kind if kind.is_terminal() => {
                tx.rollback().await?;
                return Err(StoreError::Conflict(format!(
                    "flow run {} is already {}, a terminal state: there is nothing to cancel",
                    run.name, run.state.name
                )));
            }
            StateType::Cancelling => {
                tx.rollback().await?;
                let worker = run.worker_id.clone();
                return Ok(Changed::unchanged((run, worker)));
            }
            StateType::Scheduled | StateType::Paused => NewState::new(
                StateType::Cancelled,
                "Cancelled",
                "cancelled by user before it started",
            ),
            _ => NewState::new(
                StateType::Cancelling,
                "Cancelling",
                "cancellation requested by user",
            ),
        };
        let transition = change_state(
            &mut tx,
            self.backend,
            Change::of(&run, &state, Cause::Cancel),
            now,
        )
        .await?;
        tx.commit().await?;
        let run = transition.run.clone();
        let worker = run
            .worker_id
            .clone()
            .filter(|_| run.state.kind == StateType::Cancelling);
        Ok(Changed {
            value: (run, worker),
            transitions: vec![transition],
        })
    }
}

fn accepted(transition: Transition) -> Changed<TransitionResult> {
    Changed {
        value: TransitionResult::Accepted(transition.run.clone()),
        transitions: vec![transition],
    }
}

pub(crate) fn flow_run_not_found(run_id: &str) -> StoreError {
    StoreError::NotFound {
        kind: "flow run",
        name: run_id.to_string(),
        hint: ": list runs with 'orch flow-run ls'".into(),
    }
}
