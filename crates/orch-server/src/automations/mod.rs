//! The automation engine: reads the outbox (every run state change and
//! custom event, in order, from a durable cursor), writes firings once per
//! automation and source, and delivers their actions with retries.
//!
//! - [`engine`]: outbox -> firings (event-driven, with a poll fallback).
//! - [`conditions`]: periodic triggers with incidents (run-duration,
//!   deadline, no-success, worker-offline, pool-unattended).
//! - [`deliver`]: claims due deliveries under a lease and runs them.
//! - [`actions`]: what each action does; [`message`]: what it says.
//!
//! Wake-ups: any state change publishes `Event::RunChanged` (here and, on
//! PostgreSQL, relayed from other replicas), which wakes the engine; issue
//! 11's `effects::apply` can call [`wake`] instead. Nothing depends on the
//! wake-up for correctness: the engine also polls every second.

mod actions;
mod conditions;
mod deliver;
mod email;
mod engine;
mod message;
pub(crate) mod metrics;

use orch_core::automation::AutomationSpec;
use tokio::sync::Notify;

use crate::state::AppState;

/// What wakes the engine and the delivery loop.
#[derive(Debug, Default)]
pub(crate) struct Wakers {
    engine: Notify,
    deliver: Notify,
    /// Counts the automation changes made through this server.
    changes: std::sync::atomic::AtomicU64,
}

impl Wakers {
    /// How many automation changes this server has made.
    fn changes(&self) -> u64 {
        self.changes.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// This server's wake-ups of the engine and the delivery loop (a part of
/// the state, [`AppState::part`]).
pub(crate) fn wakers(state: &AppState) -> std::sync::Arc<Wakers> {
    state.part::<Wakers>()
}

/// Wakes the engine at once (something it reads changed).
pub(crate) fn wake(state: &AppState) {
    wakers(state).engine.notify_one();
}

/// Tells the engine the automations changed (created, updated, paused,
/// resumed or deleted here), and wakes it: it reads them again at once.
pub(crate) fn changed(state: &AppState) {
    let wakers = wakers(state);
    wakers
        .changes
        .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    wakers.engine.notify_one();
}

/// Runs the engine, the condition loop and the delivery loop until the
/// server shuts down. `public_url` is where the dashboard is reached, for
/// links in messages.
pub(crate) async fn run(state: AppState, public_url: String) {
    let settings = std::sync::Arc::new(message::Links { public_url });
    tokio::join!(
        engine::run(state.clone(), settings.clone()),
        conditions::run(state.clone(), settings),
        deliver::run(state),
    );
}

/// The values of the `${NAME}`s an automation reads, taken when its action
/// runs: a secret of that name (`orch secret set NAME`) first, else the
/// server's environment, for the variables it allows
/// ([`crate::ServerConfig::automation_env`]) only. The one place
/// placeholders are read; values are never logged or printed.
#[derive(Default)]
pub(crate) struct Placeholders(std::collections::HashMap<String, String>);

impl Placeholders {
    /// Reads `names` now.
    pub(crate) async fn read(state: &AppState, names: &[String]) -> Placeholders {
        let mut values = std::collections::HashMap::new();
        if !names.is_empty() {
            match state.store().secrets().secret_ciphertexts(names).await {
                Ok(sealed) => {
                    for (name, sealed) in sealed {
                        match state.keyring().open(&name, &sealed) {
                            Ok(value) => {
                                values.insert(name, value);
                            }
                            Err(error) => tracing::error!("automation placeholder: {error}"),
                        }
                    }
                }
                Err(error) => tracing::warn!(%error, "cannot read secrets for placeholders"),
            }
        }
        let allowed = &state.config().automation_env;
        for name in names {
            if !values.contains_key(name)
                && orch_core::automation::env_allowed(name, allowed)
                && let Some(value) = std::env::var(name).ok().filter(|v| !v.is_empty())
            {
                values.insert(name.clone(), value);
            }
        }
        Placeholders(values)
    }

    /// The value of `${name}`, if it has one.
    pub(crate) fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

/// Every `${NAME}` a spec's actions will read, in order.
pub(crate) fn placeholders_of(spec: &AutomationSpec) -> Vec<String> {
    orch_core::automation::placeholder_names(spec)
}
