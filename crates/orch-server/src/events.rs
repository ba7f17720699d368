//! In-process notifications that wake workers and watchers without polling.

use tokio::sync::broadcast;

/// Something that happened, for whoever is waiting on it.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Runs may be ready to claim in this pool (new run, slot freed, pool resumed).
    RunsReady {
        /// Pool id.
        pool_id: String,
    },
    /// A worker must kill a run.
    CancelRun {
        /// The worker holding it.
        worker_id: String,
        /// The run.
        run_id: String,
    },
    /// A run's state changed.
    RunChanged {
        /// The run.
        run_id: String,
    },
    /// Log lines were stored for a run.
    LogsWritten {
        /// The run.
        run_id: String,
    },
}

impl Event {
    /// The run the event is about, if any.
    pub fn run_id(&self) -> Option<&str> {
        match self {
            Event::RunChanged { run_id }
            | Event::LogsWritten { run_id }
            | Event::CancelRun { run_id, .. } => Some(run_id),
            Event::RunsReady { .. } => None,
        }
    }
}

/// Fan-out of [`Event`]s. A receiver that falls behind gets `Lagged` and
/// must re-check everything it cares about.
#[derive(Debug, Clone)]
pub struct Events {
    sender: broadcast::Sender<Event>,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            sender: broadcast::channel(4096).0,
        }
    }
}

impl Events {
    /// Publishes an event; nobody listening is fine.
    pub fn publish(&self, event: Event) {
        let _ = self.sender.send(event);
    }

    /// Wakes workers of a pool.
    pub fn runs_ready(&self, pool_id: Option<&str>) {
        if let Some(pool_id) = pool_id {
            self.publish(Event::RunsReady {
                pool_id: pool_id.to_string(),
            });
        }
    }

    /// Tells watchers a run changed.
    pub fn run_changed(&self, run_id: &str) {
        self.publish(Event::RunChanged {
            run_id: run_id.to_string(),
        });
    }

    /// A new receiver of every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }
}
