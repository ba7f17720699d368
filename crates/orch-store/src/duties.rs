//! Leases on background duties, so that several servers on one database run
//! each duty (the scheduler, the lease sweep, pruning, ...) once between them.
//!
//! A replica calls [`Replicas::hold_duty`] every few seconds for every duty: it
//! takes a duty nobody holds, renews one it holds, and takes over one whose
//! holder stopped renewing (its lease expired). One statement does it, an
//! `INSERT ... ON CONFLICT DO UPDATE ... WHERE`, so two replicas racing for
//! a free duty cannot both win, on SQLite and PostgreSQL alike, and no
//! session state is involved (it works behind PgBouncer in transaction mode).
//! Times are the store clock's.

use crate::Replicas;
use crate::error::Result;

/// Who holds a duty, as the database says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DutyLease {
    /// The duty (`scheduler`, `sweep`, ...).
    pub duty: String,
    /// The holding replica's id.
    pub holder: String,
    /// The holding replica, for people (host and address).
    pub holder_name: String,
    /// When the holder took it (micros).
    pub acquired_at: i64,
    /// When the holder last renewed it (micros).
    pub renewed_at: i64,
    /// When it lapses unless renewed (micros).
    pub expires_at: i64,
}

type LeaseRow = (String, String, String, i64, i64, i64);

fn lease((duty, holder, holder_name, acquired_at, renewed_at, expires_at): LeaseRow) -> DutyLease {
    DutyLease {
        duty,
        holder,
        holder_name,
        acquired_at,
        renewed_at,
        expires_at,
    }
}

impl Replicas<'_> {
    /// Takes or renews `duty` for replica `holder` (named `holder_name`) for
    /// `ttl_micros` from now, unless another replica holds an unexpired
    /// lease on it. Returns the lease as it stands afterwards: `holder` holds
    /// the duty when the returned lease names it.
    pub async fn hold_duty(
        &self,
        duty: &str,
        holder: &str,
        holder_name: &str,
        ttl_micros: i64,
    ) -> Result<DutyLease> {
        let now = self.now();
        sqlx::query(
            "INSERT INTO duty_leases (duty, holder, holder_name, acquired_at, renewed_at, expires_at)
             VALUES ($1, $2, $3, $4, $4, $5)
             ON CONFLICT (duty) DO UPDATE SET
                 acquired_at = CASE WHEN duty_leases.holder = excluded.holder
                                    THEN duty_leases.acquired_at ELSE excluded.acquired_at END,
                 holder = excluded.holder,
                 holder_name = excluded.holder_name,
                 renewed_at = excluded.renewed_at,
                 expires_at = excluded.expires_at
             WHERE duty_leases.holder = excluded.holder OR duty_leases.expires_at <= excluded.renewed_at",
        )
        .bind(duty)
        .bind(holder)
        .bind(holder_name)
        .bind(now)
        .bind(now.saturating_add(ttl_micros))
        .execute(self.writer.pool())
        .await?;
        let row: LeaseRow = sqlx::query_as(
            "SELECT duty, holder, holder_name, acquired_at, renewed_at, expires_at
             FROM duty_leases WHERE duty = $1",
        )
        .bind(duty)
        .fetch_one(self.writer.pool())
        .await?;
        Ok(lease(row))
    }

    /// Gives up every duty `holder` holds (a replica shutting down), so that
    /// the others take them over at their next renewal instead of waiting for
    /// the leases to lapse. Returns how many it held.
    pub async fn release_duties(&self, holder: &str) -> Result<u64> {
        let done = sqlx::query("DELETE FROM duty_leases WHERE holder = $1")
            .bind(holder)
            .execute(self.writer.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// Every duty's lease, by duty name (lapsed ones included: their
    /// `expires_at` says so).
    pub async fn duty_leases(&self) -> Result<Vec<DutyLease>> {
        let rows: Vec<LeaseRow> = sqlx::query_as(
            "SELECT duty, holder, holder_name, acquired_at, renewed_at, expires_at
             FROM duty_leases ORDER BY duty",
        )
        .fetch_all(self.writer.pool())
        .await?;
        Ok(rows.into_iter().map(lease).collect())
    }
}
