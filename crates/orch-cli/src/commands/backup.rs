//! `orch server backup FILE` and `orch server restore FILE`: SQLite files
//! on this host, done by the command itself (a running server keeps serving
//! during a backup; a restore needs it stopped).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;

use super::Context;
use crate::cli::{BackupArgs, RestoreArgs};
use crate::error::usage;
use crate::output::{self, Format, table};

/// The outcome of a backup, for `--output json`.
#[derive(Debug, Serialize)]
struct BackupView {
    file: String,
    database_url: String,
    schema_version: i64,
    flow_runs: i64,
    bytes: u64,
    integrity_check: &'static str,
}

/// Copies the database to `args.file`, checked.
pub async fn backup(context: &Context, args: BackupArgs) -> anyhow::Result<()> {
    let url = &context.settings.database_url.value;
    let check = orch_store::backup_database(url, &args.file)
        .await
        .map_err(|error| usage(error.to_string()))?;
    let view = BackupView {
        file: args.file.display().to_string(),
        database_url: orch_store::redact_password(url),
        schema_version: check.schema.applied,
        flow_runs: check.flow_runs,
        bytes: check.bytes,
        integrity_check: "ok",
    };
    match args.output.output {
        Format::Json => output::print_json(&view)?,
        Format::Table => table::print_details(&[
            ("Backup", view.file.clone()),
            ("Of", view.database_url.clone()),
            ("Flow runs", view.flow_runs.to_string()),
            ("Schema", view.schema_version.to_string()),
            ("Size", format!("{} bytes", view.bytes)),
            ("Integrity check", "ok".into()),
        ])?,
    }
    Ok(())
}

/// Replaces the database with the backup `args.file`, keeping the old one aside.
pub async fn restore(context: &Context, args: RestoreArgs) -> anyhow::Result<()> {
    let url = &context.settings.database_url.value;
    let Some(database) = orch_store::sqlite_path(url) else {
        return Err(usage(format!(
            "orch restores SQLite databases only, and {} is not one; restore PostgreSQL with pg_restore",
            orch_store::redact_password(url)
        )));
    };
    if let Some(folder) = database.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("cannot create {}", folder.display()))?;
    }
    // Held until the new database is in place: no server starts meanwhile.
    let _lock = orch_server::lock_sqlite(url).map_err(|error| {
        anyhow::anyhow!(
            "{error}. Stop the server before restoring (`orch server stop`, or `systemctl stop orch-server`)"
        )
    })?;
    let check = orch_store::check_database_file(&args.file)
        .await
        .map_err(|error| usage(format!("cannot restore: {error}")))?;
    let aside = if database.exists() {
        Some(move_aside(&database)?)
    } else {
        None
    };
    let incoming = with_suffix(&database, ".restoring");
    std::fs::copy(&args.file, &incoming).with_context(|| {
        format!(
            "cannot copy {} to {}",
            args.file.display(),
            incoming.display()
        )
    })?;
    std::fs::rename(&incoming, &database).with_context(|| {
        format!(
            "cannot move the restored database to {}",
            database.display()
        )
    })?;
    println!(
        "Restored {} from {} ({} flow runs, schema {}; integrity check ok)",
        database.display(),
        args.file.display(),
        check.flow_runs,
        check.schema.applied
    );
    if let Some(aside) = aside {
        println!("The replaced database is kept at {}", aside.display());
    }
    if !check.schema.is_current() {
        println!(
            "The backup's schema ({}) is older than this orch's ({}); the server upgrades it when it starts",
            check.schema.applied, check.schema.latest
        );
    }
    println!("Start the server again: orch server start");
    Ok(())
}

/// Renames the database and its WAL files to `DB.replaced-TIME`; returns the new name.
fn move_aside(database: &Path) -> anyhow::Result<PathBuf> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let aside = with_suffix(database, &format!(".replaced-{stamp}"));
    for suffix in ["", "-wal", "-shm"] {
        let from = with_suffix(database, suffix);
        if from.exists() {
            let to = with_suffix(&aside, suffix);
            std::fs::rename(&from, &to).with_context(|| {
                format!("cannot move {} aside to {}", from.display(), to.display())
            })?;
        }
    }
    Ok(aside)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}
