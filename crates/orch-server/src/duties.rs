//! Background duties elected across replicas: several servers on one
//! database each run the scheduler, the lease sweep, pruning, automation
//! conditions and automatic backups only while they hold that duty's lease
//! in the database ([`orch_store::Replicas::hold_duty`]).
//!
//! Every replica's keeper renews or tries to take every duty each
//! [`RENEW`]; a lease runs [`TTL`] from its last renewal, so when a holder
//! dies (SIGKILL, lost machine) another replica takes its duties over within
//! `TTL + RENEW`, and at once when it shuts down cleanly (it releases them).
//! A replica trusts its lease only until `TTL - MARGIN` after the renewal
//! was sent, by its own monotonic clock, so a replica stalled past its lease
//! stops before another starts. Correctness never rests on this alone: every
//! state change goes through the store's validated state path and scheduled
//! slots are unique, so two passes at once would only waste work; the
//! election makes each duty run (and log) on one replica at a time.
//!
//! Each round also renews this replica's row among the live replicas
//! ([`orch_store::Replicas::renew_replica`]): how many share the database is
//! what limits that hold across replicas divide by ([`LiveReplicas`]).
//!
//! Loops every replica keeps running: waking its own workers when delayed
//! runs fall due, the automation engine and deliveries (idempotent per
//! firing, deliveries claimed under a lease), the event relay.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::state::AppState;

/// How often the keeper renews (or tries to take) every duty.
pub const RENEW: Duration = Duration::from_secs(2);
/// How long a lease runs from its last renewal.
pub const TTL: Duration = Duration::from_secs(10);
/// How much sooner than the database a replica stops trusting its lease.
const MARGIN: Duration = Duration::from_secs(2);

/// A background duty that one replica at a time runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duty {
    /// Creating scheduled runs ([`crate::scheduler`]).
    Scheduler,
    /// Late marking, expired worker leases, stale tag slots ([`crate::background::sweep`]).
    Sweep,
    /// Retention and the removal of ended credentials ([`crate::maintenance`]).
    Prune,
    /// Automation conditions (run durations, missing runs).
    AutomationConditions,
    /// Automatic backups.
    Backup,
}

impl Duty {
    /// Every duty.
    pub const ALL: [Duty; 5] = [
        Duty::Scheduler,
        Duty::Sweep,
        Duty::Prune,
        Duty::AutomationConditions,
        Duty::Backup,
    ];

    /// Its name in the database, logs and `orch server status`.
    pub fn name(self) -> &'static str {
        match self {
            Duty::Scheduler => "scheduler",
            Duty::Sweep => "sweep",
            Duty::Prune => "prune",
            Duty::AutomationConditions => "automation-conditions",
            Duty::Backup => "backup",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// How many replicas share the database, as of this replica's last
/// renewal (1 until the first, and on SQLite, which one server holds).
/// Cheap to clone; clones share the count.
#[derive(Debug, Clone)]
pub struct LiveReplicas(Arc<AtomicUsize>);

impl Default for LiveReplicas {
    fn default() -> Self {
        LiveReplicas(Arc::new(AtomicUsize::new(1)))
    }
}

impl LiveReplicas {
    /// The count, at least 1.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed).max(1)
    }

    /// Records a new count; returns the previous one.
    pub fn set(&self, count: usize) -> usize {
        self.0.swap(count.max(1), Ordering::Relaxed).max(1)
    }

    /// This replica's share of `limit`, a limit that holds across replicas.
    pub fn share(&self, limit: usize) -> usize {
        orch_core::limits::replica_share(limit, self.get())
    }
}

/// This replica's identity and which duties it holds.
#[derive(Debug)]
pub struct Duties {
    replica: String,
    name: String,
    /// Per duty: until when this replica may run it (monotonic).
    held_until: Mutex<[Option<Instant>; Duty::ALL.len()]>,
    /// How many replicas share the database.
    live: LiveReplicas,
}

impl Duties {
    /// A replica named `name` (host and address, for people), with a fresh id.
    pub fn new(name: String) -> Duties {
        Duties {
            replica: uuid::Uuid::new_v4().to_string(),
            name,
            held_until: Mutex::new([None; Duty::ALL.len()]),
            live: LiveReplicas::default(),
        }
    }

    /// How many replicas share the database (a handle that follows it).
    pub fn live_replicas(&self) -> &LiveReplicas {
        &self.live
    }

    /// This replica's id, as the leases name it.
    pub fn replica(&self) -> &str {
        &self.replica
    }

    /// This replica's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this replica runs `duty` now.
    pub fn holds(&self, duty: Duty) -> bool {
        self.held_until.lock().expect("duties lock")[duty.index()]
            .is_some_and(|until| Instant::now() < until)
    }

    /// Records the outcome of a renewal sent at `sent`; returns whether the
    /// replica held the duty before.
    fn record(&self, duty: Duty, held: bool, sent: Instant) -> bool {
        let mut held_until = self.held_until.lock().expect("duties lock");
        let before = held_until[duty.index()].is_some_and(|until| Instant::now() < until);
        held_until[duty.index()] = held.then(|| sent + (TTL - MARGIN));
        before
    }

    fn drop_all(&self) {
        *self.held_until.lock().expect("duties lock") = [None; Duty::ALL.len()];
    }
}

/// Renews this replica among the live ones and records how many there are
/// (on SQLite always one: a second server cannot open the file, and the row
/// of a predecessor killed a moment ago must not halve the limits).
async fn renew_replica(state: &AppState) {
    let duties = state.duties();
    let store = state.background_store();
    let live = store
        .replicas()
        .renew_replica(duties.replica(), duties.name(), TTL.as_micros() as i64)
        .await;
    match live {
        Ok(live) => {
            let count = match store.backend() {
                orch_store::Backend::Sqlite => 1,
                orch_store::Backend::Postgres => live.len(),
            };
            let before = duties.live.set(count);
            if before != count {
                tracing::info!(
                    replicas = count,
                    "{count} server replicas share the database; limits across replicas give this one its share"
                );
            }
        }
        // The last count stands until the database answers again.
        Err(error) => tracing::debug!(%error, "cannot renew this replica's row"),
    }
}

/// One round: renews this replica's row and every duty (or tries to take
/// it), logging what changed.
pub async fn round(state: &AppState) {
    renew_replica(state).await;
    let duties = state.duties();
    for duty in Duty::ALL {
        let sent = Instant::now();
        let lease = state
            .background_store()
            .replicas()
            .hold_duty(
                duty.name(),
                duties.replica(),
                duties.name(),
                TTL.as_micros() as i64,
            )
            .await;
        match lease {
            Ok(lease) => {
                let held = lease.holder == duties.replica();
                let before = duties.record(duty, held, sent);
                if held && !before {
                    tracing::info!(
                        duty = duty.name(),
                        replica = duties.name(),
                        "this replica now runs the {} duty",
                        duty.name()
                    );
                } else if !held && before {
                    tracing::warn!(
                        duty = duty.name(),
                        holder = %lease.holder_name,
                        "this replica no longer runs the {} duty: {} holds it",
                        duty.name(),
                        lease.holder_name
                    );
                }
            }
            Err(error) => {
                // Without the database nobody can renew; stop trusting the
                // lease when it would have lapsed (record keeps no deadline).
                if duties.record(duty, false, sent) {
                    tracing::warn!(duty = duty.name(), %error, "cannot renew the {} duty; pausing it", duty.name());
                }
            }
        }
    }
}

/// Keeps this replica's duties until the server shuts down, then releases
/// them so that another replica takes them over at once.
pub(crate) async fn run(state: AppState) {
    let mut tick = tokio::time::interval(RENEW);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = state.shutting_down() => break,
            _ = tick.tick() => round(&state).await,
        }
    }
    state.duties().drop_all();
    if let Err(error) = state
        .background_store()
        .replicas()
        .remove_replica(state.duties().replica())
        .await
    {
        tracing::debug!(%error, "cannot remove this replica's row; it lapses in {} s", TTL.as_secs());
    }
    match state
        .background_store()
        .replicas()
        .release_duties(state.duties().replica())
        .await
    {
        Ok(0) => {}
        Ok(released) => tracing::info!(released, "released this replica's duties"),
        Err(error) => {
            tracing::warn!(%error, "releasing this replica's duties failed; they lapse in {} s", TTL.as_secs())
        }
    }
}
