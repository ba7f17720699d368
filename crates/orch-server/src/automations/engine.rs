//! Outbox -> firings: reads run state changes and custom events in order
//! from the durable cursor and writes a firing for each automation they
//! match. Every replica may run it: a firing is unique per (automation,
//! source), so reading a row twice (after a crash before the cursor moved,
//! or on two replicas at once) writes nothing twice.

use std::sync::Arc;
use std::time::Duration;

use orch_core::automation::{AutomationSpec, RunFacts, Trigger, TriggerKind};
use orch_store::{
    Automation, FiringOutcome, NewDelivery, NewFiring, OutboxRow, OutboxSource, Store,
};
use serde_json::json;

use super::message::{self, Links};
use crate::events::Event;
use crate::state::AppState;

/// The poll fallback: the engine reads the outbox at least this often.
const POLL: Duration = Duration::from_secs(1);
/// Rows read per batch.
const BATCH: i64 = 500;

/// An automation that is not paused, with its parsed spec.
pub(super) struct Active {
    pub row: Automation,
    pub spec: AutomationSpec,
}

/// The automations that may fire now.
pub(super) async fn active(store: &Store) -> orch_store::Result<Vec<Active>> {
    Ok(store
        .automations()
        .automations()
        .await?
        .into_iter()
        .filter(|a| a.paused == 0)
        .filter_map(|row| match serde_json::from_str(&row.spec) {
            Ok(spec) => Some(Active { row, spec }),
            Err(error) => {
                tracing::warn!(automation = %row.name, %error, "cannot read an automation's spec; re-register it with `orch deploy`");
                None
            }
        })
        .collect())
}

/// The active automations as of a version of the automations table
/// ([`Outbox::automations_version`]), read again only when it changes. While
/// some are active, every pass checks the version (one cheap read), so a
/// row is never matched against an out-of-date list. While none is, the
/// version is checked at most once per [`POLL`], or at once after a change
/// made through this server: nothing is read or skipped meanwhile, and
/// [`Outbox::skip_outbox`] keeps the rows of the last seconds, so an
/// automation made on another replica still sees every row from its creation.
#[derive(Default)]
struct Known {
    version: Option<(i64, i64)>,
    active: Vec<Active>,
    /// This server's count of automation changes when the version was read.
    changes: u64,
    /// When the version was read, and the store clock then.
    checked: Option<(tokio::time::Instant, i64)>,
    /// When the cursors were last moved past rows while none was active.
    skipped_at: Option<tokio::time::Instant>,
}

impl Known {
    /// Reads the version and, if it changed, the automations again; unless
    /// none is active, this server changed none, and it was read within
    /// [`POLL`]. Returns the store clock when the version was read.
    async fn refresh(&mut self, state: &AppState) -> orch_store::Result<i64> {
        let changes = super::wakers(state).changes();
        if let Some((at, as_of)) = self.checked
            && self.active.is_empty()
            && changes == self.changes
            && at.elapsed() < POLL
        {
            return Ok(as_of);
        }
        let store = state.background_store();
        let as_of = state.now();
        let version = store.outbox().automations_version().await?;
        if self.version != Some(version) {
            self.active = active(store).await?;
            self.version = Some(version);
        }
        self.changes = changes;
        self.checked = Some((tokio::time::Instant::now(), as_of));
        Ok(as_of)
    }
}

/// Runs until the server shuts down.
pub(super) async fn run(state: AppState, links: Arc<Links>) {
    let mut events = state.events().subscribe();
    let mut known = Known::default();
    let wakers = super::wakers(&state);
    loop {
        if let Err(error) = pass(&state, &links, &mut known).await {
            tracing::warn!(%error, "reading the automation outbox failed; retrying");
        }
        loop {
            let woken = tokio::select! {
                _ = state.shutting_down() => return,
                _ = wakers.engine.notified() => true,
                _ = tokio::time::sleep(POLL) => true,
                event = events.recv() => match event {
                    Ok(Event::RunChanged { .. }) => true,
                    Ok(_) => false,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => true,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                },
            };
            if woken {
                break;
            }
        }
    }
}

/// One pass over both sources, until each is read to its end. With no
/// active automation nothing can fire: the rows are not read, and at most
/// once per [`POLL`] the cursors are moved past them
/// ([`Outbox::skip_outbox`]), so an automation made later starts from about
/// its creation and not from a long backlog.
async fn pass(state: &AppState, links: &Links, known: &mut Known) -> orch_store::Result<()> {
    let store = state.background_store();
    let as_of = known.refresh(state).await?;
    if known.active.is_empty() {
        if known.skipped_at.is_none_or(|at| at.elapsed() >= POLL) {
            for source in [OutboxSource::States, OutboxSource::Events] {
                store.outbox().skip_outbox(source, as_of).await?;
            }
            known.skipped_at = Some(tokio::time::Instant::now());
        }
        return Ok(());
    }
    let automations = &known.active;
    let mut created = false;
    for source in [OutboxSource::States, OutboxSource::Events] {
        loop {
            let (rows, advance) = store.outbox().outbox_batch(source, BATCH).await?;
            for row in &rows {
                for automation in automations {
                    if let Some(firing) = firing_for(source, row, automation, links) {
                        let outcome = store.automations().record_firing(&firing).await?;
                        created |= matches!(outcome, FiringOutcome::Created(_));
                        observe(state, &automation.row.name, &firing, &outcome);
                    }
                }
            }
            if rows.is_empty() {
                break;
            }
            store.outbox().advance_outbox(source, advance).await?;
            if (rows.len() as i64) < BATCH || rows.last().map(|r| r.position) != Some(advance) {
                break;
            }
        }
    }
    if created {
        super::wakers(state).deliver.notify_one();
    }
    Ok(())
}

/// Counts a firing this server wrote, and says so in the log when loop
/// protection suppressed it.
pub(super) fn observe(
    state: &AppState,
    automation: &str,
    firing: &NewFiring,
    outcome: &FiringOutcome,
) {
    state
        .metrics()
        .automations
        .observe_firing(automation, outcome);
    if let FiringOutcome::LoopSuppressed(reason) = outcome {
        tracing::warn!(
            automation,
            flow_run = firing.flow_run_id.as_deref().unwrap_or_default(),
            "{reason}"
        );
    }
}

/// Whether the run of `row` passes the trigger's filter.
pub(super) fn passes_filter(trigger: &Trigger, row: &OutboxRow) -> bool {
    let tags: Vec<String> = serde_json::from_str(&row.tags).unwrap_or_default();
    trigger.filter_matches(&RunFacts {
        flow: &row.flow,
        deployment: (!row.deployment.is_empty()).then_some(row.deployment.as_str()),
        tags: &tags,
        pool: (!row.pool.is_empty()).then_some(row.pool.as_str()),
    })
}

/// The firing `row` causes for `automation`, if it matches.
fn firing_for(
    source: OutboxSource,
    row: &OutboxRow,
    automation: &Active,
    links: &Links,
) -> Option<NewFiring> {
    let trigger = &automation.spec.trigger;
    if row.timestamp < automation.row.created_at {
        return None;
    }
    if !passes_filter(trigger, row) {
        return None;
    }
    let (key, extra) = match source {
        OutboxSource::States => {
            let kind: orch_core::StateType = row.kind.parse().ok()?;
            if !trigger.state_matches(kind, &row.name) {
                return None;
            }
            (format!("state:{}", row.position), json!({}))
        }
        OutboxSource::Events => {
            if trigger.kind != TriggerKind::Event
                || trigger.name.as_deref() != Some(row.name.as_str())
            {
                return None;
            }
            let payload: serde_json::Value = serde_json::from_str(&row.message).unwrap_or_default();
            (
                format!("event:{}", row.position),
                json!({ "event": { "name": row.name, "payload": payload } }),
            )
        }
    };
    let context = message::context(
        &automation.row.name,
        trigger.kind.as_str(),
        "fired",
        message::run_summary(row),
        Some(message::run_of_row(row, links)),
        extra,
        row.timestamp,
    );
    Some(automation.firing(key, "fired", Some(row.flow_run_id.clone()), &context))
}

impl Active {
    /// A firing of this automation from `source_key` (unique per automation),
    /// with one delivery per action.
    pub(super) fn firing(
        &self,
        source_key: String,
        kind: &str,
        flow_run_id: Option<String>,
        context: &serde_json::Value,
    ) -> NewFiring {
        NewFiring {
            automation_id: self.row.id.clone(),
            source_key,
            kind: kind.to_owned(),
            flow_run_id,
            context: context.to_string(),
            actions: self
                .spec
                .actions
                .iter()
                .map(|a| NewDelivery {
                    action_type: a.kind.as_str().to_owned(),
                    receiver: a.receiver(),
                })
                .collect(),
            cooldown_seconds: self.spec.cooldown_seconds,
            creates_runs: orch_core::automation::creates_runs(&self.spec),
        }
    }
}
