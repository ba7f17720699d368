//! What every request handler shares.

use std::sync::Arc;
use std::time::Duration;

use orch_store::Store;
use tokio::sync::watch;

use crate::ServerConfig;
use crate::events::Events;

/// Shared server state; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    events: Events,
    config: ServerConfig,
    started_at: chrono::DateTime<chrono::Utc>,
    shutdown: watch::Receiver<bool>,
}

impl AppState {
    /// Bundles the parts.
    pub fn new(store: Store, config: ServerConfig, shutdown: watch::Receiver<bool>) -> AppState {
        AppState {
            inner: Arc::new(Inner {
                store,
                events: Events::default(),
                config,
                started_at: chrono::Utc::now(),
                shutdown,
            }),
        }
    }

    /// The database.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The notification hub.
    pub fn events(&self) -> &Events {
        &self.inner.events
    }

    /// Settings.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// When the server started.
    pub fn started_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.inner.started_at
    }

    /// Resolves when the server begins shutting down; long streams end then.
    pub async fn shutting_down(&self) {
        let mut shutdown = self.inner.shutdown.clone();
        let _ = shutdown.wait_for(|stopping| *stopping).await;
    }

    /// Heartbeats at or after this time (micros) mean a worker is online.
    pub fn online_since(&self) -> i64 {
        micros_ago(self.inner.config.worker_lease)
    }
}

/// Now minus `ago`, in microseconds since the epoch.
pub(crate) fn micros_ago(ago: Duration) -> i64 {
    orch_store::now_micros() - ago.as_micros() as i64
}
