//! Aggregates for the dashboard's overview and the Prometheus gauges: counts
//! by state over a window, success rate, lateness, failures not yet fixed,
//! runs by deployment and state, and queue depth per pool.

use orch_core::{StateType, names};

use crate::Stats;
use crate::error::Result;
use crate::model::FlowRun;
use crate::rows::{FLOW_RUN_SELECT, FlowRunRow, sql, state_type};

/// Runs in one state, by type and display name.
#[derive(Debug, Clone, PartialEq)]
pub struct StateCount {
    /// State type.
    pub state_type: StateType,
    /// State name (Late, AwaitingRetry, ...).
    pub state_name: String,
    /// How many runs are in it.
    pub count: i64,
}

/// What happened to runs expected to start in a window.
#[derive(Debug, Clone, PartialEq)]
pub struct RunStats {
    /// Runs by current state, most frequent first.
    pub by_state: Vec<StateCount>,
    /// All runs in the window.
    pub total: i64,
    /// Runs that ended Completed.
    pub completed: i64,
    /// Runs that ended Failed or Crashed.
    pub failed: i64,
    /// Runs in the Late state now (whatever their window).
    pub late_now: i64,
    /// Runs of the window that started, and their mean lateness (start − expected start).
    pub started: i64,
    /// Mean lateness of the started runs, in microseconds.
    pub average_lateness_micros: Option<f64>,
}

impl RunStats {
    /// Completed / (Completed + Failed + Crashed), when any run ended that way.
    pub fn success_rate(&self) -> Option<f64> {
        let ended = self.completed + self.failed;
        (ended > 0).then(|| self.completed as f64 / ended as f64)
    }
}

/// Runs of one deployment in one state type (all time).
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentStateCount {
    /// Deployment id; `None` for runs without one.
    pub deployment_id: Option<String>,
    /// State type.
    pub state_type: StateType,
    /// Number of runs.
    pub count: i64,
}

/// A pool's queue: runs due now and not yet claimed.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolQueue {
    /// Pool name.
    pub work_pool: String,
    /// Scheduled runs whose expected start has passed.
    pub due: i64,
}

impl Stats<'_> {
    /// Statistics of the runs expected to start in `[since, until]`.
    pub async fn run_stats(&self, since: i64, until: i64) -> Result<RunStats> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT state_type, state_name, COUNT(*) FROM flow_runs \
             WHERE expected_start >= $1 AND expected_start <= $2 \
             GROUP BY state_type, state_name ORDER BY COUNT(*) DESC, state_name",
        )
        .bind(since)
        .bind(until)
        .fetch_all(&self.reader)
        .await?;
        let mut stats = RunStats {
            by_state: Vec::with_capacity(rows.len()),
            total: 0,
            completed: 0,
            failed: 0,
            late_now: 0,
            started: 0,
            average_lateness_micros: None,
        };
        for (kind, state_name, count) in rows {
            let kind = state_type(&kind)?;
            stats.total += count;
            match kind {
                StateType::Completed => stats.completed += count,
                StateType::Failed | StateType::Crashed => stats.failed += count,
                _ => {}
            }
            stats.by_state.push(StateCount {
                state_type: kind,
                state_name,
                count,
            });
        }
        let (late,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM flow_runs WHERE state_type = 'SCHEDULED' AND state_name = $1",
        )
        .bind(names::LATE)
        .fetch_one(&self.reader)
        .await?;
        stats.late_now = late;
        // A retried run keeps its first start while its expected start moves on: never negative.
        let (started, lateness): (i64, Option<f64>) = sqlx::query_as(
            "SELECT COUNT(*), AVG(CAST(CASE WHEN start_time > expected_start \
             THEN start_time - expected_start ELSE 0 END AS DOUBLE PRECISION)) \
             FROM flow_runs WHERE start_time >= $1 AND start_time <= $2",
        )
        .bind(since)
        .bind(until)
        .fetch_one(&self.reader)
        .await?;
        stats.started = started;
        stats.average_lateness_micros = lateness;
        Ok(stats)
    }

    /// Failed or Crashed runs created since `since` whose deployment has not
    /// completed a run after them, newest first.
    pub async fn unresolved_failures(&self, since: i64, limit: u32) -> Result<Vec<FlowRun>> {
        let rows: Vec<FlowRunRow> = sqlx::query_as(sql(format!(
            "{FLOW_RUN_SELECT} WHERE r.state_type IN ('FAILED', 'CRASHED') AND r.created_at >= $1 \
             AND NOT EXISTS (SELECT 1 FROM flow_runs n WHERE n.deployment_id = r.deployment_id \
               AND n.state_type = 'COMPLETED' AND n.created_at > r.created_at) \
             ORDER BY r.created_at DESC, r.id DESC LIMIT $2"
        )))
        .bind(since)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter().map(FlowRun::try_from).collect()
    }

    /// Number of runs per deployment and state type, over all time.
    pub async fn runs_by_deployment_and_state(&self) -> Result<Vec<DeploymentStateCount>> {
        let rows: Vec<(Option<String>, String, i64)> = sqlx::query_as(
            "SELECT deployment_id, state_type, COUNT(*) FROM flow_runs \
             GROUP BY deployment_id, state_type ORDER BY deployment_id, state_type",
        )
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter()
            .map(|(deployment_id, kind, count)| {
                Ok(DeploymentStateCount {
                    deployment_id,
                    state_type: state_type(&kind)?,
                    count,
                })
            })
            .collect()
    }

    /// For every pool, its Scheduled runs due at `now` (queue depth).
    pub async fn pool_queues(&self, now: i64) -> Result<Vec<PoolQueue>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT p.name, (SELECT COUNT(*) FROM flow_runs r WHERE r.work_pool_id = p.id \
               AND r.state_type = 'SCHEDULED' AND r.expected_start <= $1) \
             FROM work_pools p ORDER BY p.name",
        )
        .bind(now)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(work_pool, due)| PoolQueue { work_pool, due })
            .collect())
    }
}
