//! The isolation modes besides `auto` with the real binaries: `--isolation
//! landlock`, `--run-as USER` under a root worker (with namespaces and with
//! Landlock alone), and which setting wins: the flag, then
//! `ORCH_WORKER_ISOLATION`, then the config file's `worker.isolation`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use orch_e2e::{Daemon, TestServer, binary};

use super::{
    CANARY, assert_isolated, chown_tree, deploy_probe, root, run_probe, run_probe_with, secret_key,
};

/// The key the local worker of `pool` made for itself under `home`.
fn worker_key(server: &TestServer, pool: &str) -> String {
    orch_proto::credentials::CredentialsFile::read(&server.home().join("worker-keys").join(pool))
        .key_for(server.url())
        .expect("the worker's key is kept in worker-keys/POOL")
}

/// `orch worker start --pool POOL ARGS` against `server`, with the canary
/// in its environment; returns once it polls.
fn start_worker(server: &TestServer, pool: &str, args: &[&str], env: &[(&str, &str)]) -> Daemon {
    let mut all = vec!["worker", "start", "--pool", pool];
    all.extend_from_slice(args);
    let mut command = server.command(&all);
    command
        .env("WORKER_CANARY", CANARY)
        .envs(env.iter().copied());
    let mut worker = Daemon::spawn("worker", command, server.home());
    worker.wait_for_line("polling pool", Duration::from_secs(30));
    worker
}

/// Asserts the worker's output has `needle`.
fn assert_said(worker: &Daemon, needle: &str) {
    let output = worker.output();
    assert!(output.contains(needle), "no {needle:?} in:\n{output}");
}

#[test]
fn a_flow_under_landlock_cannot_read_the_workers_secrets() {
    let server = TestServer::start();
    let _dir = deploy_probe(&server, "l", server.home());
    let worker = start_worker(&server, "l", &["--isolation", "landlock"], &[]);
    let messages = run_probe(&server);
    assert_isolated(
        &messages,
        &[
            ("the admin key", server.admin_key()),
            ("the worker key", worker_key(&server, "l")),
            ("the secret key", secret_key(server.home())),
            ("the worker's environment", CANARY.to_owned()),
        ],
    );
    // Landlock refuses the folder itself (namespaces would show it empty).
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("listing ") && m.contains("Permission denied")),
        "the flow could list $ORCH_HOME:\n{messages:#?}"
    );
    assert_said(&worker, "flow isolation asked: landlock (from flag)");
    assert_said(&worker, "flow isolation: landlock (Landlock ABI");
}

/// The home folder of `user` in /etc/passwd.
fn home_of(user: &str) -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields[0] == user)
        .map(|fields| fields[5].to_owned())
        .unwrap_or_else(|| panic!("no {user} in /etc/passwd"))
}

#[test]
fn flows_run_as_nobody_under_a_root_worker_cannot_read_its_secrets() {
    if !root() {
        eprintln!("SKIPPED: --run-as needs a root worker; run this test as root");
        return;
    }
    let expected_user = format!("uid=65534 home={}", home_of("nobody"));
    // Parameters over 64 KiB reach the flow as a file under the worker's
    // private state folder: the sandbox must hand nobody a copy it can read.
    let big = format!("padding={}", "x".repeat(70 * 1024));
    for mode in ["auto", "landlock"] {
        let server = TestServer::start();
        let _dir = deploy_probe(&server, "n", server.home());
        let worker = start_worker(
            &server,
            "n",
            &["--isolation", mode, "--run-as", "nobody"],
            &[],
        );
        for extra in [Vec::new(), vec!["--param", big.as_str()]] {
            let messages = run_probe_with(&server, &extra);
            assert_isolated(
                &messages,
                &[
                    ("the admin key", server.admin_key()),
                    ("the worker key", worker_key(&server, "n")),
                    ("the secret key", secret_key(server.home())),
                    ("the worker's environment", CANARY.to_owned()),
                ],
            );
            assert!(
                messages.contains(&expected_user),
                "{mode}: the flow did not run as nobody:\n{messages:#?}"
            );
            if !extra.is_empty() {
                assert!(
                    messages.iter().any(|m| m == "parameters-file=ACME"),
                    "{mode}: nobody could not read its parameters file:\n{messages:#?}"
                );
            }
        }
        assert_said(&worker, "flows run as user nobody (--run-as)");
    }
}

#[test]
fn run_as_is_refused_for_an_unknown_user_and_for_a_worker_that_is_not_root() {
    let server = TestServer::start();
    server.ok(&["work-pool", "create", "r", "--type", "process"]);
    let refused = |output: std::process::Output, needle: &str| {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "the worker started:\n{stderr}");
        assert!(stderr.contains(needle), "no {needle:?} in:\n{stderr}");
    };
    let output = server.run(&[
        "worker",
        "start",
        "--pool",
        "r",
        "--run-as",
        "no-such-user-7c1d",
    ]);
    refused(
        output,
        "--run-as no-such-user-7c1d: there is no such user on this host",
    );
    if !root() {
        eprintln!("SKIPPED (the non-root half): starting a worker as nobody needs root");
        return;
    }
    // A worker running as nobody cannot switch users.
    let key = server.json(&[
        "token", "create", "r-worker", "--scope", "worker", "--pool", "r",
    ])["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let home = tempfile::tempdir().unwrap();
    chown_tree(home.path(), super::NOBODY);
    let bin = tempfile::tempdir().unwrap();
    let orch = copy_for_anyone(&binary("orch"), bin.path());
    let output = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(&orch)
        .args(["worker", "start", "--pool", "r", "--run-as", "root"])
        .env("ORCH_HOME", home.path())
        .env("ORCH_API_URL", server.url())
        .env("ORCH_API_KEY", &key)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    refused(
        output,
        "only a worker running as root can run flows as another user",
    );
}

/// A copy of `program` in `dir` that any user may run.
fn copy_for_anyone(program: &Path, dir: &Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let copy = dir.join(program.file_name().unwrap());
    std::fs::copy(program, &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    copy
}

#[test]
fn the_isolation_flag_beats_the_variable_which_beats_the_config_file() {
    let server = TestServer::start();
    server.ok(&["work-pool", "create", "s", "--type", "process"]);
    let config = server.home().join("config.toml");
    let mut text = std::fs::read_to_string(&config).unwrap_or_default();
    text.push_str("\n[worker]\nisolation = \"none\"\n");
    std::fs::write(&config, text).unwrap();

    let worker = start_worker(&server, "s", &[], &[]);
    assert_said(&worker, "flow isolation asked: none (from config file)");
    assert_said(&worker, "flow isolation: none (--isolation none)");
    drop(worker);

    let env = [("ORCH_WORKER_ISOLATION", "landlock")];
    let worker = start_worker(&server, "s", &[], &env);
    assert_said(
        &worker,
        "flow isolation asked: landlock (from env ORCH_WORKER_ISOLATION)",
    );
    assert_said(&worker, "flow isolation: landlock (");
    drop(worker);

    let worker = start_worker(&server, "s", &["--isolation", "namespaces"], &env);
    assert_said(&worker, "flow isolation asked: namespaces (from flag)");
    assert_said(&worker, "flow isolation: namespaces (");

    // A bad name in the config file stops the worker, saying where it is.
    std::fs::write(&config, "[worker]\nisolation = \"jail\"\n").unwrap();
    let output = server.run(&["worker", "start", "--pool", "s"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("config file: worker.isolation: unknown isolation \"jail\""),
        "{stderr}"
    );
}
