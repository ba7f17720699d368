//! Condition triggers, evaluated every second: a run running too long
//! (`run-duration`, once per run attempt), and incidents that open while a
//! condition holds and send one "resolved" when it clears (`deadline`,
//! `no-success`, `worker-offline`, `pool-unattended`). Incidents live in
//! the database, so a restart or another replica neither repeats an alert
//! nor forgets to resolve it; firings are unique per (automation, key).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use orch_core::automation::TriggerKind;
use orch_store::{FiringOutcome, OutboxRow, Store};
use serde_json::{Value, json};

use super::engine::{self, Active};
use super::message::{self, Links};
use crate::state::AppState;

/// How often conditions are checked.
const TICK: Duration = Duration::from_secs(1);
/// Workers silent for longer than this are not watched any more.
const WORKER_MEMORY: Duration = Duration::from_secs(24 * 3600);

/// Runs until the server shuts down.
pub(super) async fn run(state: AppState, links: Arc<Links>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = state.shutting_down() => return,
            _ = tick.tick() => {}
        }
        if !state
            .duties()
            .holds(crate::duties::Duty::AutomationConditions)
        {
            continue;
        }
        if let Err(error) = pass(&state, &links).await {
            tracing::warn!(%error, "checking automation conditions failed; retrying");
        }
    }
}

/// A condition that holds now: its subject, the run it is about, the
/// firing's summary and extra context.
struct Holding {
    subject: String,
    run: Option<OutboxRow>,
    summary: String,
    extra: Value,
}

async fn pass(state: &AppState, links: &Links) -> orch_store::Result<()> {
    let store = state.background_store();
    let now = state.now();
    let mut created = false;
    for automation in engine::active(store).await? {
        let trigger = &automation.spec.trigger;
        let holding = match trigger.kind {
            TriggerKind::RunDuration => {
                created |= run_duration(state, links, &automation, now).await?;
                continue;
            }
            TriggerKind::Deadline => deadline(store, &automation, now).await?,
            TriggerKind::NoSuccess => no_success(store, &automation, now).await?,
            TriggerKind::WorkerOffline => workers_offline(state, &automation, now).await?,
            TriggerKind::PoolUnattended => pools_unattended(state, &automation, now).await?,
            TriggerKind::RunState | TriggerKind::Event => continue,
        };
        created |= incidents(state, links, &automation, holding, now).await?;
    }
    if created {
        super::wakers(state).deliver.notify_one();
    }
    Ok(())
}

/// Microseconds in `seconds`, saturating (a spec stored before durations
/// were range-checked may hold any value).
fn micros(seconds: u64) -> i64 {
    orch_core::automation::seconds_to_micros(seconds)
}

fn what(row: &OutboxRow) -> &str {
    if row.deployment.is_empty() {
        &row.flow
    } else {
        &row.deployment
    }
}

/// Writes a firing; whether it is new and to be delivered.
async fn fire(
    state: &AppState,
    links: &Links,
    automation: &Active,
    key: String,
    kind: &str,
    holding: &Holding,
    now: i64,
) -> orch_store::Result<bool> {
    let store = state.background_store();
    let run = holding
        .run
        .as_ref()
        .map(|row| message::run_of_row(row, links));
    let context = message::context(
        &automation.row.name,
        automation.spec.trigger.kind.as_str(),
        kind,
        holding.summary.clone(),
        run,
        holding.extra.clone(),
        now,
    );
    let firing = automation.firing(
        key,
        kind,
        holding.run.as_ref().map(|row| row.flow_run_id.clone()),
        &context,
    );
    let outcome = store.automations().record_firing(&firing).await?;
    engine::observe(state, &automation.row.name, &firing, &outcome);
    Ok(matches!(outcome, FiringOutcome::Created(_)))
}

/// Runs still running `seconds` after they started: one firing per run attempt.
async fn run_duration(
    state: &AppState,
    links: &Links,
    automation: &Active,
    now: i64,
) -> orch_store::Result<bool> {
    let store = state.background_store();
    let seconds = automation.spec.trigger.seconds.unwrap_or(0);
    let mut created = false;
    for run in store
        .automations()
        .runs_running_since(now.saturating_sub(micros(seconds)))
        .await?
    {
        if !engine::passes_filter(&automation.spec.trigger, &run.row) {
            continue;
        }
        let started = run.start_time.unwrap_or(now);
        let holding = Holding {
            subject: run.row.flow_run_id.clone(),
            summary: format!(
                "{} run {} has been running for {} s (limit {seconds} s)",
                what(&run.row),
                run.row.run_name,
                (now - started) / 1_000_000
            ),
            extra: json!({ "limit_seconds": seconds, "running_seconds": (now - started) / 1_000_000 }),
            run: Some(run.row.clone()),
        };
        let key = format!("duration:{}:{}", holding.subject, run.row.run_count);
        if store
            .automations()
            .firing_suppressed(&automation.row.id, &key)
            .await?
            .is_none()
        {
            created |= fire(state, links, automation, key, "fired", &holding, now).await?;
        }
    }
    Ok(created)
}

/// Runs not started `late_seconds` after their slot, one incident per run.
async fn deadline(
    store: &Store,
    automation: &Active,
    now: i64,
) -> orch_store::Result<Vec<Holding>> {
    let late = automation.spec.trigger.late_seconds.unwrap_or(0);
    let runs = store
        .automations()
        .runs_not_started(now.saturating_sub(micros(late)))
        .await?;
    Ok(runs
        .into_iter()
        .filter(|run| engine::passes_filter(&automation.spec.trigger, &run.row))
        .map(|run| Holding {
            subject: run.row.flow_run_id.clone(),
            summary: format!(
                "{} run {} has not started {} s after its slot at {} (deadline {late} s)",
                what(&run.row),
                run.row.run_name,
                (now - run.expected_start) / 1_000_000,
                orch_proto::json::rfc3339(run.expected_start).unwrap_or_default()
            ),
            extra: json!({ "late_seconds": late, "slot": orch_proto::json::rfc3339(run.expected_start) }),
            run: Some(run.row),
        })
        .collect())
}

/// Watched deployments without a Completed run for `window_seconds`.
async fn no_success(
    store: &Store,
    automation: &Active,
    now: i64,
) -> orch_store::Result<Vec<Holding>> {
    let window = automation.spec.trigger.window_seconds.unwrap_or(0);
    let mut holding = Vec::new();
    for deployment in &automation.spec.trigger.deployments {
        let Some((created, last_success)) =
            store.automations().deployment_success(deployment).await?
        else {
            continue;
        };
        let since = last_success
            .unwrap_or(created)
            .max(created)
            .max(automation.row.created_at);
        if now.saturating_sub(since) > micros(window) {
            let last = last_success.and_then(orch_proto::json::rfc3339);
            holding.push(Holding {
                subject: deployment.clone(),
                run: None,
                summary: format!(
                    "{deployment} has had no successful run for {} s (window {window} s; last success: {})",
                    (now - since) / 1_000_000,
                    last.clone().unwrap_or_else(|| "never".into())
                ),
                extra: json!({ "deployment": deployment, "window_seconds": window, "last_success": last }),
            });
        }
    }
    Ok(holding)
}

/// Workers that stopped heartbeating without a clean stop.
async fn workers_offline(
    state: &AppState,
    automation: &Active,
    now: i64,
) -> orch_store::Result<Vec<Holding>> {
    let pools = &automation.spec.trigger.pools;
    let workers = state
        .background_store()
        .workers()
        .list_workers(None, state.micros_ago(WORKER_MEMORY))
        .await?;
    Ok(workers
        .into_iter()
        .filter(|w| w.stopped_at.is_none() && !w.is_online(now, state.online_since()))
        .filter(|w| pools.is_empty() || pools.contains(&w.work_pool))
        .map(|w| Holding {
            summary: format!(
                "worker {} on {} (pool {}) is offline: no heartbeat for {} s",
                w.name,
                w.hostname,
                w.work_pool,
                (now - w.last_heartbeat) / 1_000_000
            ),
            extra: json!({ "worker": { "id": w.id, "name": w.name, "hostname": w.hostname, "work_pool": w.work_pool,
                "last_heartbeat": orch_proto::json::rfc3339(w.last_heartbeat) } }),
            subject: w.id,
            run: None,
        })
        .collect())
}

/// Pools with runs due and no worker online.
async fn pools_unattended(
    state: &AppState,
    automation: &Active,
    now: i64,
) -> orch_store::Result<Vec<Holding>> {
    let store = state.background_store();
    let pools = &automation.spec.trigger.pools;
    let mut online: BTreeMap<String, usize> = BTreeMap::new();
    for worker in store
        .workers()
        .list_workers(None, state.online_since())
        .await?
    {
        if worker.is_online(now, state.online_since()) {
            *online.entry(worker.work_pool).or_default() += 1;
        }
    }
    Ok(store
        .automations()
        .pools_with_due_runs(now)
        .await?
        .into_iter()
        .filter(|(pool, _)| {
            (pools.is_empty() || pools.contains(pool)) && !online.contains_key(pool)
        })
        .map(|(pool, waiting)| Holding {
            summary: format!("pool {pool} has {waiting} run(s) waiting and no worker online"),
            extra: json!({ "work_pool": pool, "runs_waiting": waiting }),
            subject: pool,
            run: None,
        })
        .collect())
}

/// Opens an incident (and fires) for each new subject that holds, and
/// resolves (and fires "resolved") each open one that no longer does.
async fn incidents(
    state: &AppState,
    links: &Links,
    automation: &Active,
    holding: Vec<Holding>,
    now: i64,
) -> orch_store::Result<bool> {
    let store = state.background_store();
    let id = &automation.row.id;
    let open = store.automations().incidents(id).await?;
    let mut created = false;
    for condition in &holding {
        let opened_at = match open.iter().find(|i| i.subject == condition.subject) {
            Some(incident) => incident.opened_at,
            None => {
                store
                    .automations()
                    .open_incident(id, &condition.subject, &condition.summary)
                    .await?
            }
        };
        let key = format!("open:{}:{opened_at}", condition.subject);
        if store
            .automations()
            .firing_suppressed(id, &key)
            .await?
            .is_none()
        {
            created |= fire(state, links, automation, key, "fired", condition, now).await?;
        }
    }
    for incident in open
        .iter()
        .filter(|i| !holding.iter().any(|h| h.subject == i.subject))
    {
        let opened = format!("open:{}:{}", incident.subject, incident.opened_at);
        if store.automations().firing_suppressed(id, &opened).await? == Some(false) {
            let run = match automation.spec.trigger.kind {
                TriggerKind::Deadline => store
                    .automations()
                    .condition_run(&incident.subject)
                    .await?
                    .map(|r| r.row),
                _ => None,
            };
            let summary = match &run {
                Some(row) => format!("{} run {} is now {}", what(row), row.run_name, row.name),
                None => format!("cleared: {}", incident.context),
            };
            let resolved = Holding {
                subject: incident.subject.clone(),
                run,
                summary: format!("Resolved: {summary}"),
                extra: json!({ "opened_at": orch_proto::json::rfc3339(incident.opened_at), "opened": incident.context }),
            };
            let key = format!("resolved:{}:{}", incident.subject, incident.opened_at);
            created |= fire(state, links, automation, key, "resolved", &resolved, now).await?;
        }
        store
            .automations()
            .close_incident(id, &incident.subject)
            .await?;
    }
    Ok(created)
}
