//! Cross-replica notifications on PostgreSQL: `NOTIFY` to send, `LISTEN` to
//! receive. Several servers sharing one database use them to wake each
//! other's workers and watchers; SQLite has one server, so nothing to relay.

use sqlx::postgres::PgListener;

use crate::error::{Result, StoreError};
use crate::{Backend, Store};

/// Receives the notifications of one channel.
#[derive(Debug)]
pub struct Listener {
    inner: PgListener,
}

impl Listener {
    /// The next payload. `None` means the connection was lost and has been
    /// re-established: anything sent meanwhile was missed, so re-check.
    pub async fn recv(&mut self) -> Result<Option<String>> {
        Ok(self
            .inner
            .try_recv()
            .await?
            .map(|notification| notification.payload().to_string()))
    }
}

impl Store {
    /// Sends each payload on `channel` to every listener (PostgreSQL only).
    pub async fn notify(&self, channel: &str, payloads: &[String]) -> Result<()> {
        self.require_postgres("NOTIFY")?;
        for payload in payloads {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(channel)
                .bind(payload)
                .execute(self.writer.pool())
                .await?;
        }
        Ok(())
    }

    /// Listens on `channel` over a connection of its own (PostgreSQL only).
    pub async fn listen(&self, channel: &str) -> Result<Listener> {
        self.require_postgres("LISTEN")?;
        let mut inner = PgListener::connect(&self.listen_url).await?;
        inner.listen(channel).await?;
        Ok(Listener { inner })
    }

    fn require_postgres(&self, what: &str) -> Result<()> {
        match self.backend {
            Backend::Postgres => Ok(()),
            Backend::Sqlite => Err(StoreError::InvalidInput(format!(
                "{what} needs PostgreSQL; a SQLite database has a single server and nothing to relay"
            ))),
        }
    }
}
