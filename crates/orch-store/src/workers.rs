//! Workers: registration, heartbeats, and runs whose worker went silent.

use orch_core::StateType;

use crate::Workers;
use crate::error::{Result, StoreError};
use crate::model::Worker;
use crate::new_id;
use crate::rows::{WORKER_SELECT, WorkerRow, sql};
use crate::state_change::{Cause, Change, Changed, Transition, change_state};
use crate::transitions::{NewState, Proposal, Verdict, load_run_for_update, propose_in};

impl Workers<'_> {
    /// Registers a worker of a pool; each start gets a new id.
    pub async fn register_worker(
        &self,
        name: &str,
        pool: &str,
        hostname: &str,
        limit: u32,
        version: &str,
    ) -> Result<Worker> {
        self.register_worker_for(None, name, pool, hostname, limit, version)
            .await
    }

    /// [`Workers::register_worker`], recording the id of the credential that
    /// registers it (see [`Workers::worker_owner`]).
    pub async fn register_worker_for(
        &self,
        owner: Option<&str>,
        name: &str,
        pool: &str,
        hostname: &str,
        limit: u32,
        version: &str,
    ) -> Result<Worker> {
        let pool = self.work_pools().work_pool(pool, 0).await?;
        let id = new_id();
        let now = self.now();
        sqlx::query(
            "INSERT INTO workers (id, name, work_pool_id, hostname, run_limit, version, started_at, \
             last_heartbeat, registered_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)",
        )
        .bind(&id)
        .bind(name)
        .bind(&pool.id)
        .bind(hostname)
        .bind(i64::from(limit))
        .bind(version)
        .bind(now)
        .bind(owner)
        .execute(self.writer.pool())
        .await?;
        self.worker(&id).await
    }

    /// The id of the credential that registered worker `worker_id`, if one
    /// was recorded.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] for an unknown worker.
    pub async fn worker_owner(&self, worker_id: &str) -> Result<Option<String>> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT registered_by FROM workers WHERE id = $1")
                .bind(worker_id)
                .fetch_optional(&self.reader)
                .await?;
        row.map(|(owner,)| owner)
            .ok_or_else(|| StoreError::NotFound {
                kind: "worker",
                name: worker_id.to_string(),
                hint: ": it may have been removed; restart the worker to register again".into(),
            })
    }

    /// Records how often a worker heartbeats (micros), so that it is shown
    /// offline after missing 3.
    pub async fn set_worker_heartbeat_interval(
        &self,
        worker_id: &str,
        interval_micros: i64,
    ) -> Result<Worker> {
        sqlx::query("UPDATE workers SET heartbeat_interval_micros = $1 WHERE id = $2")
            .bind(Some(interval_micros).filter(|i| *i > 0))
            .bind(worker_id)
            .execute(self.writer.pool())
            .await?;
        self.worker(worker_id).await
    }

    /// One worker by id.
    pub async fn worker(&self, worker_id: &str) -> Result<Worker> {
        let row: Option<WorkerRow> =
            sqlx::query_as(sql(format!("{} WHERE w.id = $1", *WORKER_SELECT)))
                .bind(worker_id)
                .fetch_optional(&self.reader)
                .await?;
        row.map(Worker::from).ok_or_else(|| StoreError::NotFound {
            kind: "worker",
            name: worker_id.to_string(),
            hint: ": it may have been removed; restart the worker to register again".into(),
        })
    }

    /// Records a heartbeat; returns the worker's runs that must be cancelled.
    pub async fn heartbeat(&self, worker_id: &str) -> Result<Vec<String>> {
        let updated =
            sqlx::query("UPDATE workers SET last_heartbeat = $1, stopped_at = NULL WHERE id = $2")
                .bind(self.now())
                .bind(worker_id)
                .execute(self.writer.pool())
                .await?;
        if updated.rows_affected() == 0 {
            return Err(self.worker(worker_id).await.expect_err("no such worker"));
        }
        let cancels: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM flow_runs WHERE worker_id = $1 AND state_type = 'CANCELLING'",
        )
        .bind(worker_id)
        .fetch_all(&self.reader)
        .await?;
        Ok(cancels.into_iter().map(|(id,)| id).collect())
    }

    /// Of `running` (the runs worker `worker_id` says it executes), those the
    /// database does not have in flight on that worker: their lease expired
    /// while its heartbeats could not get through (Crashed, retried, maybe
    /// taken by another worker), or they ended. The worker must stop them.
    pub async fn runs_not_held(&self, worker_id: &str, running: &[String]) -> Result<Vec<String>> {
        if running.is_empty() {
            return Ok(Vec::new());
        }
        let held: Vec<(String,)> = sqlx::query_as(sql(format!(
            "SELECT id FROM flow_runs WHERE worker_id = $1 AND {}",
            StateType::in_flight_sql("state_type")
        )))
        .bind(worker_id)
        .fetch_all(&self.reader)
        .await?;
        let held: std::collections::HashSet<String> = held.into_iter().map(|(id,)| id).collect();
        Ok(running
            .iter()
            .filter(|run| !held.contains(*run))
            .cloned()
            .collect())
    }

    /// Reconciles a worker's claims with the runs it says it has: a run
    /// claimed by `worker_id` (Pending) before `claimed_before` that is not
    /// among `running` never reached the worker (its claim response was lost
    /// or could not be decoded) and goes back to Scheduled for any worker.
    /// Returns the transitions made.
    pub async fn release_unheld_claims(
        &self,
        worker_id: &str,
        running: &[String],
        claimed_before: i64,
    ) -> Result<Changed<()>> {
        let pending: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM flow_runs WHERE worker_id = $1 AND state_type = 'PENDING' \
             AND state_timestamp < $2",
        )
        .bind(worker_id)
        .bind(claimed_before)
        .fetch_all(&self.reader)
        .await?;
        let mut released = Vec::new();
        for (run_id,) in pending {
            if running.contains(&run_id) {
                continue;
            }
            let now = self.now();
            let mut tx = self.writer.begin().await?;
            let run = load_run_for_update(&mut tx, self.backend, &run_id).await?;
            let Some(run) = run.filter(|run| {
                run.state.kind == StateType::Pending
                    && run.worker_id.as_deref() == Some(worker_id)
                    && run.state.timestamp < claimed_before
            }) else {
                tx.rollback().await?;
                continue;
            };
            let state = NewState::new(
                StateType::Scheduled,
                "Scheduled",
                "released: the claiming worker never received the run",
            );
            let change = Change::of(&run, &state, Cause::ClaimReleased);
            let transition = change_state(&mut tx, self.backend, change, now).await?;
            tx.commit().await?;
            released.push(transition);
        }
        Ok(released.into())
    }

    /// Marks a worker as stopped (a clean shutdown).
    pub async fn deregister_worker(&self, worker_id: &str) -> Result<()> {
        sqlx::query("UPDATE workers SET stopped_at = $1 WHERE id = $2")
            .bind(self.now())
            .bind(worker_id)
            .execute(self.writer.pool())
            .await?;
        Ok(())
    }

    /// Workers of a pool (or all), most recent first: those online, and those
    /// seen after `seen_since`.
    pub async fn list_workers(&self, pool: Option<&str>, seen_since: i64) -> Result<Vec<Worker>> {
        if let Some(pool) = pool {
            self.work_pools().work_pool(pool, 0).await?;
        }
        let rows: Vec<WorkerRow> = sqlx::query_as(sql(format!(
            "{} WHERE ($1 = '' OR p.name = $1) AND w.last_heartbeat >= $2 \
             ORDER BY w.last_heartbeat DESC",
            *WORKER_SELECT
        )))
        .bind(pool.unwrap_or(""))
        .bind(seen_since)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.into_iter().map(Worker::from).collect())
    }

    /// Number of workers that heartbeated at or after `since` and did not stop.
    pub async fn count_workers_online(&self, since: i64) -> Result<i64> {
        let (count,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM workers WHERE stopped_at IS NULL AND last_heartbeat >= $1",
        )
        .bind(since)
        .fetch_one(&self.reader)
        .await?;
        Ok(count)
    }

    /// Ends runs held by workers that stopped or have not heartbeated since
    /// `lease_cutoff`: Cancelling runs become Cancelled, others Crashed (and so
    /// AwaitingRetry when flow retries are left). Returns the transitions made.
    pub async fn reap_orphaned_runs(&self, lease_cutoff: i64) -> Result<Changed<()>> {
        let orphans: Vec<(String, String, String)> = sqlx::query_as(sql(format!(
            "SELECT r.id, w.name, w.id FROM flow_runs r JOIN workers w ON w.id = r.worker_id \
             WHERE {} AND (w.stopped_at IS NOT NULL OR w.last_heartbeat < $1) LIMIT 500",
            StateType::in_flight_sql("r.state_type")
        )))
        .bind(lease_cutoff)
        .fetch_all(&self.reader)
        .await?;
        let mut reaped = Vec::new();
        for (run_id, worker_name, worker_id) in orphans {
            if let Some(transition) = self.reap(&run_id, &worker_name, &worker_id).await? {
                reaped.push(transition);
            }
        }
        Ok(reaped.into())
    }

    /// Ends one run whose worker's lease expired, if the worker still holds
    /// it in flight.
    async fn reap(
        &self,
        run_id: &str,
        worker_name: &str,
        worker_id: &str,
    ) -> Result<Option<Transition>> {
        let now = self.now();
        let mut tx = self.writer.begin().await?;
        let run = load_run_for_update(&mut tx, self.backend, run_id).await?;
        let Some(run) = run.filter(|run| {
            run.state.kind.is_in_flight() && run.worker_id.as_deref() == Some(worker_id)
        }) else {
            tx.rollback().await?;
            return Ok(None);
        };
        let state = if run.state.kind == StateType::Cancelling {
            NewState::new(
                StateType::Cancelled,
                "Cancelled",
                &format!("worker {worker_name} went away while the run was being cancelled"),
            )
        } else {
            NewState::new(
                StateType::Crashed,
                "Crashed",
                &format!("worker {worker_name} stopped heartbeating: its lease on the run expired"),
            )
        };
        let proposal = Proposal {
            state,
            transition_id: String::new(),
            worker_id: None,
        };
        let Verdict::Accepted(transition) = propose_in(
            &mut tx,
            self.backend,
            &run,
            &proposal,
            Cause::LeaseExpired,
            false,
            now,
        )
        .await?
        else {
            tx.rollback().await?;
            return Ok(None);
        };
        // Remembered so that the worker's late final report, if it was alive
        // after all, is still accepted (see transitions).
        if transition.to != StateType::Cancelled {
            sqlx::query("UPDATE flow_runs SET lease_expired_worker_id = $1 WHERE id = $2")
                .bind(worker_id)
                .bind(run_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Some(*transition))
    }
}
