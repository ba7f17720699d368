//! New flow runs, written by group commit.
//!
//! A new run is two rows: the run and its first state. One run per
//! transaction would make the writer, not the database, the limit on how fast
//! runs are created, so runs are a [`Batch`] of the store's group commit
//! (`crate::group_commit`): runs created at the same time are written
//! together, one multi-row statement per table in one transaction. A run
//! whose deployment was deleted meanwhile, or whose idempotency key is taken,
//! is not written and is answered [`Inserted::No`].

use std::collections::HashSet;

use crate::audit::{PendingAudit, insert_records};
use crate::error::Result;
use crate::group_commit::{Batch, GroupCommit};
use crate::rows::{cacheable_chunks, sql, values_placeholders};
use crate::write::WriteTx;

/// Most runs written by one transaction (9 binds each: far below either
/// backend's bind limit).
const MAX_BATCH: usize = 256;

/// A run to insert, Scheduled, with everything the deployment does not give.
#[derive(Debug)]
pub(crate) struct NewRunRow {
    pub id: String,
    pub name: String,
    pub deployment_id: String,
    /// Merged parameters, as JSON text.
    pub parameters: String,
    pub message: &'static str,
    pub now: i64,
    pub expected_start: i64,
    pub idempotency_key: Option<String>,
    /// The `traceparent` of the caller, whose trace the run joins.
    pub trace_parent: Option<String>,
    /// Its `tracestate`, if it sent one.
    pub trace_state: Option<String>,
    /// The audit record of the call creating it, written with the run (and
    /// only if the run is), in the same transaction.
    pub audit: Option<PendingAudit>,
}

/// What became of one [`NewRunRow`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Inserted {
    /// The run and its first state were written.
    Yes,
    /// Nothing was written: its idempotency key was taken, or its deployment
    /// was deleted after it was looked up.
    No,
}

/// New runs, as a [`Batch`]: the runs, then their first states, one
/// multi-row statement per table and chunk.
#[derive(Debug)]
pub(crate) struct NewRuns;

/// Handle on the task that writes new runs; cheap to clone.
pub(crate) type RunCreator = GroupCommit<NewRuns>;

impl Batch for NewRuns {
    type Item = NewRunRow;
    type Outcome = Inserted;
    const MAX_BATCH: usize = MAX_BATCH;
    const NAME: &'static str = "new runs";

    async fn write(&self, tx: &mut WriteTx, rows: &[NewRunRow]) -> Result<Vec<Inserted>> {
        let rows: Vec<&NewRunRow> = rows.iter().collect();
        let mut inserted = HashSet::new();
        for chunk in cacheable_chunks(&rows, MAX_BATCH) {
            inserted.extend(insert_runs(tx, chunk).await?);
        }
        let written: Vec<&NewRunRow> = rows
            .iter()
            .copied()
            .filter(|row| inserted.contains(&row.id))
            .collect();
        for chunk in cacheable_chunks(&written, MAX_BATCH) {
            insert_first_states(tx, chunk).await?;
        }
        let audited: Vec<&PendingAudit> = written
            .iter()
            .filter_map(|row| row.audit.as_ref())
            .collect();
        if !audited.is_empty() {
            insert_records(tx, &audited).await?;
        }
        Ok(rows
            .iter()
            .map(|row| {
                if inserted.contains(&row.id) {
                    Inserted::Yes
                } else {
                    Inserted::No
                }
            })
            .collect())
    }
}

/// Inserts the runs of `rows` whose deployment exists and whose idempotency
/// key is free; returns their ids.
async fn insert_runs(tx: &mut WriteTx, rows: &[&NewRunRow]) -> Result<Vec<String>> {
    // The deployment is joined, not copied from the caller's lookup, so a run
    // is never written for a deployment deleted in between. `WHERE true`
    // tells SQLite's parser that `ON CONFLICT` belongs to the INSERT.
    let statement = format!(
        "INSERT INTO flow_runs (id, name, flow_id, deployment_id, work_pool_id, parameters, tags, \
         state_type, state_name, state_message, state_timestamp, expected_start, run_count, \
         idempotency_key, created_at, updated_at, trace_parent, trace_state) \
         SELECT v.column1, v.column2, d.flow_id, d.id, d.work_pool_id, v.column4, d.tags, \
         'SCHEDULED', 'Scheduled', v.column5, v.column6, v.column7, 0, v.column8, v.column6, v.column6, \
         v.column9, v.column10 \
         FROM (VALUES {}) AS v JOIN deployments d ON d.id = v.column3 WHERE true \
         ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
        values_placeholders(rows.len(), 10)
    );
    let mut insert = sqlx::query_as::<_, (String,)>(sql(statement));
    for row in rows {
        insert = insert
            .bind(&row.id)
            .bind(&row.name)
            .bind(&row.deployment_id)
            .bind(&row.parameters)
            .bind(row.message)
            .bind(row.now)
            .bind(row.expected_start)
            .bind(&row.idempotency_key)
            .bind(&row.trace_parent)
            .bind(&row.trace_state);
    }
    let ids = insert.fetch_all(&mut **tx).await?;
    Ok(ids.into_iter().map(|(id,)| id).collect())
}

/// The Scheduled state each new run starts its history with.
async fn insert_first_states(tx: &mut WriteTx, rows: &[&NewRunRow]) -> Result<()> {
    let statement = format!(
        "INSERT INTO flow_run_states (flow_run_id, transition_id, type, name, message, timestamp) \
         SELECT v.column1, NULL, 'SCHEDULED', 'Scheduled', v.column2, v.column3 FROM (VALUES {}) AS v",
        values_placeholders(rows.len(), 3)
    );
    let mut states = sqlx::query(sql(statement));
    for row in rows {
        states = states.bind(&row.id).bind(row.message).bind(row.now);
    }
    states.execute(&mut **tx).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::Store;
    use crate::test_support::store_with_deployment;

    fn row(id: &str, deployment_id: &str) -> NewRunRow {
        NewRunRow {
            id: id.into(),
            name: format!("run-{id}"),
            deployment_id: deployment_id.into(),
            parameters: "{}".into(),
            message: "run requested",
            now: 1,
            expected_start: 1,
            idempotency_key: None,
            trace_parent: None,
            trace_state: None,
            audit: None,
        }
    }

    /// Writes `rows` as one batch, as the serving task would, and collects the answers.
    async fn write_together(store: &Store, rows: Vec<NewRunRow>) -> Vec<Result<Inserted>> {
        crate::group_commit::write_together(&store.writer, NewRuns, rows).await
    }

    #[tokio::test]
    async fn a_row_whose_deployment_is_gone_is_skipped_and_its_neighbours_written() {
        let (store, deployment, _dir) = store_with_deployment().await;

        let outcomes = write_together(
            &store,
            vec![
                row("a", &deployment),
                row("b", "deleted"),
                row("c", &deployment),
            ],
        )
        .await;

        let outcomes: Vec<Inserted> = outcomes.into_iter().map(|o| o.unwrap()).collect();
        assert_eq!(outcomes, [Inserted::Yes, Inserted::No, Inserted::Yes]);
        assert_eq!(
            store.flow_runs().flow_run_history("a").await.unwrap().len(),
            1
        );
        assert!(store.flow_runs().flow_run("b").await.is_err());
        assert_eq!(
            store.flow_runs().flow_run_history("c").await.unwrap().len(),
            1
        );
    }

    #[tokio::test]
    async fn a_row_that_fails_fails_alone() {
        let (store, deployment, _dir) = store_with_deployment().await;
        write_together(&store, vec![row("taken", &deployment)]).await;

        // A primary-key clash fails the batch's statement; the batch is then
        // written run by run, so only the clashing run reports the error.
        let outcomes = write_together(
            &store,
            vec![
                row("x", &deployment),
                row("taken", &deployment),
                row("y", &deployment),
            ],
        )
        .await;

        assert_eq!(outcomes[0].as_ref().unwrap(), &Inserted::Yes);
        let error = outcomes[1].as_ref().unwrap_err().to_string();
        assert!(error.contains("UNIQUE"), "{error}");
        assert_eq!(outcomes[2].as_ref().unwrap(), &Inserted::Yes);
        assert_eq!(store.flow_runs().flow_run("x").await.unwrap().name, "run-x");
        assert_eq!(
            store
                .flow_runs()
                .flow_run("taken")
                .await
                .unwrap()
                .state
                .message,
            "run requested"
        );
        assert_eq!(
            store.flow_runs().flow_run_history("y").await.unwrap().len(),
            1
        );
    }

    #[tokio::test]
    async fn rows_sharing_an_idempotency_key_in_one_batch_make_one_run() {
        let (store, deployment, _dir) = store_with_deployment().await;
        let keyed = |id: &str| NewRunRow {
            idempotency_key: Some("slot-1".into()),
            ..row(id, &deployment)
        };

        let outcomes = write_together(&store, vec![keyed("first"), keyed("second")]).await;

        let outcomes: Vec<Inserted> = outcomes.into_iter().map(|o| o.unwrap()).collect();
        assert_eq!(outcomes, [Inserted::Yes, Inserted::No]);
        assert!(store.flow_runs().flow_run("second").await.is_err());
    }
}
