//! Run counts per deployment and state type, kept as runs change (migration
//! 0420): triggers on `flow_runs` append +1/-1 rows to
//! `flow_run_count_changes` in the run's own transaction; folding adds them
//! into `flow_run_counts` and removes them, so a read
//! ([`Stats::runs_by_deployment_and_state`]) sums a few rows instead of
//! grouping every run. The server's sweep pass folds every few seconds.
//!
//! The same change rows also carry each run's state name, the hours of its
//! expected start and of its start, and its lateness (migration 0450), and the
//! same fold adds them into the overview's hourly roll-ups (`flow_run_hours`,
//! `flow_run_start_hours`; read by [`Stats::run_stats`]).

use crate::error::Result;
use crate::{Backend, Stats};

/// The `INSERT ... SELECT` adding the changes read from `$from` (the changes
/// table, or on PostgreSQL the rows a fold moved out of it) into each total,
/// in key order (so two folds at once take the total rows' locks in the same
/// order); groups that add nothing are left out.
macro_rules! add_counts {
    ($from:literal) => {
        concat!(
            "INSERT INTO flow_run_counts (deployment_id, state_type, runs) \
             SELECT deployment_id, state_type, SUM(delta) FROM ", $from, " WHERE TRUE \
             GROUP BY deployment_id, state_type HAVING SUM(delta) <> 0 \
             ORDER BY deployment_id, state_type \
             ON CONFLICT (deployment_id, state_type) DO UPDATE SET runs = flow_run_counts.runs + excluded.runs"
        )
    };
}

/// Runs per hour of expected start and state (see `add_counts`).
macro_rules! add_hours {
    ($from:literal) => {
        concat!(
            "INSERT INTO flow_run_hours (hour, state_type, state_name, runs) \
             SELECT hour, state_type, state_name, SUM(delta) FROM ", $from, " \
             WHERE hour IS NOT NULL GROUP BY hour, state_type, state_name HAVING SUM(delta) <> 0 \
             ORDER BY hour, state_type, state_name \
             ON CONFLICT (hour, state_type, state_name) DO UPDATE SET runs = flow_run_hours.runs + excluded.runs"
        )
    };
}

/// Started runs and lateness per hour of start (see `add_counts`).
macro_rules! add_start_hours {
    ($from:literal) => {
        concat!(
            "INSERT INTO flow_run_start_hours (hour, started, lateness_micros) \
             SELECT start_hour, SUM(delta), SUM(lateness) FROM ", $from, " \
             WHERE start_hour IS NOT NULL GROUP BY start_hour \
             HAVING SUM(delta) <> 0 OR SUM(lateness) <> 0 ORDER BY start_hour \
             ON CONFLICT (hour) DO UPDATE SET started = flow_run_start_hours.started + excluded.started, \
               lateness_micros = flow_run_start_hours.lateness_micros + excluded.lateness_micros"
        )
    };
}

/// SQLite: the three additions, then the changes are deleted (one writer:
/// nothing changes between the statements).
const ADD_CHANGES: &str = add_counts!("flow_run_count_changes");
const ADD_HOURS: &str = add_hours!("flow_run_count_changes");
const ADD_START_HOURS: &str = add_start_hours!("flow_run_count_changes");

/// PostgreSQL: removes and adds in one statement, so a change committed
/// meanwhile is neither lost nor added twice (it waits for the next fold),
/// and a second fold at the same time skips the rows the first one took.
/// The roll-ups are added by data-modifying `WITH` parts of the same
/// statement (run once, whether or not the main part reads them).
const FOLD_POSTGRES: &str = concat!(
    "WITH moved AS (DELETE FROM flow_run_count_changes \
       RETURNING deployment_id, state_type, delta, state_name, hour, start_hour, lateness), \
     hours AS (",
    add_hours!("moved"),
    "), start_hours AS (",
    add_start_hours!("moved"),
    ") ",
    add_counts!("moved"),
);

impl Stats<'_> {
    /// Folds the run count changes appended since the last fold into the
    /// totals (the run counts and the overview's hourly roll-ups); returns
    /// how many (deployment, state type) totals changed.
    pub async fn fold_run_counts(&self) -> Result<u64> {
        let folded = match self.backend() {
            Backend::Postgres => sqlx::query(FOLD_POSTGRES)
                .execute(self.writer.pool())
                .await
                .map(|done| done.rows_affected())
                .map_err(Into::into),
            // One writer: nothing changes between the two statements.
            Backend::Sqlite => {
                async {
                    let mut tx = self.writer.begin().await?;
                    let added = sqlx::query(ADD_CHANGES).execute(&mut *tx).await?;
                    sqlx::query(ADD_HOURS).execute(&mut *tx).await?;
                    sqlx::query(ADD_START_HOURS).execute(&mut *tx).await?;
                    sqlx::query("DELETE FROM flow_run_count_changes")
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(added.rows_affected())
                }
                .await
            }
        };
        self.writer.observe(folded)
    }
}
