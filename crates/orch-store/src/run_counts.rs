//! Run counts per deployment and state type, kept as runs change (migration
//! 0420): triggers on `flow_runs` append +1/-1 rows to
//! `flow_run_count_changes` in the run's own transaction; folding adds them
//! into `flow_run_counts` and removes them, so a read
//! ([`Stats::runs_by_deployment_and_state`]) sums a few rows instead of
//! grouping every run. The server's sweep pass folds every few seconds.

use crate::error::Result;
use crate::{Backend, Stats};

/// Adds the pending changes into the totals (in key order, so two folds at
/// once take the total rows' locks in the same order).
const ADD_CHANGES: &str = "INSERT INTO flow_run_counts (deployment_id, state_type, runs) \
     SELECT deployment_id, state_type, SUM(delta) FROM flow_run_count_changes WHERE TRUE \
     GROUP BY deployment_id, state_type ORDER BY deployment_id, state_type \
     ON CONFLICT (deployment_id, state_type) DO UPDATE SET runs = flow_run_counts.runs + excluded.runs";

/// PostgreSQL: removes and adds in one statement, so a change committed
/// meanwhile is neither lost nor added twice (it waits for the next fold),
/// and a second fold at the same time skips the rows the first one took.
const FOLD_POSTGRES: &str = "WITH moved AS (DELETE FROM flow_run_count_changes \
       RETURNING deployment_id, state_type, delta) \
     INSERT INTO flow_run_counts (deployment_id, state_type, runs) \
     SELECT deployment_id, state_type, SUM(delta) FROM moved \
     GROUP BY deployment_id, state_type ORDER BY deployment_id, state_type \
     ON CONFLICT (deployment_id, state_type) DO UPDATE SET runs = flow_run_counts.runs + excluded.runs";

impl Stats<'_> {
    /// Folds the run count changes appended since the last fold into the
    /// totals; returns how many (deployment, state type) totals changed.
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
