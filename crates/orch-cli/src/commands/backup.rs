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
/// place: the backup is copied to a new file beside it and checked there
/// (integrity, schema), the current one is linked (or copied) to a new
/// name of its own, and only then is the copy renamed over it (one atomic
/// rename). A failure at any step leaves the current database in place, and
/// nothing but the files this restore made is ever removed.
pub async fn restore(context: &Context, args: RestoreArgs) -> anyhow::Result<()> {
    let url = &context.settings.database_url.value;
    let Some(database) = orch_store::sqlite_path(url) else {
        return Err(usage(format!(
            "orch restores SQLite databases only, and {} is not one; restore PostgreSQL with \
             pg_restore (e.g. `pg_restore --clean --if-exists --dbname '{}' FILE`, servers \
             stopped)",
            orch_store::redact_password(url),
            orch_store::redact_password(url)
        )));
    };
    for suffix in ["", "-wal", "-shm"] {
        if same_file(&args.file, &with_suffix(&database, suffix)) {
            return Err(usage(format!(
                "{} is the database itself{}, not a backup of it; name a file made by \
                 `orch server backup FILE`",
                args.file.display(),
                if suffix.is_empty() {
                    String::new()
                } else {
                    format!(" (its {suffix} file)")
                }
            )));
        }
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
    let (incoming, file) = create_beside(&database, ".restoring")?;
    let check = match stage(&args.file, file, &incoming).await {
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
    sync_folder(&database);
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

/// Whether `a` and `b` are the same file: the same path once symbolic
/// links are followed, or the same inode (a hard link). `b` may not exist.
fn same_file(a: &Path, b: &Path) -> bool {
    if let (Ok(a), Ok(b)) = (std::fs::canonicalize(a), std::fs::canonicalize(b))
        && a == b
    {
        return true;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(a), Ok(b)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return a.dev() == b.dev() && a.ino() == b.ino();
        }
    }
    false
}

/// Creates a new, empty, owner-only file `PATH<suffix>` (or
/// `PATH<suffix>-2`, `-3`... when taken): a name nothing else uses, so that
/// removing it on failure removes nothing but what this restore wrote.
fn create_beside(path: &Path, suffix: &str) -> anyhow::Result<(PathBuf, std::fs::File)> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    for n in 1..1000 {
        let candidate = match n {
            1 => with_suffix(path, suffix),
            n => with_suffix(path, &format!("{suffix}-{n}")),
        };
        match options.open(&candidate) {
            Ok(file) => return Ok((candidate, file)),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(error) => {
                return Err(anyhow::anyhow!(
                    "cannot create {}: {error}; the current database is unchanged",
                    candidate.display()
                ));
            }
        }
    }
    Err(anyhow::anyhow!(
        "cannot find a free name beside {} (remove old {}* files); the current database is \
         unchanged",
        path.display(),
        with_suffix(path, suffix).display()
    ))
}

/// Copies the backup into `incoming` (a new file beside the database),
/// flushes it to disk, and checks the copy where it lies.
async fn stage(
    backup: &Path,
    mut incoming_file: std::fs::File,
    incoming: &Path,
) -> anyhow::Result<orch_store::FileCheck> {
    let copied = std::fs::File::open(backup)
        .and_then(|mut source| std::io::copy(&mut source, &mut incoming_file))
        .and_then(|_| incoming_file.sync_all());
    copied.with_context(|| {
        format!(
            "cannot copy {} to {}; the current database is unchanged",
            backup.display(),
            incoming.display()
        )
    })?;
    drop(incoming_file);
    orch_store::check_database_file(incoming)
        .await
        .map_err(|error| {
            usage(format!(
                "cannot restore: the copy {error}; the current database is unchanged"
            ))
        })
}

/// Keeps the current database at `DB.replaced-TIME` (a hard link, else a
/// copy: the database itself stays in place; a new name, never one in
/// use) and moves its WAL files there, as they belong to it and not to
/// the restored one. Returns the name it is kept under.
fn keep_aside(database: &Path) -> anyhow::Result<PathBuf> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let (aside, mut file) = create_beside(database, &format!(".replaced-{stamp}"))?;
    // Replace the placeholder by a hard link when the file system allows it.
    drop(file);
    let linked =
        std::fs::remove_file(&aside).is_ok() && std::fs::hard_link(database, &aside).is_ok();
    if !linked {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        file = options.open(&aside).with_context(|| {
            format!(
                "cannot keep the current database at {}; nothing was changed",
                aside.display()
            )
        })?;
        std::fs::File::open(database)
            .and_then(|mut source| std::io::copy(&mut source, &mut file))
            .and_then(|_| file.sync_all())
            .with_context(|| {
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

/// Flushes the folder of `path` (its renames) to disk; best effort.
fn sync_folder(path: &Path) {
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && let Ok(folder) = std::fs::File::open(folder)
    {
        let _ = folder.sync_all();
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}
