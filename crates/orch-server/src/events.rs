//! Notifications that wake workers and watchers without polling. Published
//! in-process; with PostgreSQL, also relayed to the other servers on the same
//! database (see [`crate::relay`]).

use std::sync::OnceLock;

use tokio::sync::{broadcast, mpsc};

/// Something that happened, for whoever is waiting on it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
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
#[derive(Debug)]
pub struct Events {
    sender: broadcast::Sender<Event>,
    /// Where events go to reach other servers, once a relay is started.
    relay: OnceLock<mpsc::UnboundedSender<Event>>,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            sender: broadcast::channel(4096).0,
            relay: OnceLock::new(),
        }
    }
}

impl Events {
    /// Publishes an event here and, with a relay, to the other servers;
    /// nobody listening is fine.
    pub fn publish(&self, event: Event) {
        if let Some(relay) = self.relay.get() {
            let _ = relay.send(event.clone());
        }
        self.publish_here(event);
    }

    /// Publishes an event to this server's subscribers only (an event that
    /// came from another server).
    pub(crate) fn publish_here(&self, event: Event) {
        let _ = self.sender.send(event);
    }

    /// From now on, every published event is also sent to the returned
    /// receiver, for the relay to pass on. Only the first call succeeds.
    pub(crate) fn start_relay(&self) -> Option<mpsc::UnboundedReceiver<Event>> {
        let (sender, receiver) = mpsc::unbounded_channel();
        self.relay.set(sender).ok().map(|_| receiver)
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
