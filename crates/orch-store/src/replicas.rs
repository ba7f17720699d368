//! The server replicas alive on one database: each renews its row every few
//! seconds ([`Replicas::renew_replica`]) and removes it when it shuts down, so
//! every replica knows how many share the database, and limits that must hold
//! across replicas give each its share. A replica that dies stops renewing;
//! its row lapses at `expires_at` and the next renewal of another replica
//! deletes it. Times are the store clock's.

use crate::Replicas;
use crate::error::Result;

/// A live replica, as the database says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Replica {
    /// The replica's id (random per server process).
    pub id: String,
    /// The replica, for people (host and process).
    pub name: String,
    /// When it first renewed (micros).
    pub started_at: i64,
    /// When it last renewed (micros).
    pub renewed_at: i64,
    /// When it counts as dead unless renewed (micros).
    pub expires_at: i64,
}

type ReplicaRow = (String, String, i64, i64, i64);

fn replica((id, name, started_at, renewed_at, expires_at): ReplicaRow) -> Replica {
    Replica {
        id,
        name,
        started_at,
        renewed_at,
        expires_at,
    }
}

impl Replicas<'_> {
    /// Renews replica `id` (named `name`) for `ttl_micros` from now, forgets
    /// replicas whose row lapsed, and returns the live ones (this one
    /// included), oldest first.
    pub async fn renew_replica(
        &self,
        id: &str,
        name: &str,
        ttl_micros: i64,
    ) -> Result<Vec<Replica>> {
        let now = self.now();
        sqlx::query(
            "INSERT INTO replicas (id, name, started_at, renewed_at, expires_at)
             VALUES ($1, $2, $3, $3, $4)
             ON CONFLICT (id) DO UPDATE SET
                 name = excluded.name,
                 renewed_at = excluded.renewed_at,
                 expires_at = excluded.expires_at",
        )
        .bind(id)
        .bind(name)
        .bind(now)
        .bind(now.saturating_add(ttl_micros))
        .execute(self.writer.pool())
        .await?;
        sqlx::query("DELETE FROM replicas WHERE expires_at <= $1")
            .bind(now)
            .execute(self.writer.pool())
            .await?;
        self.live_replicas_at(now).await
    }

    /// Forgets replica `id` (a replica shutting down), so that the others
    /// count without it at once.
    pub async fn remove_replica(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM replicas WHERE id = $1")
            .bind(id)
            .execute(self.writer.pool())
            .await?;
        Ok(())
    }

    /// The live replicas, oldest first.
    pub async fn live_replicas(&self) -> Result<Vec<Replica>> {
        self.live_replicas_at(self.now()).await
    }

    async fn live_replicas_at(&self, now: i64) -> Result<Vec<Replica>> {
        let rows: Vec<ReplicaRow> = sqlx::query_as(
            "SELECT id, name, started_at, renewed_at, expires_at
             FROM replicas WHERE expires_at > $1 ORDER BY started_at, id",
        )
        .bind(now)
        .fetch_all(self.writer.pool())
        .await?;
        Ok(rows.into_iter().map(replica).collect())
    }
}
