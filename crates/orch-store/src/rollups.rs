//! The overview's window reads on the hourly roll-ups (migration 0450): the
//! whole hours of a window come from the totals kept per hour plus the
//! changes not yet folded into them, the partial hours at its edges from the
//! runs' own index ranges, all in one statement (one snapshot: a fold moving
//! changes into totals meanwhile is seen entirely or not at all). The cost
//! follows the window's hours and the runs of its two edge hours, not the
//! runs of the whole window.

use orch_core::HourSplit;

use crate::Stats;
use crate::error::Result;

/// Runs by (state type, state name) expected to start in the window: whole
/// hours `$1..=$2`, head `[$3, $4]`, tail `[$5, $6]`. Most frequent first.
const WINDOW_STATES: &str = "SELECT state_type, state_name, CAST(SUM(n) AS BIGINT) FROM ( \
       SELECT state_type, state_name, runs AS n FROM flow_run_hours WHERE hour >= $1 AND hour <= $2 \
       UNION ALL SELECT state_type, state_name, delta FROM flow_run_count_changes \
         WHERE hour >= $1 AND hour <= $2 \
       UNION ALL SELECT state_type, state_name, COUNT(*) FROM flow_runs \
         WHERE expected_start >= $3 AND expected_start <= $4 GROUP BY state_type, state_name \
       UNION ALL SELECT state_type, state_name, COUNT(*) FROM flow_runs \
         WHERE expected_start >= $5 AND expected_start <= $6 GROUP BY state_type, state_name) c \
     GROUP BY state_type, state_name HAVING SUM(n) > 0 \
     ORDER BY SUM(n) DESC, state_name, state_type";

/// Runs started in the window and the sum of their lateness in microseconds
/// (start − expected start, never negative), with the same parameters.
const WINDOW_STARTS: &str = "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT), CAST(SUM(l) AS BIGINT) FROM ( \
       SELECT started AS n, lateness_micros AS l FROM flow_run_start_hours \
         WHERE hour >= $1 AND hour <= $2 \
       UNION ALL SELECT delta, lateness FROM flow_run_count_changes \
         WHERE start_hour >= $1 AND start_hour <= $2 \
       UNION ALL SELECT COUNT(*), SUM(CASE WHEN start_time > expected_start \
         THEN start_time - expected_start ELSE 0 END) FROM flow_runs \
         WHERE start_time >= $3 AND start_time <= $4 \
       UNION ALL SELECT COUNT(*), SUM(CASE WHEN start_time > expected_start \
         THEN start_time - expected_start ELSE 0 END) FROM flow_runs \
         WHERE start_time >= $5 AND start_time <= $6) s";

/// `sql` (one of the above) with the window's whole hours and edges bound.
fn window<'q, T>(
    sql: &'static str,
    since: i64,
    until: i64,
) -> sqlx::query::QueryAs<'q, sqlx::Any, T, sqlx::any::AnyArguments>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
{
    let split = HourSplit::of(since, until);
    sqlx::query_as(sql)
        .bind(split.hours.0)
        .bind(split.hours.1)
        .bind(split.head.0)
        .bind(split.head.1)
        .bind(split.tail.0)
        .bind(split.tail.1)
}

impl Stats<'_> {
    /// Runs expected to start in `[since, until]` by (state type, state
    /// name), most frequent first (then by name and type), pairs with no run
    /// left out.
    pub(crate) async fn window_states(
        &self,
        since: i64,
        until: i64,
    ) -> Result<Vec<(String, String, i64)>> {
        Ok(window(WINDOW_STATES, since, until)
            .fetch_all(&self.reader)
            .await?)
    }

    /// Runs started in `[since, until]` and their mean lateness in
    /// microseconds (`None` when none started): the exact sum of lateness
    /// over the count.
    pub(crate) async fn window_starts(&self, since: i64, until: i64) -> Result<(i64, Option<f64>)> {
        let (started, lateness): (i64, Option<i64>) = window(WINDOW_STARTS, since, until)
            .fetch_one(&self.reader)
            .await?;
        let average = (started > 0).then(|| lateness.unwrap_or(0) as f64 / started as f64);
        Ok((started, average))
    }
}
