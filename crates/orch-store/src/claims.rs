//! Handing ready runs to workers, each run exactly once.

use std::collections::HashMap;

use orch_core::{CollisionStrategy, FlowEnvironment, StateType};

use crate::Backend;
use crate::Claims;
use crate::error::{Result, StoreError};
use crate::model::ClaimedRun;
use crate::rows::{from_json, sql};
use crate::scheduling::scheduled;
use crate::state_change::{Cause, Change, Changed, change_state};
use crate::tokens::insert_run_credential;
use crate::transitions::NewState;

/// [`orch_core::limits::MAX_CLAIM_BYTES`] as a column value.
const MAX_CLAIM_BYTES: i64 = orch_core::limits::MAX_CLAIM_BYTES as i64;

impl Claims<'_> {
    /// Atomically moves up to `max_runs` due runs of the worker's pool from
    /// Scheduled to Pending and assigns them to the worker, oldest due first.
    /// Honours pool and deployment pauses, the pool's, the deployment's and
    /// the worker's concurrency limits, and first applies the deployments'
    /// catch-up policies to the pool's due scheduled runs. A run of a
    /// deployment at its limit waits (strategy `enqueue`) or is Cancelled
    /// (strategy `cancel-new`). Returns the runs claimed, with every
    /// transition made (claims, catch-up, cancel-new).
    pub async fn claim_runs(
        &self,
        worker_id: &str,
        max_runs: u32,
    ) -> Result<Changed<Vec<ClaimedRun>>> {
        self.claim(worker_id, max_runs, false).await
    }

    /// [`Claims::claim_runs`], making each claimed run's credential (the key
    /// its flow process uses, ending with the run) in the claim's own
    /// transaction: a claimed run never lacks one, and the claim costs one
    /// write instead of one per run.
    pub async fn claim_runs_with_credentials(
        &self,
        worker_id: &str,
        max_runs: u32,
    ) -> Result<Changed<Vec<ClaimedRun>>> {
        self.claim(worker_id, max_runs, true).await
    }

    async fn claim(
        &self,
        worker_id: &str,
        max_runs: u32,
        credentials: bool,
    ) -> Result<Changed<Vec<ClaimedRun>>> {
        let now = self.now();
        let mut tx = self.writer.begin().await?;
        let worker: Option<(String, i64, Option<i64>)> =
            sqlx::query_as("SELECT work_pool_id, run_limit, stopped_at FROM workers WHERE id = $1")
                .bind(worker_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((pool_id, worker_limit, stopped_at)) = worker else {
            tx.rollback().await?;
            return Err(StoreError::NotFound {
                kind: "worker",
                name: worker_id.to_string(),
                hint: ": register again (restart the worker)".into(),
            });
        };
        if stopped_at.is_some() {
            tx.rollback().await?;
            return Ok(Changed::unchanged(Vec::new()));
        }
        // Serialises claims per pool across server replicas; SQLite already has one writer.
        let lock = if self.backend == Backend::Postgres {
            " FOR UPDATE"
        } else {
            ""
        };
        let (paused, pool_limit): (i64, Option<i64>) = sqlx::query_as(sql(format!(
            "SELECT paused, concurrency_limit FROM work_pools WHERE id = $1{lock}"
        )))
        .bind(&pool_id)
        .fetch_one(&mut *tx)
        .await?;
        if paused != 0 {
            tx.rollback().await?;
            return Ok(Changed::unchanged(Vec::new()));
        }
        let mut transitions = crate::scheduling::catch_up_in(
            &mut tx,
            self.backend,
            Some(&pool_id),
            now,
            self.late_after_micros,
        )
        .await?;
        let mut budget = i64::from(max_runs);
        if let Some(limit) = pool_limit {
            let (in_flight,): (i64,) = sqlx::query_as(sql(format!(
                "SELECT COUNT(*) FROM flow_runs WHERE work_pool_id = $1 AND {}",
                StateType::in_flight_sql("state_type")
            )))
            .bind(&pool_id)
            .fetch_one(&mut *tx)
            .await?;
            budget = budget.min(limit - in_flight);
        }
        if worker_limit > 0 {
            let (held,): (i64,) = sqlx::query_as(sql(format!(
                "SELECT COUNT(*) FROM flow_runs WHERE worker_id = $1 AND {}",
                StateType::in_flight_sql("state_type")
            )))
            .bind(worker_id)
            .fetch_one(&mut *tx)
            .await?;
            budget = budget.min(worker_limit - held);
        }
        if budget <= 0 {
            tx.commit().await?;
            return Ok(Changed {
                value: Vec::new(),
                transitions,
            });
        }
        let skip_locked = if self.backend == Backend::Postgres {
            " FOR UPDATE OF r SKIP LOCKED"
        } else {
            ""
        };
        // Runs of deployments at their limit are left out, except with
        // cancel-new, where they are fetched to be cancelled.
        let in_flight_of_d = in_flight_of_deployment();
        let ready: Vec<ReadyRow> = sqlx::query_as(sql(format!(
            "SELECT r.id, r.state_name, r.deployment_id, d.entrypoint, d.base_dir, d.env, d.secrets, \
             d.container, p.container AS pool_container, p.type AS pool_type, d.concurrency_limit, d.collision_strategy, {in_flight_of_d} AS in_flight, \
             CAST(LENGTH(r.parameters) + LENGTH(d.entrypoint) + LENGTH(d.base_dir) AS BIGINT) AS size \
             FROM flow_runs r JOIN deployments d ON d.id = r.deployment_id \
             JOIN work_pools p ON p.id = r.work_pool_id \
             WHERE r.work_pool_id = $1 AND r.state_type = 'SCHEDULED' AND r.expected_start <= $2 AND d.paused = 0 \
             AND (d.concurrency_limit IS NULL OR d.collision_strategy = $4 OR {in_flight_of_d} < d.concurrency_limit) \
             ORDER BY r.expected_start, r.id LIMIT $3{skip_locked}"
        )))
        .bind(&pool_id)
        .bind(now)
        .bind(budget * 2 + 8)
        .bind(CollisionStrategy::CancelNew.as_str())
        .fetch_all(&mut *tx)
        .await?;
        let mut in_flight: HashMap<String, i64> = HashMap::new();
        let mut claimed = Vec::with_capacity(ready.len());
        // The response must fit in one message: stop at a size budget (the
        // first run always goes, its parameters are within their own limit).
        let mut bytes = 0;
        for row in ready {
            if claimed.len() as i64 >= budget {
                break;
            }
            if !claimed.is_empty() && bytes + row.size > MAX_CLAIM_BYTES {
                break;
            }
            let ReadyRow {
                id: run_id,
                state_name,
                deployment_id,
                entrypoint,
                base_dir,
                env,
                secrets,
                container,
                pool_container,
                pool_type,
                concurrency_limit,
                collision_strategy,
                in_flight: counted,
                size: row_size,
            } = row;
            if let Some(limit) = concurrency_limit {
                let running = in_flight.entry(deployment_id).or_insert(counted);
                if *running >= limit {
                    if collision_strategy == CollisionStrategy::CancelNew.as_str() {
                        let reason = format!(
                            "cancelled: deployment concurrency limit {limit} reached \
                             (collision strategy cancel-new)"
                        );
                        let state = NewState::new(StateType::Cancelled, "Cancelled", &reason);
                        let change =
                            scheduled(&run_id, &state_name, &state, Cause::ConcurrencyLimit);
                        transitions.push(change_state(&mut tx, self.backend, change, now).await?);
                    }
                    continue;
                }
                *running += 1;
            }
            bytes += row_size;
            let state = NewState::new(StateType::Pending, "Pending", "claimed by a worker");
            let change = Change {
                worker_id: Some(worker_id),
                ..scheduled(&run_id, &state_name, &state, Cause::Claim)
            };
            let transition = change_state(&mut tx, self.backend, change, now).await?;
            let credential = match credentials {
                true => Some(insert_run_credential(&mut tx, &run_id, now).await?),
                false => None,
            };
            claimed.push(ClaimedRun {
                run: transition.run.clone(),
                entrypoint: from_json("deployments.entrypoint", &entrypoint)?,
                base_dir,
                environment: FlowEnvironment {
                    env: from_json("deployments.env", &env)?,
                    secrets: from_json("deployments.secrets", &secrets)?,
                },
                credential,
                container: crate::container::for_claim(&pool_type, &pool_container, &container)?,
            });
            transitions.push(transition);
        }
        tx.commit().await?;
        Ok(Changed {
            value: claimed,
            transitions,
        })
    }
}

/// Runs of the deployment `d` that hold a slot of its concurrency limit.
fn in_flight_of_deployment() -> String {
    format!(
        "(SELECT COUNT(*) FROM flow_runs x WHERE x.deployment_id = d.id AND {})",
        StateType::in_flight_sql("x.state_type")
    )
}

#[derive(sqlx::FromRow)]
struct ReadyRow {
    id: String,
    state_name: String,
    deployment_id: String,
    entrypoint: String,
    base_dir: String,
    /// The deployment's variables (JSON object).
    env: String,
    /// The deployment's secret names (JSON array).
    secrets: String,
    /// The deployment's container settings (JSON, '' for none).
    container: String,
    /// The pool's default container settings.
    pool_container: String,
    /// The pool's type.
    pool_type: String,
    concurrency_limit: Option<i64>,
    collision_strategy: String,
    in_flight: i64,
    /// Bytes of the run's parameters and its deployment's entrypoint.
    size: i64,
}
