//! The runs this worker has in flight, shared by the claim loop (capacity),
//! the heartbeat (ids, cancels), the event stream (cancels) and shutdown.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::watch;

use crate::outcome::StopReason;

/// A run's stop signal: `None` until the worker decides to stop it.
pub(crate) type StopSignal = watch::Receiver<Option<StopReason>>;

/// The in-flight runs, by id. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub(crate) struct Registry {
    runs: Arc<Mutex<HashMap<String, Entry>>>,
}

/// One run in flight.
#[derive(Debug)]
struct Entry {
    stop: watch::Sender<Option<StopReason>>,
    /// Adopted from a previous worker: the server holds it on that worker's
    /// id, and this worker heartbeats for it separately (`crate::adopt`).
    adopted: bool,
}

impl Registry {
    /// Adds a run; it stays until the returned slot is dropped. `None` if
    /// the run is already in flight here.
    pub(crate) fn insert(&self, flow_run_id: &str) -> Option<(RunSlot, StopSignal)> {
        self.insert_as(flow_run_id, false)
    }

    /// [`Registry::insert`] for a run adopted from a previous worker.
    pub(crate) fn insert_adopted(&self, flow_run_id: &str) -> Option<(RunSlot, StopSignal)> {
        self.insert_as(flow_run_id, true)
    }

    fn insert_as(&self, flow_run_id: &str, adopted: bool) -> Option<(RunSlot, StopSignal)> {
        let mut runs = self.lock();
        if runs.contains_key(flow_run_id) {
            return None;
        }
        let (stop, signal) = watch::channel(None);
        runs.insert(flow_run_id.to_owned(), Entry { stop, adopted });
        let slot = RunSlot {
            registry: self.clone(),
            flow_run_id: flow_run_id.to_owned(),
        };
        Some((slot, signal))
    }

    /// How many runs are in flight.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// The ids of the runs in flight.
    pub(crate) fn ids(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// The ids of the runs in flight that the server holds on this worker
    /// (all but adopted ones): what its heartbeats report.
    pub(crate) fn own_ids(&self) -> Vec<String> {
        self.lock()
            .iter()
            .filter(|(_, entry)| !entry.adopted)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Asks a run to stop. True only the first time a known run is asked:
    /// unknown ids and repeated requests do nothing.
    pub(crate) fn stop(&self, flow_run_id: &str, reason: StopReason) -> bool {
        self.lock()
            .get(flow_run_id)
            .is_some_and(|entry| request_stop(&entry.stop, reason))
    }

    /// Asks every run in flight to stop; returns how many were newly asked.
    pub(crate) fn stop_all(&self, reason: StopReason) -> usize {
        self.lock()
            .values()
            .filter(|entry| request_stop(&entry.stop, reason))
            .count()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        // The map stays consistent even if a holder panicked: every
        // operation on it is a single insert, remove or read.
        self.runs.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Records the first stop reason of a run; later ones are ignored.
fn request_stop(stop: &watch::Sender<Option<StopReason>>, reason: StopReason) -> bool {
    stop.send_if_modified(|current| {
        if current.is_some() {
            return false;
        }
        *current = Some(reason);
        true
    })
}

/// Waits until the worker asks the run to stop, and says why.
pub(crate) async fn stop_requested(signal: &mut StopSignal) -> StopReason {
    let reason = signal
        .wait_for(Option::is_some)
        .await
        .ok()
        .and_then(|reason| *reason);
    match reason {
        Some(reason) => reason,
        // The registry entry is gone, so nobody can ask any more.
        None => std::future::pending().await,
    }
}

/// A run's place in the [`Registry`], freed when dropped (even on panic).
#[derive(Debug)]
pub(crate) struct RunSlot {
    registry: Registry,
    flow_run_id: String,
}

impl RunSlot {
    /// The run's id.
    pub(crate) fn flow_run_id(&self) -> &str {
        &self.flow_run_id
    }
}

impl Drop for RunSlot {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.flow_run_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_free_capacity_when_dropped() {
        let registry = Registry::default();
        let (slot, _signal) = registry.insert("a").unwrap();
        assert!(registry.insert("a").is_none(), "a run is in flight once");
        assert_eq!(registry.ids(), ["a"]);
        let (_adopted, _signal) = registry.insert_adopted("b").unwrap();
        assert_eq!(
            registry.own_ids(),
            ["a"],
            "adopted runs are heartbeated apart"
        );
        assert_eq!(registry.len(), 2);
        drop(slot);
        assert_eq!(registry.len(), 1);
    }

    #[tokio::test]
    async fn stop_is_idempotent_and_ignores_unknown_runs() {
        let registry = Registry::default();
        let (_slot, mut signal) = registry.insert("a").unwrap();
        assert!(!registry.stop("unknown", StopReason::Cancelled));
        assert!(registry.stop("a", StopReason::Cancelled));
        assert!(!registry.stop("a", StopReason::Cancelled));
        assert_eq!(registry.stop_all(StopReason::Shutdown), 0);
        assert_eq!(stop_requested(&mut signal).await, StopReason::Cancelled);
    }
}
