//! Retention: deleting finished runs and their log lines in small batches.
//!
//! Each call does one short write transaction (a few thousand rows at most),
//! so the writer, SQLite's only connection, is never held for long; the
//! server's pruner calls them in a loop, yielding between batches. A batch
//! first selects finished, expired runs and holds them for its transaction
//! (PostgreSQL: `FOR UPDATE`; SQLite: the one writer connection), so a run
//! that is retried meanwhile is never touched; the deletes then go by id,
//! through the primary key and `logs (flow_run_id, id)`.
//!
//! A subflow run never outlives its parent's record: deleting a run deletes
//! its subflow runs (and theirs) in the same transaction, by every path
//! (`orch flow-run delete`, the API, pruning, delete by filter), see
//! [`with_subflow_runs`]. Pruning picks top-level runs (and subflow runs
//! whose parent is gone) by their rule; their subflow runs go with them.
//! On PostgreSQL the log lines are partitioned by day: retention marks runs
//! (or deletes them) and leaves their lines to `crate::log_partitions`,
//! which drops whole partitions.
//!
//! Deleting a run goes through [`delete_run_children`], the one place that
//! knows which tables hang off a run: log lines and tag concurrency slots are
//! deleted there explicitly, the rest (states, task runs, their states and
//! edges) by `ON DELETE CASCADE`. A new table attached to runs either
//! declares `REFERENCES flow_runs (id) ON DELETE CASCADE` or adds its delete
//! there.

use orch_core::StateType;
use orch_core::retention::{DeploymentScope, PruneRule, Retention, cutoff_micros};
use sqlx::any::AnyArguments;
use sqlx::{AnyConnection, Arguments};

use crate::Backend;
use crate::Maintenance;
use crate::error::{Result, StoreError};
use crate::model::FlowRun;
use crate::rows::sql;
use crate::transitions::{flow_run_not_found, load_run_for_update};

/// What a batch deleted, or what a dry run would delete.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Pruned {
    /// Flow runs (with their states and task runs).
    pub runs: u64,
    /// Log lines.
    pub log_lines: u64,
}

impl std::ops::AddAssign for Pruned {
    fn add_assign(&mut self, other: Pruned) {
        self.runs += other.runs;
        self.log_lines += other.log_lines;
    }
}

impl Pruned {
    /// Whether nothing was deleted.
    pub fn is_empty(&self) -> bool {
        self.runs == 0 && self.log_lines == 0
    }
}

/// Most rows one batch touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSize {
    /// Runs considered per batch.
    pub runs: u32,
    /// Log lines deleted per batch.
    pub log_lines: u32,
}

impl Default for BatchSize {
    /// 25 runs or 1,000 log lines: each transaction holds the writer for
    /// milliseconds (see the pruning bench in docs/benchmarks.md).
    fn default() -> Self {
        BatchSize {
            runs: 25,
            log_lines: 1_000,
        }
    }
}

/// Runs deleted by a rule: top-level runs, and subflow runs whose parent is
/// gone (left by a version that deleted runs without their subflow runs);
/// the other subflow runs go with their parent.
const ROOTS: &str = " AND (r.parent_flow_run_id IS NULL OR NOT EXISTS \
     (SELECT 1 FROM flow_runs p WHERE p.id = r.parent_flow_run_id))";

/// The `WHERE` clause selecting the runs of a rule older than a cutoff, and its binds.
struct RunFilter {
    clause: String,
    args: Vec<String>,
    cutoff: i64,
}

impl RunFilter {
    /// Finished runs of `state` in `scope` whose last state change is before `cutoff`.
    fn new(state: StateType, scope: &DeploymentScope, cutoff: i64, extra: &str) -> RunFilter {
        let mut clause = format!("r.state_type = $1 AND r.state_timestamp < $2{extra}");
        let mut args = vec![state.as_str().to_string()];
        match scope {
            DeploymentScope::Only(id) => {
                clause.push_str(" AND r.deployment_id = $3");
                args.push(id.clone());
            }
            DeploymentScope::Excluding(ids) if ids.is_empty() => {}
            DeploymentScope::Excluding(ids) => {
                let placeholders: Vec<String> =
                    (0..ids.len()).map(|i| format!("${}", i + 3)).collect();
                clause.push_str(&format!(
                    " AND (r.deployment_id IS NULL OR r.deployment_id NOT IN ({}))",
                    placeholders.join(", ")
                ));
                args.extend(ids.iter().cloned());
            }
        }
        RunFilter {
            clause,
            args,
            cutoff,
        }
    }

    /// The binds in placeholder order: state, cutoff, deployment ids.
    fn arguments(&self) -> AnyArguments {
        let mut arguments = AnyArguments::default();
        let mut args = self.args.iter();
        let state = args.next().expect("a state").clone();
        let _ = arguments.add(state);
        let _ = arguments.add(self.cutoff);
        for id in args {
            let _ = arguments.add(id.clone());
        }
        arguments
    }
}

/// `'a', 'b'` placeholders for ids, numbered after the filter's own binds.
fn id_list(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Maintenance<'_> {
    /// Deployments that set their own retention, by id.
    pub async fn deployment_retentions(&self) -> Result<Vec<(String, Retention)>> {
        let rows: Vec<(String, Option<i64>, Option<i64>)> = sqlx::query_as(
            "SELECT id, retention_runs_days, retention_logs_days FROM deployments \
             WHERE retention_runs_days IS NOT NULL OR retention_logs_days IS NOT NULL ORDER BY id",
        )
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, runs, logs)| {
                let days =
                    |value: Option<i64>| value.map(|d| d.clamp(0, i64::from(u32::MAX)) as u32);
                (
                    id,
                    Retention {
                        runs_days: days(runs),
                        logs_days: days(logs),
                    },
                )
            })
            .collect())
    }

    /// What pruning `rule` at `now` would delete: its expired runs, and the
    /// log lines of its runs whose logs (or whole run) expired.
    pub async fn count_prunable(&self, rule: &PruneRule, now: i64) -> Result<Pruned> {
        let mut pruned = Pruned::default();
        if let Some(days) = rule.retention.runs_days {
            let filter = RunFilter::new(
                rule.state,
                &rule.deployments,
                cutoff_micros(now, days),
                ROOTS,
            );
            pruned.runs = self.count_with_subflow_runs(&filter).await?;
        }
        let lines_days = rule.retention.logs_days.or(rule.retention.runs_days);
        if let Some(days) = lines_days {
            let filter =
                RunFilter::new(rule.state, &rule.deployments, cutoff_micros(now, days), "");
            pruned.log_lines = self
                .count_matching("logs l JOIN flow_runs r ON r.id = l.flow_run_id", &filter)
                .await?;
        }
        Ok(pruned)
    }

    /// The runs matching `filter` and their subflow runs, all levels down.
    async fn count_with_subflow_runs(&self, filter: &RunFilter) -> Result<u64> {
        let statement = format!(
            "WITH RECURSIVE tree(id) AS (SELECT r.id FROM flow_runs r WHERE {} \
             UNION SELECT f.id FROM flow_runs f JOIN tree t ON f.parent_flow_run_id = t.id) \
             SELECT COUNT(*) FROM tree",
            filter.clause
        );
        let (count,): (i64,) = sqlx::query_as_with(sql(statement), filter.arguments())
            .fetch_one(&self.reader)
            .await?;
        Ok(count.max(0) as u64)
    }

    /// Rows of `from` (which names the runs `r`) whose run matches `filter`.
    async fn count_matching(&self, from: &str, filter: &RunFilter) -> Result<u64> {
        let statement = format!("SELECT COUNT(*) FROM {from} WHERE {}", filter.clause);
        let (count,): (i64,) = sqlx::query_as_with(sql(statement), filter.arguments())
            .fetch_one(&self.reader)
            .await?;
        Ok(count.max(0) as u64)
    }

    /// What [`Maintenance::delete_finished_runs_batch`] would delete: the runs
    /// that ended `state` before `before` (microseconds), and their log lines.
    pub async fn count_finished_runs(&self, state: StateType, before: i64) -> Result<Pruned> {
        let filter = RunFilter::new(
            state,
            &DeploymentScope::Excluding(Vec::new()),
            before,
            ROOTS,
        );
        Ok(Pruned {
            runs: self.count_with_subflow_runs(&filter).await?,
            log_lines: self
                .count_matching("logs l JOIN flow_runs r ON r.id = l.flow_run_id", &filter)
                .await?,
        })
    }

    /// Deletes a batch of the runs (of any deployment) that ended `state`
    /// before `before` (microseconds), as pruning does
    /// ([`Maintenance::prune_runs_batch`]); nothing deleted means none is left.
    pub async fn delete_finished_runs_batch(
        &self,
        state: StateType,
        before: i64,
        batch: BatchSize,
    ) -> Result<Pruned> {
        let filter = RunFilter::new(
            state,
            &DeploymentScope::Excluding(Vec::new()),
            before,
            ROOTS,
        );
        self.delete_runs_batch(&filter, batch).await
    }

    /// Deletes the finished runs `ids`, with everything attached to them,
    /// all or none: a run that does not exist or has not finished (cancel it
    /// first) fails the call and nothing is deleted. Returns the deleted runs
    /// and how many log lines went with them.
    pub async fn delete_flow_runs(&self, ids: &[String]) -> Result<(Vec<FlowRun>, Pruned)> {
        let mut tx = self.writer.begin().await?;
        let mut runs = Vec::with_capacity(ids.len());
        for id in ids {
            let run = load_run_for_update(&mut tx, self.backend, id)
                .await?
                .ok_or_else(|| flow_run_not_found(id))?;
            if !run.state.kind.is_terminal() {
                return Err(StoreError::Conflict(format!(
                    "flow run {} is {}: only a finished run can be deleted; cancel it first (orch flow-run cancel {})",
                    run.name, run.state.name, run.id
                )));
            }
            if !runs.iter().any(|known: &FlowRun| known.id == run.id) {
                runs.push(run);
            }
        }
        let ids: Vec<String> = runs.iter().map(|run| run.id.clone()).collect();
        if ids.is_empty() {
            return Ok((runs, Pruned::default()));
        }
        let ids = with_subflow_runs(&mut tx, self.backend, ids).await?;
        for id in &ids[runs.len()..] {
            let Some(run) = load_run_for_update(&mut tx, self.backend, id).await? else {
                continue;
            };
            if !run.state.kind.is_terminal() {
                let parent = run.parent_flow_run_id.as_deref().unwrap_or_default();
                return Err(StoreError::Conflict(format!(
                    "flow run {parent} has subflow run {} ({}), which is {}: a run is deleted with its \
                     subflow runs, and only finished ones; cancel it first (orch flow-run cancel {})",
                    run.name, run.id, run.state.name, run.id
                )));
            }
            runs.push(run);
        }
        let log_lines = delete_logs(&mut tx, &ids, u32::MAX).await?;
        let deleted = delete_runs(&mut tx, &ids, Lines::Delete).await?;
        tx.commit().await?;
        Ok((
            runs,
            Pruned {
                runs: deleted,
                log_lines,
            },
        ))
    }

    /// Deletes up to `batch.log_lines` log lines of the oldest runs of
    /// `rule` whose logs expired, marking runs that have none left. Returns
    /// what it deleted (`runs` is always 0); nothing deleted and nothing
    /// marked means this rule's logs are done.
    pub async fn prune_logs_batch(
        &self,
        rule: &PruneRule,
        now: i64,
        batch: BatchSize,
    ) -> Result<(Pruned, bool)> {
        let Some(days) = rule.retention.logs_days else {
            return Ok((Pruned::default(), false));
        };
        let filter = RunFilter::new(
            rule.state,
            &rule.deployments,
            cutoff_micros(now, days),
            " AND r.logs_pruned_at IS NULL",
        );
        let mut tx = self.writer.begin().await?;
        let ids = select_runs(&mut tx, self.backend, &filter, batch.runs).await?;
        if ids.is_empty() {
            tx.commit().await?;
            return Ok((Pruned::default(), false));
        }
        // PostgreSQL: the lines stay in their day partitions, which
        // `prune_log_partitions` drops (or cleans) later; marking the runs
        // hides them from readers at once.
        let log_lines = match self.backend {
            Backend::Sqlite => delete_logs(&mut tx, &ids, batch.log_lines).await?,
            Backend::Postgres => {
                crate::log_partitions::queue_cleanup(&mut tx, &ids).await?;
                0
            }
        };
        if log_lines < u64::from(batch.log_lines) {
            // Every line of these runs is gone: do not pick them again.
            let statement = format!(
                "UPDATE flow_runs SET logs_pruned_at = $1 WHERE id IN ({})",
                id_list(2, ids.len())
            );
            let mut update = sqlx::query(sql(statement)).bind(now);
            for id in &ids {
                update = update.bind(id);
            }
            update.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok((Pruned { runs: 0, log_lines }, true))
    }

    /// Deletes up to `batch.runs` of the oldest expired runs of `rule`, with
    /// everything attached to them; when their log lines are more than
    /// `batch.log_lines`, deletes only those lines this time. Returns what it
    /// deleted; nothing means this rule's runs are done.
    pub async fn prune_runs_batch(
        &self,
        rule: &PruneRule,
        now: i64,
        batch: BatchSize,
    ) -> Result<Pruned> {
        let Some(days) = rule.retention.runs_days else {
            return Ok(Pruned::default());
        };
        let filter = RunFilter::new(
            rule.state,
            &rule.deployments,
            cutoff_micros(now, days),
            ROOTS,
        );
        self.delete_runs_batch(&filter, batch).await
    }

    /// Deletes up to `batch.runs` of the oldest runs matching `filter`, with
    /// their subflow runs (or only their log lines, when those are more than
    /// `batch.log_lines`).
    async fn delete_runs_batch(&self, filter: &RunFilter, batch: BatchSize) -> Result<Pruned> {
        let mut tx = self.writer.begin().await?;
        let ids = select_runs(&mut tx, self.backend, filter, batch.runs).await?;
        if ids.is_empty() {
            tx.commit().await?;
            return Ok(Pruned::default());
        }
        let ids = with_subflow_runs(&mut tx, self.backend, ids).await?;
        if self.backend == Backend::Postgres {
            // The lines wait in their day partitions (see prune_logs_batch).
            crate::log_partitions::queue_cleanup(&mut tx, &ids).await?;
            let runs = delete_runs(&mut tx, &ids, Lines::Keep).await?;
            tx.commit().await?;
            return Ok(Pruned { runs, log_lines: 0 });
        }
        let log_lines = delete_logs(&mut tx, &ids, batch.log_lines).await?;
        if log_lines >= u64::from(batch.log_lines) {
            tx.commit().await?;
            return Ok(Pruned { runs: 0, log_lines });
        }
        let runs = delete_runs(&mut tx, &ids, Lines::Delete).await?;
        tx.commit().await?;
        Ok(Pruned { runs, log_lines })
    }
}

/// Stores a deployment's own retention (from its deploy file).
pub(crate) async fn set_deployment_retention(
    tx: &mut AnyConnection,
    deployment_id: &str,
    retention: &Retention,
) -> Result<()> {
    sqlx::query(
        "UPDATE deployments SET retention_runs_days = $1, retention_logs_days = $2 WHERE id = $3",
    )
    .bind(retention.runs_days.map(i64::from))
    .bind(retention.logs_days.map(i64::from))
    .bind(deployment_id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Up to `limit` ids of runs matching `filter`, oldest first.
async fn select_runs(
    tx: &mut AnyConnection,
    backend: Backend,
    filter: &RunFilter,
    limit: u32,
) -> Result<Vec<String>> {
    let lock = match backend {
        Backend::Sqlite => "",
        Backend::Postgres => " FOR UPDATE",
    };
    let statement = format!(
        "SELECT r.id FROM flow_runs r WHERE {} ORDER BY r.state_timestamp LIMIT {limit}{lock}",
        filter.clause
    );
    let rows: Vec<(String,)> = sqlx::query_as_with(sql(statement), filter.arguments())
        .fetch_all(&mut *tx)
        .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// `ids` followed by every subflow run under them (their subflow runs, and
/// so on), each once; on PostgreSQL the added runs are locked (`FOR
/// UPDATE`) for the transaction, as `ids` are by their caller.
async fn with_subflow_runs(
    tx: &mut AnyConnection,
    backend: Backend,
    mut ids: Vec<String>,
) -> Result<Vec<String>> {
    let lock = match backend {
        Backend::Sqlite => "",
        Backend::Postgres => " FOR UPDATE",
    };
    let statement = format!(
        "WITH RECURSIVE tree(id) AS (\
           SELECT id FROM flow_runs WHERE parent_flow_run_id IN ({}) \
           UNION SELECT f.id FROM flow_runs f JOIN tree t ON f.parent_flow_run_id = t.id) \
         SELECT r.id FROM flow_runs r WHERE r.id IN (SELECT id FROM tree) ORDER BY r.created_at, r.id{lock}",
        id_list(1, ids.len())
    );
    let mut arguments = AnyArguments::default();
    for id in &ids {
        let _ = arguments.add(id.clone());
    }
    let below: Vec<(String,)> = sqlx::query_as_with(sql(statement), arguments)
        .fetch_all(&mut *tx)
        .await?;
    for (id,) in below {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// Deletes up to `limit` log lines of the runs `ids` (held by the batch).
async fn delete_logs(tx: &mut AnyConnection, ids: &[String], limit: u32) -> Result<u64> {
    let statement = format!(
        "DELETE FROM logs WHERE id IN (SELECT id FROM logs WHERE flow_run_id IN ({}) LIMIT {limit})",
        id_list(1, ids.len())
    );
    let mut delete = sqlx::query(sql(statement));
    for id in ids {
        delete = delete.bind(id);
    }
    Ok(delete.execute(&mut *tx).await?.rows_affected())
}

/// Whether deleting runs deletes their log lines too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lines {
    Delete,
    /// Left for `prune_log_partitions` (PostgreSQL retention).
    Keep,
}

/// Deletes the runs `ids` (held by the batch) and what hangs off them.
async fn delete_runs(tx: &mut AnyConnection, ids: &[String], lines: Lines) -> Result<u64> {
    delete_run_children(tx, ids, lines).await?;
    let statement = format!(
        "DELETE FROM flow_runs WHERE id IN ({})",
        id_list(1, ids.len())
    );
    let mut delete = sqlx::query(sql(statement));
    for id in ids {
        delete = delete.bind(id);
    }
    Ok(delete.execute(&mut *tx).await?.rows_affected())
}

/// Deletes the rows attached to the runs `ids` that no foreign key cascades
/// from `flow_runs`: their log lines and tag concurrency slots. The one place
/// to add a child table of runs that does not declare `ON DELETE CASCADE`.
async fn delete_run_children(tx: &mut AnyConnection, ids: &[String], lines: Lines) -> Result<()> {
    let tables: &[&str] = match lines {
        Lines::Delete => &["logs", "concurrency_slots"],
        Lines::Keep => &["concurrency_slots"],
    };
    for table in tables {
        let statement = format!(
            "DELETE FROM {table} WHERE flow_run_id IN ({})",
            id_list(1, ids.len())
        );
        let mut delete = sqlx::query(sql(statement));
        for id in ids {
            delete = delete.bind(id);
        }
        delete.execute(&mut *tx).await?;
    }
    Ok(())
}
