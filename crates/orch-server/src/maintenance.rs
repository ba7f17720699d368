//! Keeping a long-running server small and safe: the retention pruner and
//! automatic backups, each a loop beside requests.
//!
//! The pruner deletes in small batches (see `orch_store::BatchSize`), sleeping
//! briefly between them so that requests waiting for the writer go first.
//! [`prune`] is public so that tests and `orch server prune` run one pass on
//! demand.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use orch_core::retention::{RetentionPolicy, backups_to_rotate};
use orch_store::{BatchSize, Pruned, Store};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::state::AppState;

/// Pause between two batches: lets queued writes through.
const BETWEEN_BATCHES: Duration = Duration::from_millis(10);
/// Prefix and suffix of automatic backup files: `orch-20260101T060000Z.db`.
const BACKUP_PREFIX: &str = "orch-";
const BACKUP_SUFFIX: &str = ".db";

/// Automatic backups: where, how often, how many are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSchedule {
    /// Folder of the backup files.
    pub dir: PathBuf,
    /// Time between backups.
    pub every: Duration,
    /// Newest backups kept; older ones are deleted.
    pub keep: usize,
}

/// Retention settings of the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionConfig {
    /// What is kept how long.
    pub policy: RetentionPolicy,
    /// Time between pruning passes.
    pub every: Duration,
    /// Rows per batch.
    pub batch: BatchSize,
}

impl Default for RetentionConfig {
    /// Keep everything; when set, prune every 10 minutes.
    fn default() -> Self {
        RetentionConfig {
            policy: RetentionPolicy::default(),
            every: Duration::from_secs(600),
            batch: BatchSize::default(),
        }
    }
}

/// What maintenance did since the server started, for status and metrics.
#[derive(Debug, Default)]
pub struct MaintenanceTotals {
    inner: Mutex<Totals>,
    /// One pruning pass at a time (the loop's or a requested one).
    pass: tokio::sync::Mutex<()>,
}

/// A snapshot of [`MaintenanceTotals`].
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Totals {
    /// Everything pruned since the server started.
    pub pruned: Pruned,
    /// When the last pruning pass ended (micros), if one ran.
    pub last_prune_micros: Option<i64>,
    /// When the last automatic backup succeeded (micros), if one did.
    pub last_backup_micros: Option<i64>,
    /// The file of the last automatic backup.
    pub last_backup_file: Option<String>,
    /// Why the last automatic backup failed, if it did.
    pub last_backup_error: Option<String>,
}

impl MaintenanceTotals {
    /// A copy of the totals.
    pub fn snapshot(&self) -> Totals {
        self.inner.lock().expect("totals lock").clone()
    }

    fn update(&self, change: impl FnOnce(&mut Totals)) {
        change(&mut self.inner.lock().expect("totals lock"));
    }
}

/// What the pruner and automatic backups did since this server started (a
/// part of the state, [`AppState::part`]).
pub fn totals(state: &AppState) -> std::sync::Arc<MaintenanceTotals> {
    state.part::<MaintenanceTotals>()
}

/// Runs the pruner (when a retention is set) and the automatic backups
/// (when configured) until the server shuts down.
pub(crate) async fn run(state: AppState) {
    let retention = state.config().retention.clone();
    let backup = state.config().backup.clone();
    // The first pass comes one interval after start, not at once: a restart
    // loop does not prune on every start, and `orch server prune --dry-run`
    // can be asked before anything goes.
    let mut prune_tick = tokio::time::interval_at(
        tokio::time::Instant::now() + retention.every,
        retention.every,
    );
    prune_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut backup_tick = tokio::time::interval(
        backup
            .as_ref()
            .map_or(Duration::from_secs(86_400), |b| b.every),
    );
    backup_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = state.shutting_down() => return,
            _ = prune_tick.tick() => {
                if !state.duties().holds(crate::duties::Duty::Prune) {
                    continue;
                }
                if let Err(error) = prune(&state, false).await {
                    tracing::warn!(%error, "pruning failed; trying again at the next pass");
                }
                // Ended dashboard sessions and the credentials of finished runs.
                match state.background_store().tokens().prune_credentials().await {
                    Ok(0) => {}
                    Ok(removed) => tracing::info!(removed, "removed ended sessions and run credentials"),
                    Err(error) => tracing::warn!(%error, "removing ended credentials failed; trying again at the next pass"),
                }
            }
            _ = backup_tick.tick(), if backup.is_some() => {
                if !state.duties().holds(crate::duties::Duty::Backup) {
                    continue;
                }
                if let Some(schedule) = &backup {
                    automatic_backup(&state, schedule).await;
                }
            }
        }
    }
}

/// One pruning pass over every rule, batch by batch, until nothing is left
/// to prune (or the server shuts down). With `dry_run`, only counts.
/// Returns what was (or would be) pruned.
pub async fn prune(state: &AppState, dry_run: bool) -> orch_store::Result<Pruned> {
    let store = state.store();
    let config = &state.config().retention;
    let deployments = store.maintenance().deployment_retentions().await?;
    let rules = config.policy.rules(&deployments);
    let now = state.now();
    let mut total = Pruned::default();
    let maintenance = totals(state);
    let _one_pass = maintenance.pass.lock().await;
    if dry_run {
        for rule in &rules {
            total += store.maintenance().count_prunable(rule, now).await?;
        }
        return Ok(total);
    }
    for rule in &rules {
        loop {
            let pruned = store
                .maintenance()
                .prune_runs_batch(rule, now, config.batch)
                .await?;
            record(state, pruned);
            total += pruned;
            if pruned.is_empty() || stopping(state) {
                break;
            }
            tokio::time::sleep(BETWEEN_BATCHES).await;
        }
        loop {
            let (pruned, more) = store
                .maintenance()
                .prune_logs_batch(rule, now, config.batch)
                .await?;
            record(state, pruned);
            total += pruned;
            if !more || stopping(state) {
                break;
            }
            tokio::time::sleep(BETWEEN_BATCHES).await;
        }
    }
    if let Err(error) = store.maintenance().ensure_log_partitions(now).await {
        tracing::warn!(%error, "cannot make the log partitions ahead; trying again at the next pass");
    }
    let partitions = store
        .maintenance()
        .prune_log_partitions(
            settled_before(&rules, now),
            config.batch,
            BETWEEN_BATCHES,
            || stopping(state),
        )
        .await?;
    let deleted = Pruned {
        runs: 0,
        log_lines: partitions.deleted_lines,
    };
    record(state, deleted);
    total += deleted;
    if !partitions.dropped.is_empty() {
        tracing::info!(
            partitions = ?partitions.dropped,
            lines_estimate = partitions.dropped_lines_estimate,
            "dropped day partitions of log lines that had all expired"
        );
    }
    totals(state).update(|totals| totals.last_prune_micros = Some(state.now()));
    if !total.is_empty() {
        tracing::info!(
            runs = total.runs,
            log_lines = total.log_lines,
            "pruned finished runs and log lines past their retention"
        );
    }
    Ok(total)
}

/// Before when a day of log lines is settled: older than the longest log
/// retention of `rules` (and a day), so no more of its runs' lines expire.
fn settled_before(rules: &[orch_core::retention::PruneRule], now: i64) -> i64 {
    let longest = rules
        .iter()
        .filter_map(|rule| rule.retention.logs_days.or(rule.retention.runs_days))
        .max();
    match longest {
        Some(days) => now.saturating_sub((i64::from(days) + 1) * orch_store::DAY_MICROS),
        None => i64::MIN,
    }
}

fn stopping(state: &AppState) -> bool {
    state.is_shutting_down()
}

fn record(state: &AppState, pruned: Pruned) {
    if pruned.is_empty() {
        return;
    }
    totals(state).update(|totals| totals.pruned += pruned);
    observe_pruned(state, pruned);
}

/// Takes one automatic backup into the schedule's folder and rotates old ones.
async fn automatic_backup(state: &AppState, schedule: &BackupSchedule) {
    let now = state.store().clock().now();
    let name = format!(
        "{BACKUP_PREFIX}{}{BACKUP_SUFFIX}",
        now.format("%Y%m%dT%H%M%S%.6fZ")
    );
    let file = schedule.dir.join(&name);
    match backup_into(state.store(), &schedule.dir, &file, schedule.keep).await {
        Ok(()) => {
            tracing::info!(file = %file.display(), "automatic backup written and checked");
            totals(state).update(|totals| {
                totals.last_backup_micros = Some(now.timestamp_micros());
                totals.last_backup_file = Some(file.display().to_string());
                totals.last_backup_error = None;
            });
            observe_backup(state, now.timestamp_micros());
        }
        Err(error) => {
            tracing::error!(%error, dir = %schedule.dir.display(), "automatic backup failed");
            totals(state).update(|totals| totals.last_backup_error = Some(error));
        }
    }
}

async fn backup_into(store: &Store, dir: &Path, file: &Path, keep: usize) -> Result<(), String> {
    orch_proto::private_files::create_dir(dir)
        .map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
    store
        .maintenance()
        .backup_to(file)
        .await
        .map_err(|error| error.to_string())?;
    let names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|error| format!("cannot list {}: {error}", dir.display()))?
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| name.starts_with(BACKUP_PREFIX) && name.ends_with(BACKUP_SUFFIX))
        .collect();
    for old in backups_to_rotate(&names, keep) {
        if let Err(error) = std::fs::remove_file(dir.join(&old)) {
            tracing::warn!(%error, file = %old, "cannot delete an old backup");
        }
    }
    Ok(())
}

/// The maintenance metrics, registered with the server's registry.
#[derive(Default)]
pub(crate) struct MaintenanceMetrics {
    pruned_runs: Counter,
    pruned_log_lines: Counter,
    last_backup: Gauge,
}

impl MaintenanceMetrics {
    /// Adds the pruning and backup metrics to `registry`.
    pub(crate) fn register(&self, registry: &mut Registry) {
        registry.register(
            "pruned_flow_runs",
            "Finished flow runs deleted by retention since this server started",
            self.pruned_runs.clone(),
        );
        registry.register(
            "pruned_log_lines",
            "Log lines deleted by retention since this server started",
            self.pruned_log_lines.clone(),
        );
        registry.register(
            "backup_last_success_timestamp_seconds",
            "When this server's last automatic backup succeeded (Unix seconds; 0: none yet)",
            self.last_backup.clone(),
        );
    }
}

fn observe_pruned(state: &AppState, pruned: Pruned) {
    let metrics = &state.metrics().maintenance;
    metrics.pruned_runs.inc_by(pruned.runs);
    metrics.pruned_log_lines.inc_by(pruned.log_lines);
}

fn observe_backup(state: &AppState, micros: i64) {
    state
        .metrics()
        .maintenance
        .last_backup
        .set(micros / 1_000_000);
}
