//! What every request handler shares.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orch_store::Store;
use tokio::sync::{Notify, watch};

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
    /// The same database through connections only background loops use.
    background: Store,
    events: Events,
    config: ServerConfig,
    started_at: chrono::DateTime<chrono::Utc>,
    shutdown: watch::Receiver<bool>,
    scheduler_wake: Notify,
    slots_released: Notify,
    streams: Arc<crate::streams::StreamCounts>,
    /// When the server started or last resumed from a stall (micros).
    resumed_at: std::sync::atomic::AtomicI64,
    /// The key that seals secrets, loaded on first use.
    keyring: crate::secret_box::Keyring,
    /// What the server's modules keep for the server's life (wake-ups,
    /// totals), each under its own type; the state knows none of them.
    parts: Parts,
    /// This replica's identity and the background duties it holds.
    duties: crate::duties::Duties,
    /// This server's Prometheus registry.
    metrics: crate::metrics::Metrics,
    /// API keys and sessions checked lately.
    token_cache: Arc<crate::auth::cache::TokenCache>,
}

/// "host (pid N)": how logs and `orch server status` name this replica.
fn replica_name() -> String {
    let host = hostname::get()
        .ok()
        .and_then(|name| name.into_string().ok())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    format!("{host} (pid {})", std::process::id())
}

impl AppState {
    /// Bundles the parts. The store's clock is the server's clock: inject a
    /// test clock with [`Store::with_clock`] before calling this. The store
    /// is told the server's late threshold.
    pub fn new(store: Store, config: ServerConfig, shutdown: watch::Receiver<bool>) -> AppState {
        let store = store.with_late_after(config.late_after);
        let started_at = store.clock().now();
        // A start counts as a resume: while no server ran, workers could not
        // heartbeat, so no lease expires until they had a lease to reach
        // this one (see `within_stall_grace`).
        let resumed_at = store.now();
        // Other servers may share a PostgreSQL database.
        let shared = store.backend() == orch_store::Backend::Postgres;
        AppState {
            inner: Arc::new(Inner {
                background: store.for_background(),
                store,
                events: Events::default(),
                started_at,
                shutdown,
                scheduler_wake: Notify::new(),
                slots_released: Notify::new(),
                streams: Arc::default(),
                resumed_at: std::sync::atomic::AtomicI64::new(resumed_at),
                keyring: crate::secret_box::Keyring::new(config.secret_key.clone()),
                parts: Parts::default(),
                duties: crate::duties::Duties::new(replica_name()),
                metrics: crate::metrics::Metrics::new(),
                token_cache: Arc::new(crate::auth::cache::TokenCache::new(
                    config.token_cache,
                    shared,
                )),
                config,
            }),
        }
    }

    /// This server's metrics.
    pub(crate) fn metrics(&self) -> &crate::metrics::Metrics {
        &self.inner.metrics
    }

    /// API keys and sessions checked lately; a revocation must empty it
    /// ([`crate::auth::cache::TokenCache::revoked`]).
    pub fn token_cache(&self) -> &Arc<crate::auth::cache::TokenCache> {
        &self.inner.token_cache
    }

    /// This replica's identity and the background duties it holds.
    pub fn duties(&self) -> &crate::duties::Duties {
        &self.inner.duties
    }

    /// The database.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The database for background loops and worker heartbeats: its
    /// connections are reserved, so client traffic cannot starve them.
    pub fn background_store(&self) -> &Store {
        &self.inner.background
    }

    /// Takes a place for one more long-lived stream of the client at
    /// `client`, within this replica's share of
    /// [`crate::ServerConfig::max_streams_per_client`].
    pub(crate) fn open_stream(
        &self,
        client: Option<std::net::SocketAddr>,
    ) -> Result<Option<crate::streams::StreamPermit>, String> {
        crate::streams::open(
            &self.inner.streams,
            client,
            self.inner.config.max_streams_per_client,
            self.inner.duties.live_replicas().get(),
        )
    }

    /// Records that the server was stalled (stopped, starved, suspended)
    /// until now: heartbeats sent meanwhile may not have been read yet.
    pub fn note_stall(&self) {
        self.inner
            .resumed_at
            .store(self.now(), std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether the server started, or resumed from a stall, less than a worker lease ago.
    /// Until a lease has passed since, no lease counts as expired: a worker
    /// is judged by the heartbeats the server could read after it resumed.
    pub fn within_stall_grace(&self) -> bool {
        let resumed = self
            .inner
            .resumed_at
            .load(std::sync::atomic::Ordering::Relaxed);
        resumed != 0 && resumed > self.micros_ago(self.inner.config.worker_lease)
    }

    /// The key that seals secrets.
    pub(crate) fn keyring(&self) -> &crate::secret_box::Keyring {
        &self.inner.keyring
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

    /// Now, by the server's clock, in microseconds since the epoch.
    pub fn now(&self) -> i64 {
        self.inner.store.now()
    }

    /// Resolves when the server begins shutting down; long streams end then.
    pub async fn shutting_down(&self) {
        let mut shutdown = self.inner.shutdown.clone();
        let _ = shutdown.wait_for(|stopping| *stopping).await;
    }

    /// Whether the server has begun shutting down.
    pub fn is_shutting_down(&self) -> bool {
        *self.inner.shutdown.borrow()
    }

    /// Heartbeats at or after this time (micros) mean a worker is online.
    pub fn online_since(&self) -> i64 {
        self.micros_ago(self.inner.config.worker_lease)
    }

    /// Now minus `ago`, in microseconds since the epoch.
    pub fn micros_ago(&self, ago: Duration) -> i64 {
        self.now() - ago.as_micros() as i64
    }

    /// Wakes the scheduler: a deployment or schedule changed.
    pub fn wake_scheduler(&self) {
        self.inner.scheduler_wake.notify_one();
    }

    /// Resolves at the next [`AppState::wake_scheduler`] (or at once if one
    /// came since the last wait).
    pub async fn scheduler_woken(&self) {
        self.inner.scheduler_wake.notified().await;
    }

    /// This server's one `T`, made (by `T::default()`) on first use: a
    /// module keeps what lives as long as the server (the automation
    /// engine's wake-ups, the maintenance totals) in a type of its own, and
    /// the state needs to know neither the type nor the module.
    pub fn part<T: Any + Default + Send + Sync>(&self) -> Arc<T> {
        self.inner.parts.get()
    }

    /// Tells holders waiting for tag concurrency slots to try again.
    pub fn slots_released(&self) {
        self.inner.slots_released.notify_waiters();
    }

    /// The notifier of [`AppState::slots_released`].
    pub(crate) fn slots_released_notify(&self) -> &Notify {
        &self.inner.slots_released
    }
}

/// The parts of [`AppState::part`], one per type.
#[derive(Default)]
struct Parts(Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>);

impl Parts {
    fn get<T: Any + Default + Send + Sync>(&self) -> Arc<T> {
        let mut parts = self.0.lock().expect("parts lock");
        let part = parts
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Arc::new(T::default()))
            .clone();
        part.downcast::<T>()
            .expect("a part is stored under its own type")
    }
}

impl std::fmt::Debug for Parts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = self.0.lock().map(|parts| parts.len()).unwrap_or_default();
        f.debug_struct("Parts").field("count", &count).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Counter(std::sync::atomic::AtomicU64);

    #[derive(Default)]
    struct Other(u8);

    #[test]
    fn a_part_is_made_once_per_type_and_shared() {
        let parts = Parts::default();
        let first = parts.get::<Counter>();
        first.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let again = parts.get::<Counter>();
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(again.0.load(std::sync::atomic::Ordering::Relaxed), 1);
        assert_eq!(parts.get::<Other>().0, 0);
        assert_eq!(parts.0.lock().unwrap().len(), 2);
    }
}
