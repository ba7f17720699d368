//! A restore never loses the current database: it refuses the database
//! whatever name it is given (a hard link, a symbolic link), and a home
//! whose name looks URL-encoded is used as named by the server, backups
//! and restores alike.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use orch_e2e::{Daemon, TestServer, binary};

/// The restore's own files left in `folder` (there must be none after a refusal).
fn leftovers(folder: &Path) -> Vec<String> {
    std::fs::read_dir(folder)
        .unwrap()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".restoring") || name.contains(".replaced-"))
        .collect()
}

#[test]
fn restore_refuses_the_database_itself_through_a_hard_link_or_a_symbolic_link() {
    let mut server = TestServer::start();
    server.ok(&["work-pool", "create", "pool", "--type", "process"]);
    server.stop();
    let database = server.home().join("orch.db");
    let before = std::fs::read(&database).unwrap();
    let folder = tempfile::tempdir_in(server.home()).unwrap();
    let hard = folder.path().join("hard-link.db");
    std::fs::hard_link(&database, &hard).unwrap();
    let soft = folder.path().join("symbolic-link.db");
    std::os::unix::fs::symlink(&database, &soft).unwrap();
    for alias in [&hard, &soft] {
        let output = server.run(&["server", "restore", alias.to_str().unwrap()]);
        let error = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{} was restored", alias.display());
        assert!(
            error.contains("is the database itself, not a backup of it"),
            "{error}"
        );
        assert_eq!(
            std::fs::read(&database).unwrap(),
            before,
            "{}: the database changed",
            alias.display()
        );
        assert_eq!(leftovers(server.home()), Vec::<String>::new());
    }
    server.restart();
    assert!(server.ok(&["work-pool", "ls"]).contains("pool"));
}

/// `orch ARGS` with `home` as its home and nothing else to go by.
fn orch(home: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(binary("orch"));
    command
        .args(args)
        .env("ORCH_HOME", home)
        .env("NO_COLOR", "1")
        .env_remove("ORCH_DATABASE_URL")
        .env_remove("ORCH_API_URL");
    command
}

fn ok(mut command: Command) -> String {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Starts `orch server start` in `home` (database in the home, by
/// default); returns it and its URL.
fn serve(home: &Path, logs: &Path) -> (Daemon, String) {
    let mut daemon = Daemon::spawn(
        "server",
        orch(home, &["server", "start", "--port", "0"]),
        logs,
    );
    let line = daemon.wait_for_line("orch server listening on ", Duration::from_secs(30));
    let url = line
        .split("listening on ")
        .nth(1)
        .unwrap()
        .trim()
        .to_owned();
    (daemon, url)
}

#[test]
fn a_home_named_like_a_url_escape_holds_the_database_its_backups_and_restores_name() {
    let root = tempfile::tempdir().unwrap();
    let home: PathBuf = root.path().join("home%41x");
    std::fs::create_dir(&home).unwrap();
    let (mut server, url) = serve(&home, root.path());
    let mut create = orch(&home, &["work-pool", "create", "kept", "--type", "process"]);
    create.env("ORCH_API_URL", &url);
    ok(create);
    assert!(
        home.join("orch.db").is_file(),
        "the database is in the home"
    );
    assert!(
        !root.path().join("homeAx").exists(),
        "the home's name was URL-decoded"
    );
    let backup = root.path().join("backup%41.db");
    ok(orch(&home, &["server", "backup", backup.to_str().unwrap()]));
    assert!(backup.is_file() && !root.path().join("backupA.db").exists());
    server.terminate(Duration::from_secs(15));

    let restored = ok(orch(
        &home,
        &["server", "restore", backup.to_str().unwrap()],
    ));
    assert!(
        restored.contains("replaced database is kept at"),
        "{restored}"
    );
    let (_server, url) = serve(&home, root.path());
    let mut pools = orch(&home, &["work-pool", "ls"]);
    pools.env("ORCH_API_URL", &url);
    assert!(ok(pools).contains("kept"));
}
