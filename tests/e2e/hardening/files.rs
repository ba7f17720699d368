//! Every file a user names is read through one reader with a size limit: a
//! TLS certificate, key or CA file that never ends (`/dev/zero`) is refused
//! at once with the file and the limit, as a calendar or config file is.
//!
//! Each command runs under a 4 GiB address-space limit: before the fix it
//! read `/dev/zero` until memory ran out, which the limit turns into a
//! prompt failure instead of a machine out of memory.

use std::process::Command;

use orch_e2e::{binary, refused};

const LIMIT: &str = "/dev/zero is larger than 4.0 MiB, the most orch reads from one input file";

/// `orch ARGS` in `home`, under `ulimit -v` (4 GiB).
fn limited(home: &std::path::Path, args: &[&str]) -> Command {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg("ulimit -v 4194304 && exec \"$0\" \"$@\"")
        .arg(binary("orch"))
        .args(args)
        .env("ORCH_HOME", home)
        .env_remove("ORCH_API_URL")
        .env_remove("ORCH_DATABASE_URL");
    command
}

#[test]
fn tls_ca_and_config_files_that_never_end_are_refused_with_the_limit() {
    let home = tempfile::tempdir().unwrap();
    let server = [
        "server",
        "start",
        "--port",
        "0",
        "--tls-cert",
        "/dev/zero",
        "--tls-key",
        "/dev/zero",
    ];
    let error = refused(
        limited(home.path(), &server),
        "orch server start --tls-cert /dev/zero",
    );
    assert!(
        error.contains("cannot read the TLS certificate /dev/zero") && error.contains(LIMIT),
        "{error}"
    );

    let client = [
        "--api-url",
        "https://127.0.0.1:9",
        "--tls-ca",
        "/dev/zero",
        "flow-run",
        "ls",
    ];
    let error = refused(
        limited(home.path(), &client),
        "orch --tls-ca /dev/zero flow-run ls",
    );
    assert!(
        error.contains("cannot read the CA certificate") && error.contains(LIMIT),
        "{error}"
    );

    std::os::unix::fs::symlink("/dev/zero", home.path().join("config.toml")).unwrap();
    let error = refused(
        limited(home.path(), &["config", "view"]),
        "orch config view",
    );
    assert!(
        error.contains("config.toml is larger than 4.0 MiB, the most orch reads"),
        "{error}"
    );
}
