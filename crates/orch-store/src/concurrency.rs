//! Tag concurrency limits: at most N holders (task runs) with a tag hold a
//! slot at once. A slot is leased: its holder renews it by acquiring again,
//! and it is released when the holder lets it go, when the lease expires, or
//! when the holder's flow run is no longer in flight (it finished, crashed
//! or is waiting to be retried).

use crate::Concurrency;
use crate::error::{Result, StoreError};
use crate::rows::sql;
use crate::{Backend, new_id};

/// A tag's limit and who holds its slots.
#[derive(Debug, Clone, PartialEq)]
pub struct ConcurrencyLimit {
    /// Id.
    pub id: String,
    /// The tag it limits.
    pub tag: String,
    /// Most slots held at once.
    pub limit: i64,
    /// Creation time.
    pub created_at: i64,
    /// Last change of the limit.
    pub updated_at: i64,
    /// Current holders, oldest first.
    pub holders: Vec<SlotHolder>,
}

/// One held slot.
#[derive(Debug, Clone, PartialEq)]
pub struct SlotHolder {
    /// Who holds it (a task run id).
    pub holder_id: String,
    /// The holder's flow run, if it said.
    pub flow_run_id: Option<String>,
    /// When it was first granted.
    pub acquired_at: i64,
    /// When it lapses unless renewed.
    pub lease_expires: i64,
}

/// The answer to an acquire.
#[derive(Debug, Clone, PartialEq)]
pub struct AcquireOutcome {
    /// Whether the holder now holds a slot of every limited tag.
    pub granted: bool,
    /// When not granted: the full tags, as (tag, limit).
    pub full: Vec<(String, i64)>,
}

#[derive(sqlx::FromRow)]
struct LimitRow {
    id: String,
    tag: String,
    slot_limit: i64,
    created_at: i64,
    updated_at: i64,
}

#[derive(sqlx::FromRow)]
struct SlotRow {
    limit_id: String,
    holder_id: String,
    flow_run_id: Option<String>,
    acquired_at: i64,
    lease_expires: i64,
}

fn limit_not_found(tag: &str, tags: &[String]) -> StoreError {
    let mut error =
        StoreError::not_found("concurrency limit", tag, tags.iter().map(String::as_str));
    if let StoreError::NotFound { hint, .. } = &mut error
        && hint.is_empty()
    {
        *hint = format!(": create it with 'orch concurrency-limit create {tag} N'");
    }
    error
}

impl Concurrency<'_> {
    /// Sets the limit of `tag` (creating it); returns it and whether it is new.
    pub async fn set_concurrency_limit(
        &self,
        tag: &str,
        limit: i64,
    ) -> Result<(ConcurrencyLimit, bool)> {
        if tag.trim().is_empty() {
            return Err(StoreError::InvalidInput(
                "a concurrency limit needs a tag, e.g. 'orch concurrency-limit create database 2'"
                    .into(),
            ));
        }
        if limit < 0 {
            return Err(StoreError::InvalidInput(format!(
                "a concurrency limit must be 0 or more, not {limit}"
            )));
        }
        let now = self.now();
        let updated = sqlx::query(
            "UPDATE concurrency_limits SET slot_limit = $1, updated_at = $2 WHERE tag = $3",
        )
        .bind(limit)
        .bind(now)
        .bind(tag)
        .execute(self.writer.pool())
        .await?;
        let created = updated.rows_affected() == 0;
        if created {
            sqlx::query(
                "INSERT INTO concurrency_limits (id, tag, slot_limit, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $4) ON CONFLICT (tag) DO UPDATE SET slot_limit = $3",
            )
            .bind(new_id())
            .bind(tag)
            .bind(limit)
            .bind(now)
            .execute(self.writer.pool())
            .await?;
        }
        Ok((self.concurrency_limit(tag).await?, created))
    }

    /// Every tag limit with its holders, by tag.
    pub async fn list_concurrency_limits(&self) -> Result<Vec<ConcurrencyLimit>> {
        let limits: Vec<LimitRow> = sqlx::query_as(
            "SELECT id, tag, slot_limit, created_at, updated_at FROM concurrency_limits ORDER BY tag",
        )
        .fetch_all(self.writer.pool())
        .await?;
        let slots: Vec<SlotRow> = sqlx::query_as(
            "SELECT limit_id, holder_id, flow_run_id, acquired_at, lease_expires \
             FROM concurrency_slots ORDER BY acquired_at, holder_id",
        )
        .fetch_all(self.writer.pool())
        .await?;
        Ok(limits
            .into_iter()
            .map(|row| ConcurrencyLimit {
                holders: slots
                    .iter()
                    .filter(|slot| slot.limit_id == row.id)
                    .map(|slot| SlotHolder {
                        holder_id: slot.holder_id.clone(),
                        flow_run_id: slot.flow_run_id.clone(),
                        acquired_at: slot.acquired_at,
                        lease_expires: slot.lease_expires,
                    })
                    .collect(),
                id: row.id,
                tag: row.tag,
                limit: row.slot_limit,
                created_at: row.created_at,
                updated_at: row.updated_at,
            })
            .collect())
    }

    /// One tag's limit.
    pub async fn concurrency_limit(&self, tag: &str) -> Result<ConcurrencyLimit> {
        let limits = self.list_concurrency_limits().await?;
        let tags: Vec<String> = limits.iter().map(|l| l.tag.clone()).collect();
        limits
            .into_iter()
            .find(|l| l.tag == tag)
            .ok_or_else(|| limit_not_found(tag, &tags))
    }

    /// Deletes a tag's limit; its holders keep running, nobody waits on it any more.
    pub async fn delete_concurrency_limit(&self, tag: &str) -> Result<ConcurrencyLimit> {
        let limit = self.concurrency_limit(tag).await?;
        sqlx::query("DELETE FROM concurrency_limits WHERE id = $1")
            .bind(&limit.id)
            .execute(self.writer.pool())
            .await?;
        Ok(limit)
    }

    /// Grants `holder_id` a slot of every limited tag among `tags`, all or
    /// none, leased for `lease_micros`. A holder that already holds them
    /// has its lease renewed. Tags without a limit need no slot.
    pub async fn acquire_concurrency_slots(
        &self,
        tags: &[String],
        holder_id: &str,
        flow_run_id: Option<&str>,
        lease_micros: i64,
    ) -> Result<AcquireOutcome> {
        if holder_id.is_empty() {
            return Err(StoreError::InvalidInput(
                "acquiring concurrency slots needs a holder id (the task run's id)".into(),
            ));
        }
        let now = self.now();
        let mut tx = self.writer.begin().await?;
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        };
        let mut limits: Vec<(String, String, i64)> = Vec::new();
        for tag in tags {
            let row: Option<(String, String, i64)> = sqlx::query_as(sql(format!(
                "SELECT id, tag, slot_limit FROM concurrency_limits WHERE tag = $1{lock}"
            )))
            .bind(tag)
            .fetch_optional(&mut *tx)
            .await?;
            limits.extend(row);
        }
        let mut full = Vec::new();
        for (id, tag, limit) in &limits {
            let (others,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM concurrency_slots WHERE limit_id = $1 AND holder_id <> $2 \
                 AND lease_expires > $3",
            )
            .bind(id)
            .bind(holder_id)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            if others >= *limit {
                full.push((tag.clone(), *limit));
            }
        }
        if !full.is_empty() {
            tx.rollback().await?;
            return Ok(AcquireOutcome {
                granted: false,
                full,
            });
        }
        for (id, _, _) in &limits {
            sqlx::query(
                "INSERT INTO concurrency_slots (limit_id, holder_id, flow_run_id, acquired_at, lease_expires) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (limit_id, holder_id) DO UPDATE SET lease_expires = $5",
            )
            .bind(id)
            .bind(holder_id)
            .bind(flow_run_id)
            .bind(now)
            .bind(now + lease_micros)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(AcquireOutcome {
            granted: true,
            full,
        })
    }

    /// Releases every slot `holder_id` holds; returns how many.
    pub async fn release_concurrency_slots(&self, holder_id: &str) -> Result<u64> {
        let released = sqlx::query("DELETE FROM concurrency_slots WHERE holder_id = $1")
            .bind(holder_id)
            .execute(self.writer.pool())
            .await?;
        Ok(released.rows_affected())
    }

    /// Releases slots whose lease expired or whose flow run is no longer in
    /// flight (finished, crashed, waiting to be retried); returns how many.
    pub async fn release_stale_concurrency_slots(&self) -> Result<u64> {
        let released = sqlx::query(crate::rows::sql(format!(
            "DELETE FROM concurrency_slots WHERE lease_expires <= $1 OR (flow_run_id IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM flow_runs r WHERE r.id = concurrency_slots.flow_run_id \
             AND {}))",
            orch_core::StateType::in_flight_sql("r.state_type")
        )))
        .bind(self.now())
        .execute(self.writer.pool())
        .await?;
        Ok(released.rows_affected())
    }
}
