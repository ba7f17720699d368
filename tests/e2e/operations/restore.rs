//! A restore never loses the current database: it refuses the database's
//! own path, never URL-decodes a file name, and replaces the database only
//! once the new one is checked in place.

use orch_e2e::{TestServer, deployment_toml, flow_program};

fn leftovers(home: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(home)
        .unwrap()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".restoring") || name.contains(".replaced-"))
        .collect()
}

#[test]
fn a_restore_never_loses_the_current_database() {
    let mut server = TestServer::start();
    let toml = deployment_toml("etl", "quick", "pool", &[&flow_program("echo.sh")], "");
    let _dir = server.deploy("pool", &toml);
    let run = server.run_deployment("etl/quick", &[]);
    let folder = tempfile::tempdir().unwrap();
    let good = folder.path().join("goodA.db");
    server.ok(&["server", "backup", good.to_str().unwrap()]);
    server.stop();
    let database = server.home().join("orch.db");
    let before = std::fs::read(&database).unwrap();
    let unchanged = |what: &str| {
        assert_eq!(
            std::fs::read(&database).ok().as_deref(),
            Some(before.as_slice()),
            "{what}: the database was changed or removed"
        );
        assert_eq!(leftovers(server.home()), Vec::<String>::new(), "{what}");
    };

    // The live database's own path.
    let output = server.run(&["server", "restore", database.to_str().unwrap()]);
    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(error.contains("is the database itself"), "{error}");
    unchanged("restoring the database's own path");

    // `good%41.db` is a text file; `goodA.db` beside it is a good backup.
    let encoded = folder.path().join("good%41.db");
    std::fs::write(&encoded, "not a database, only text\n").unwrap();
    let output = server.run(&["server", "restore", encoded.to_str().unwrap()]);
    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(error.contains("good%41.db"), "{error}");
    unchanged("restoring a text file named like a URL escape");

    // A good backup restores, and the replaced database is kept.
    let restored = server.ok(&["server", "restore", good.to_str().unwrap()]);
    assert!(
        restored.contains("replaced database is kept at"),
        "{restored}"
    );
    server.restart();
    let detail = server.inspect(&run).to_string();
    assert!(detail.contains(&run), "{detail}");
}
