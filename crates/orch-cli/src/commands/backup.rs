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

/// Replaces the database with the backup `args.file`, keeping the old one
/// aside. The current database stays where it is until the new one is in
/// place: the backup is copied beside it and checked there (integrity,
/// schema), the current one is linked (or copied) aside, and only then is
/// the copy renamed over it (one atomic rename). A failure at any step
/// leaves the current database in place.
pub async fn restore(context: &Context, args: RestoreArgs) -> anyhow::Result<()> {
    let url = &context.settings.database_url.value;
    let Some(database) = orch_store::sqlite_path(url) else {
        return Err(usage(format!(
            "orch restores SQLite databases only, and {} is not one; restore PostgreSQL with pg_restore",
            orch_store::redact_password(url)
        )));
    };
    if same_file(&args.file, &database) {
        return Err(usage(format!(
            "{} is the database itself, not a backup of it; name a file made by `orch server backup FILE`",
            args.file.display()
        )));
    }
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
    orch_store::check_database_file(&args.file)
        .await
        .map_err(|error| usage(format!("cannot restore: {error}")))?;
    let incoming = with_suffix(&database, ".restoring");
    let _ = std::fs::remove_file(&incoming);
    let staged = stage(&args.file, &incoming).await;
    let check = match staged {
        Ok(check) => check,
        Err(error) => {
            let _ = std::fs::remove_file(&incoming);
            return Err(error);
        }
    };
    let aside = if database.exists() {
        match keep_aside(&database) {
            Ok(aside) => Some(aside),
            Err(error) => {
                let _ = std::fs::remove_file(&incoming);
                return Err(error);
            }
        }
    } else {
        None
    };
    if let Err(error) = std::fs::rename(&incoming, &database) {
        if let Some(aside) = &aside {
            put_back_wal(aside, &database);
        }
        let _ = std::fs::remove_file(&incoming);
        return Err(anyhow::anyhow!(
            "cannot move the restored database to {}: {error}; the current database is unchanged",
            database.display()
        ));
    }
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

/// Whether `a` and `b` are the same file (one may not exist yet).
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Copies the backup to `incoming` (beside the database) and checks the
/// copy where it lies.
async fn stage(backup: &Path, incoming: &Path) -> anyhow::Result<orch_store::FileCheck> {
    std::fs::copy(backup, incoming).with_context(|| {
        format!(
            "cannot copy {} to {}; the current database is unchanged",
            backup.display(),
            incoming.display()
        )
    })?;
    orch_store::check_database_file(incoming)
        .await
        .map_err(|error| {
            usage(format!(
                "cannot restore: the copy {error}; the current database is unchanged"
            ))
        })
}

/// Keeps the current database at `DB.replaced-TIME` (a hard link, else a
/// copy: the database itself stays in place) and moves its WAL files
/// there, as they belong to it and not to the restored one. Returns the
/// name it is kept under.
fn keep_aside(database: &Path) -> anyhow::Result<PathBuf> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let aside = with_suffix(database, &format!(".replaced-{stamp}"));
    if std::fs::hard_link(database, &aside).is_err() {
        std::fs::copy(database, &aside).with_context(|| {
            format!(
                "cannot keep the current database at {}; nothing was changed",
                aside.display()
            )
        })?;
    }
    for suffix in ["-wal", "-shm"] {
        let from = with_suffix(database, suffix);
        if from.exists() {
            let to = with_suffix(&aside, suffix);
            if let Err(error) = std::fs::rename(&from, &to) {
                put_back_wal(&aside, database);
                return Err(anyhow::anyhow!(
                    "cannot move {} aside to {}: {error}; the current database is unchanged",
                    from.display(),
                    to.display()
                ));
            }
        }
    }
    Ok(aside)
}

/// Undoes [`keep_aside`]'s moves of the WAL files.
fn put_back_wal(aside: &Path, database: &Path) {
    for suffix in ["-wal", "-shm"] {
        let kept = with_suffix(aside, suffix);
        if kept.exists() {
            let _ = std::fs::rename(&kept, with_suffix(database, suffix));
        }
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}
