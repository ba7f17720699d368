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

/// The deployments' skip scan and each one's last completed run (both backends).
macro_rules! deployments_and_last_success {
    () => {
        "WITH RECURSIVE ids (id) AS ( \
           SELECT (SELECT deployment_id FROM flow_runs WHERE deployment_id IS NOT NULL \
                   ORDER BY deployment_id LIMIT 1) \
           UNION ALL \
           SELECT (SELECT n.deployment_id FROM flow_runs n WHERE n.deployment_id > ids.id \
                   ORDER BY n.deployment_id LIMIT 1) FROM ids WHERE ids.id IS NOT NULL), \
         last_ok AS MATERIALIZED ( \
           SELECT ids.id, (SELECT n.created_at FROM flow_runs n WHERE n.deployment_id = ids.id \
             AND n.state_type = 'COMPLETED' ORDER BY n.created_at DESC LIMIT 1) AS at \
           FROM ids WHERE ids.id IS NOT NULL) "
    };
}

/// Failures of runs without a deployment, then the order and the limit (both backends).
macro_rules! without_deployment {
    () => {
        " UNION ALL \
         SELECT u.id, u.created_at FROM flow_runs u WHERE u.deployment_id IS NULL \
           AND u.state_type IN ('FAILED', 'CRASHED') AND u.created_at >= $1 \
         ORDER BY 2 DESC, 1 DESC LIMIT $2"
    };
}

/// The ids and creation times of the unresolved failures on PostgreSQL.
const UNRESOLVED_POSTGRES: &str = concat!(
    deployments_and_last_success!(),
    "SELECT x.id, x.created_at FROM last_ok l CROSS JOIN LATERAL ( \
       SELECT u.id, u.created_at FROM flow_runs u WHERE u.deployment_id = l.id \
         AND u.state_type IN ('FAILED', 'CRASHED') \
         AND u.created_at >= GREATEST($1, COALESCE(l.at, $1)) OFFSET 0) x",
    without_deployment!(),
);

/// The same on SQLite (`max` of two values; `CROSS JOIN` keeps the join order).
const UNRESOLVED_SQLITE: &str = concat!(
    deployments_and_last_success!(),
    "SELECT u.id, u.created_at FROM last_ok l CROSS JOIN flow_runs u \
     WHERE u.deployment_id = l.id AND u.state_type IN ('FAILED', 'CRASHED') \
       AND u.created_at >= max($1, COALESCE(l.at, $1))",
    without_deployment!(),
);

impl Stats<'_> {
    /// Statistics of the runs expected to start in `[since, until]`, and of
    /// the runs started in it. The window's whole hours are read from the
    /// hourly roll-ups kept with the runs (crate::rollups, migration 0450),
    /// its partial edge hours from the runs: the same figures as counting
    /// every run of the window, at a cost that does not grow with its runs.
    pub async fn run_stats(&self, since: i64, until: i64) -> Result<RunStats> {
        let rows = self.window_states(since, until).await?;
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
        let late: (i64,) = match self.backend {
            // 0420's (LOWER(state_name), created_at) index includes both names.
            crate::Backend::Postgres => {
                sqlx::query_as(
                    "SELECT COUNT(*) FROM flow_runs WHERE state_type = 'SCHEDULED' \
                     AND state_name = $1 AND LOWER(state_name) = LOWER($1)",
                )
                .bind(names::LATE)
                .fetch_one(&self.reader)
                .await?
            }
            // The partial index of the Late runs (0440), which SQLite's planner
            // would pass over for the state type's. Its condition is written
            // out, not bound: a bound name could not be proven to match it.
            crate::Backend::Sqlite => {
                sqlx::query_as(sql(format!(
                    "SELECT COUNT(*) FROM flow_runs INDEXED BY flow_runs_late \
                     WHERE state_type = 'SCHEDULED' AND state_name = '{}'",
                    names::LATE
                )))
                .fetch_one(&self.reader)
                .await?
            }
        };
        let (late,) = late;
        stats.late_now = late;
        // A retried run keeps its first start while its expected start moves on: never negative.
        let (started, lateness) = self.window_starts(since, until).await?;
        stats.started = started;
        stats.average_lateness_micros = lateness;
        Ok(stats)
    }

    /// Failed or Crashed runs created since `since` whose deployment has not
    /// completed a run after them, newest first.
    pub async fn unresolved_failures(&self, since: i64, limit: u32) -> Result<Vec<FlowRun>> {
        self.unresolved_failures_by_deployment(since, limit).await
    }

    /// [`Stats::unresolved_failures`], driven by the deployments: their ids
    /// are found by skipping through the (deployment_id, ...) index (deleted
    /// deployments' runs included), then for each one its last completed run
    /// is one probe and its failures after that one range of
    /// (deployment_id, state_type, created_at); runs without a deployment are
    /// one more range. The cost follows the deployments and the failures
    /// listed, not the window's runs: a `NOT EXISTS` per failure read every
    /// failure of the window (120 ms at 1,000,000 runs on PostgreSQL, 23-73 ms
    /// on SQLite), and PostgreSQL could hash every completed run for it.
    ///
    /// PostgreSQL: `OFFSET 0` keeps each deployment's range a nested index
    /// scan (the planner would otherwise flatten it into a hash join over all
    /// failures). The planner cannot know how few failures follow a
    /// deployment's last success, guesses thousands each, and JIT-compiles
    /// the query for that (600-800 ms for 1 ms of work): JIT is off for this
    /// read. SQLite has no `LATERAL`: its `CROSS JOIN` fixes the same order
    /// (deployments outside, each one's range inside), which its planner
    /// would otherwise turn around into a pass over every failure.
    /// The runs are then read by id.
    async fn unresolved_failures_by_deployment(
        &self,
        since: i64,
        limit: u32,
    ) -> Result<Vec<FlowRun>> {
        let failing: Vec<(String, i64)> = match self.backend {
            crate::Backend::Postgres => {
                let mut tx = self.reader.begin().await?;
                sqlx::query("SET LOCAL jit = off").execute(&mut *tx).await?;
                let failing = sqlx::query_as(UNRESOLVED_POSTGRES)
                    .bind(since)
                    .bind(i64::from(limit))
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                failing
            }
            crate::Backend::Sqlite => {
                sqlx::query_as(UNRESOLVED_SQLITE)
                    .bind(since)
                    .bind(i64::from(limit))
                    .fetch_all(&self.reader)
                    .await?
            }
        };
        if failing.is_empty() {
            return Ok(Vec::new());
        }
        let mut query = sqlx::query_as(sql(format!(
            "{FLOW_RUN_SELECT} WHERE r.id IN ({}) ORDER BY r.created_at DESC, r.id DESC",
            crate::rows::values_placeholders(1, failing.len())
                .trim_start_matches('(')
                .trim_end_matches(')')
        )));
        for (id, _) in &failing {
            query = query.bind(id);
        }
        let rows: Vec<FlowRunRow> = query.fetch_all(&self.reader).await?;
        rows.into_iter().map(FlowRun::try_from).collect()
    }

    /// Number of runs per deployment and state type, over all time: the
    /// counts kept with the runs plus the changes not yet folded into them
    /// (crate::run_counts), read in one statement (one snapshot), no scan of
    /// the runs. Pairs with no run are left out.
    pub async fn runs_by_deployment_and_state(&self) -> Result<Vec<DeploymentStateCount>> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT deployment_id, state_type, CAST(SUM(runs) AS BIGINT) FROM \
               (SELECT deployment_id, state_type, runs FROM flow_run_counts \
                UNION ALL SELECT deployment_id, state_type, delta FROM flow_run_count_changes) c \
             GROUP BY deployment_id, state_type HAVING SUM(runs) > 0 \
             ORDER BY deployment_id, state_type",
        )
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter()
            .map(|(deployment_id, kind, count)| {
                Ok(DeploymentStateCount {
                    // '' stands for "no deployment" in the counts' key.
                    deployment_id: (!deployment_id.is_empty()).then_some(deployment_id),
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
