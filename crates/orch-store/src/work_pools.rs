//! Work pools.

use crate::WorkPools;
use crate::error::{Result, StoreError};
use crate::model::WorkPool;
use crate::new_id;
use crate::rows::sql;

/// Pool types a worker of this version can run.
pub const POOL_TYPES: &[&str] = &["process", "docker"];

#[derive(sqlx::FromRow)]
struct WorkPoolRow {
    id: String,
    name: String,
    #[sqlx(rename = "type")]
    pool_type: String,
    description: String,
    paused: i64,
    concurrency_limit: Option<i64>,
    created_at: i64,
    updated_at: i64,
    runs_in_flight: i64,
    runs_waiting: i64,
    workers_online: i64,
    container: String,
}

impl From<WorkPoolRow> for WorkPool {
    fn from(row: WorkPoolRow) -> WorkPool {
        WorkPool {
            // Written only from checked settings; unreadable ones read as none.
            container: crate::container::from_column("work_pools.container", &row.container)
                .unwrap_or_default(),
            id: row.id,
            name: row.name,
            pool_type: row.pool_type,
            description: row.description,
            paused: row.paused != 0,
            concurrency_limit: row.concurrency_limit,
            created_at: row.created_at,
            updated_at: row.updated_at,
            runs_in_flight: row.runs_in_flight,
            runs_waiting: row.runs_waiting,
            workers_online: row.workers_online,
        }
    }
}

/// `$1` is the heartbeat time after which a worker counts as online.
static SELECT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT p.id, p.name, p.type, p.description, p.paused, p.concurrency_limit, \
     p.created_at, p.updated_at, p.container, \
     (SELECT COUNT(*) FROM flow_runs r WHERE r.work_pool_id = p.id AND {}) AS runs_in_flight, \
     (SELECT COUNT(*) FROM flow_runs r WHERE r.work_pool_id = p.id \
        AND r.state_type = 'SCHEDULED') AS runs_waiting, \
     (SELECT COUNT(*) FROM workers w WHERE w.work_pool_id = p.id AND w.stopped_at IS NULL \
        AND w.last_heartbeat >= $1) AS workers_online \
     FROM work_pools p ",
        orch_core::StateType::in_flight_sql("r.state_type")
    )
});

/// A change to a pool's settings.
#[derive(Debug, Clone, Default)]
pub struct WorkPoolUpdate {
    /// Pause or resume.
    pub paused: Option<bool>,
    /// `Some(None)` clears the limit.
    pub concurrency_limit: Option<Option<i64>>,
}

impl WorkPools<'_> {
    /// Creates a pool.
    pub async fn create_work_pool(
        &self,
        name: &str,
        pool_type: &str,
        description: &str,
        concurrency_limit: Option<i64>,
    ) -> Result<WorkPool> {
        let none = orch_core::ContainerSettings::default();
        self.create_work_pool_with(name, pool_type, description, concurrency_limit, &none)
            .await
    }

    /// Creates a pool with default container settings (a `docker` pool's).
    pub async fn create_work_pool_with(
        &self,
        name: &str,
        pool_type: &str,
        description: &str,
        concurrency_limit: Option<i64>,
        container: &orch_core::ContainerSettings,
    ) -> Result<WorkPool> {
        if !POOL_TYPES.contains(&pool_type) {
            return Err(StoreError::InvalidInput(format!(
                "unknown work pool type \"{pool_type}\": supported types are {}",
                POOL_TYPES.join(", ")
            )));
        }
        validate_limit(concurrency_limit)?;
        container
            .validate()
            .map_err(|error| StoreError::InvalidInput(format!("work pool \"{name}\": {error}")))?;
        if pool_type != "docker" && !container.is_empty() {
            return Err(StoreError::InvalidInput(format!(
                "work pool \"{name}\" is of type {pool_type}: only a docker pool has container \
                 settings (image, memory, ...); create it with --type docker"
            )));
        }
        orch_core::NameKind::WorkPool
            .check(name)
            .map_err(|e| StoreError::InvalidInput(e.to_string()))?;
        let now = self.now();
        let inserted = sqlx::query(
            "INSERT INTO work_pools (id, name, type, description, paused, concurrency_limit, created_at, updated_at, container) \
             VALUES ($1, $2, $3, $4, 0, $5, $6, $6, $7) ON CONFLICT (name) DO NOTHING",
        )
        .bind(new_id())
        .bind(name)
        .bind(pool_type)
        .bind(description)
        .bind(concurrency_limit)
        .bind(now)
        .bind(container.to_json())
        .execute(self.writer.pool())
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::AlreadyExists {
                kind: "work pool",
                name: name.to_string(),
                hint: format!(": inspect it with 'orch work-pool inspect {name}'"),
            });
        }
        self.work_pool(name, 0).await
    }

    /// All pools, by name. Workers that heartbeated at or after `online_since` count as online.
    pub async fn list_work_pools(&self, online_since: i64) -> Result<Vec<WorkPool>> {
        let rows: Vec<WorkPoolRow> = sqlx::query_as(sql(format!("{} ORDER BY p.name", *SELECT)))
            .bind(online_since)
            .fetch_all(&self.reader)
            .await?;
        Ok(rows.into_iter().map(WorkPool::from).collect())
    }

    /// One pool by name.
    pub async fn work_pool(&self, name: &str, online_since: i64) -> Result<WorkPool> {
        let row: Option<WorkPoolRow> =
            sqlx::query_as(sql(format!("{} WHERE p.name = $2", *SELECT)))
                .bind(online_since)
                .bind(name)
                .fetch_optional(&self.reader)
                .await?;
        match row {
            Some(row) => Ok(row.into()),
            None => Err(self.work_pool_not_found(name).await),
        }
    }

    pub(crate) async fn work_pool_not_found(&self, name: &str) -> StoreError {
        let names: Vec<(String,)> = sqlx::query_as("SELECT name FROM work_pools")
            .fetch_all(&self.reader)
            .await
            .unwrap_or_default();
        let mut error =
            StoreError::not_found("work pool", name, names.iter().map(|(n,)| n.as_str()));
        if let StoreError::NotFound { hint, .. } = &mut error
            && hint.is_empty()
        {
            *hint = format!(": create it with 'orch work-pool create {name} --type process'");
        }
        error
    }

    /// Pauses/resumes a pool or changes its concurrency limit.
    pub async fn update_work_pool(&self, name: &str, update: WorkPoolUpdate) -> Result<WorkPool> {
        if let Some(limit) = update.concurrency_limit {
            validate_limit(limit)?;
        }
        let now = self.now();
        let changed = sqlx::query(
            "UPDATE work_pools SET \
               paused = CASE WHEN $1 < 0 THEN paused ELSE $1 END, \
               concurrency_limit = CASE WHEN $2 = 0 THEN concurrency_limit ELSE $3 END, \
               updated_at = $4 \
             WHERE name = $5",
        )
        .bind(update.paused.map_or(-1_i64, i64::from))
        .bind(i64::from(update.concurrency_limit.is_some()))
        .bind(update.concurrency_limit.flatten())
        .bind(now)
        .bind(name)
        .execute(self.writer.pool())
        .await?;
        if changed.rows_affected() == 0 {
            return Err(self.work_pool_not_found(name).await);
        }
        self.work_pool(name, 0).await
    }

    /// Deletes a pool that no deployment uses.
    pub async fn delete_work_pool(&self, name: &str) -> Result<()> {
        let pool = self.work_pool(name, 0).await?;
        let users: Vec<(String,)> = sqlx::query_as(
            "SELECT f.name || '/' || d.name FROM deployments d JOIN flows f ON f.id = d.flow_id \
             WHERE d.work_pool_id = $1 ORDER BY 1",
        )
        .bind(&pool.id)
        .fetch_all(self.writer.pool())
        .await?;
        if !users.is_empty() {
            let names: Vec<&str> = users.iter().map(|(n,)| n.as_str()).collect();
            return Err(StoreError::Conflict(format!(
                "work pool \"{name}\" is used by {} deployment(s): {}. Delete them first with 'orch deployment delete FLOW/NAME'",
                names.len(),
                names.join(", ")
            )));
        }
        sqlx::query("DELETE FROM work_pools WHERE id = $1")
            .bind(&pool.id)
            .execute(self.writer.pool())
            .await?;
        Ok(())
    }
}

fn validate_limit(limit: Option<i64>) -> Result<()> {
    match limit {
        Some(n) if n < 0 => Err(StoreError::InvalidInput(format!(
            "concurrency limit must be 0 or more, got {n} (use clear-concurrency-limit to remove it)"
        ))),
        _ => Ok(()),
    }
}
