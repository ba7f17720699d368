//! The flow boundary with the real binaries: a flow cannot read what the
//! worker keeps on its host ($ORCH_HOME's credentials, secret key and
//! database, the worker's environment), in clear or in any disguise, while it
//! still gets its own environment, secrets and parameters and can call the
//! API with its run key; the local worker authenticates with a worker token;
//! orch's files are owner-only whatever the umask.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use orch_e2e::{Daemon, TestServer, binary, deployment_toml, write_deploy_file};

#[path = "isolation/modes.rs"]
mod modes;

const WAIT: Duration = Duration::from_secs(60);
const CANARY: &str = "canary-3f9a1c7e-worker-env";
const SECRET: &str = "nk-7e21d0b4-flow-secret";
const NOBODY: u32 = 65534;

/// A flow that tries to read every place the worker keeps something and
/// prints what it got in clear, base64-encoded and reversed; then shows what
/// it should see (its env, secret, parameters) and calls the API with its key.
const PROBING_FLOW: &str = r#"#!/bin/sh
show() {
  content=$(cat "$1" 2>/dev/null | tr '\000' '\n')
  echo "clear $1: $content"
  echo "b64 $(printf %s "$content" | base64 -w0)"
  echo "rev $(printf %s "$content" | rev)"
}
for file in "$TARGET_HOME/credentials" "$TARGET_HOME/secret.key" "$TARGET_HOME/orch.db" \
    "$TARGET_HOME/orch.db-wal" "$TARGET_HOME"/worker-keys/* /proc/$PPID/environ /proc/[0-9]*/environ; do
  show "$file"
done
ls -la "$TARGET_HOME" 2>&1 | sed 's/^/listing /'
echo "level=$LOG_LEVEL"
echo "secret=$NEWSAPI_KEY"
echo "parameters=$ORCH_PARAMETERS"
if [ -n "$ORCH_PARAMETERS_FILE" ]; then
  echo "parameters-file=$(grep -o ACME "$ORCH_PARAMETERS_FILE" 2>&1 | head -n 1)"
fi
echo "uid=$(id -u) home=$HOME"
echo "key-prefix=$(printf %s "$ORCH_API_KEY" | cut -c1-5)"
if answer=$(ORCH_HOME=/nonexistent "$PROBE_ORCH" flow-run inspect "$ORCH_FLOW_RUN_ID" --output json 2>&1); then
  echo "api=ok"
else
  echo "api=failed: $answer"
fi
echo "own-key $ORCH_API_KEY"
"#;

/// Writes the probing flow into `dir` (readable and executable by anyone).
fn probing_flow(dir: &Path) -> String {
    let path = dir.join("probe.sh");
    std::fs::write(&path, PROBING_FLOW).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

/// Deploys the probing flow on `pool`, aimed at `target_home`; returns the
/// folder of its deploy file.
fn deploy_probe(server: &TestServer, pool: &str, target_home: &Path) -> tempfile::TempDir {
    server.set_secret("NEWSAPI_KEY", SECRET);
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let program = probing_flow(dir.path());
    // A copy of the binary that any user can run, whatever the modes of the
    // checkout's folders (CI may clone under /root): the flow calls the API
    // with it, and the unprivileged worker runs it.
    let orch = dir.path().join("orch");
    std::fs::copy(binary("orch"), &orch).unwrap();
    std::fs::set_permissions(&orch, std::fs::Permissions::from_mode(0o755)).unwrap();
    let extra = format!(
        "secrets = [\"NEWSAPI_KEY\"]\nenv = {{ LOG_LEVEL = \"debug\", TARGET_HOME = \"{}\", PROBE_ORCH = \"{}\" }}\n",
        target_home.display(),
        orch.display(),
    );
    let toml = deployment_toml("probe", "probe", pool, &[&program], &extra);
    server.ok(&["work-pool", "create", pool, "--type", "process"]);
    let file = write_deploy_file(dir.path(), "orch.toml", &toml);
    server.ok(&["deploy", file.to_str().unwrap()]);
    dir
}

/// Every form in which the flow printed what it read: the lines themselves,
/// the base64 lines decoded and the reversed lines turned back.
fn every_form(messages: &[String]) -> String {
    let mut forms = messages.join("\n");
    for message in messages {
        if let Some(encoded) = message.strip_prefix("b64 ") {
            forms.push('\n');
            forms.push_str(&String::from_utf8_lossy(&base64_decode(encoded)));
        }
        if let Some(reversed) = message.strip_prefix("rev ") {
            forms.push('\n');
            forms.extend(reversed.chars().rev());
        }
    }
    forms
}

/// `base64 -d` of `text` (the system's tool).
fn base64_decode(text: &str) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new("base64")
        .arg("-d")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("base64 is installed");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap().stdout
}

/// Runs the probe deployment to the end; returns its log messages.
fn run_probe(server: &TestServer) -> Vec<String> {
    run_probe_with(server, &[])
}

/// [`run_probe`] with more `deployment run` arguments.
fn run_probe_with(server: &TestServer, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["--param", "symbol=ACME"];
    args.extend_from_slice(extra);
    let run = server.run_deployment("probe/probe", &args);
    let detail = server.wait_for_state(&run, &["COMPLETED", "FAILED", "CRASHED"], WAIT);
    let messages = server.log_messages(&run);
    assert_eq!(
        orch_e2e::state_type(&detail),
        "COMPLETED",
        "{detail:#}\n{messages:#?}"
    );
    messages
}

/// Asserts the flow saw what it should and none of `stolen` in any form.
fn assert_isolated(messages: &[String], stolen: &[(&str, String)]) {
    let forms = every_form(messages);
    for (what, value) in stolen {
        assert!(!value.is_empty(), "{what} is empty: nothing to look for");
        assert!(
            !forms.contains(value.as_str()),
            "the flow got {what} ({value}) into its logs:\n{messages:#?}"
        );
    }
    assert!(
        !forms.contains("SQLite format 3"),
        "the flow read the database:\n{messages:#?}"
    );
    for expected in [
        "level=debug",
        "secret=***",
        "key-prefix=orch_",
        "api=ok",
        "own-key ***",
    ] {
        assert!(
            messages.iter().any(|m| m == expected),
            "no {expected:?} line:\n{messages:#?}"
        );
    }
    let parameters = messages
        .iter()
        .find_map(|m| m.strip_prefix("parameters="))
        .expect("a parameters line");
    let from_file = messages.iter().any(|m| m == "parameters-file=ACME");
    assert!(
        parameters.contains("\"ACME\"") || from_file,
        "the flow did not get its parameters:\n{messages:#?}"
    );
}

/// The 64 hex digits of the server's secret key file.
fn secret_key(home: &Path) -> String {
    std::fs::read_to_string(home.join("secret.key"))
        .unwrap()
        .trim()
        .to_owned()
}

#[test]
fn a_flow_under_a_root_worker_cannot_read_the_workers_secrets() {
    let server = TestServer::start();
    let _dir = deploy_probe(&server, "p", server.home());
    let mut command = server.command(&["worker", "start", "--pool", "p"]);
    command.env("WORKER_CANARY", CANARY);
    let mut worker = Daemon::spawn("worker", command, server.home());
    worker.wait_for_line("polling pool", Duration::from_secs(30));
    let messages = run_probe(&server);
    let worker_key = orch_proto::credentials::CredentialsFile::read(
        &server.home().join("worker-keys").join("p"),
    )
    .key_for(server.url())
    .expect("the worker's key is kept in worker-keys/p");
    assert_isolated(
        &messages,
        &[
            ("the admin key", server.admin_key()),
            ("the worker key", worker_key),
            ("the secret key", secret_key(server.home())),
            ("the worker's environment", CANARY.to_owned()),
        ],
    );
    let output = worker.output();
    assert!(
        output.contains("flow isolation: namespaces"),
        "the worker did not say which isolation is in force:\n{output}"
    );
    // The small `orch-sandbox` beside `orch` sets the sandbox up (the
    // unprivileged test below runs a lone `orch`, through `orch __sandbox`).
    assert!(
        output.contains("orch-sandbox"),
        "the worker did not use orch-sandbox:\n{output}"
    );
}

#[test]
fn the_local_worker_authenticates_with_a_worker_token_of_its_pool() {
    let server = TestServer::start();
    server.ok(&["work-pool", "create", "local", "--type", "process"]);
    let _worker = server.start_worker("local", &[]);
    let tokens = server.json(&["token", "ls"]);
    let local = local_worker_tokens(&tokens);
    assert_eq!(local.len(), 1, "{tokens:#}");
    assert_eq!(local[0]["scope"], "worker", "{tokens:#}");
    assert_eq!(
        local[0]["pools"],
        serde_json::json!(["local"]),
        "{tokens:#}"
    );
    assert!(
        !local[0]["last_used"].is_null(),
        "the worker did not use its token: {tokens:#}"
    );
    let file = server.home().join("worker-keys").join("local");
    assert_eq!(mode(&file), 0o600);
    // A second start reuses the key instead of making another token.
    drop(_worker);
    let _again = server.start_worker("local", &[]);
    let tokens = server.json(&["token", "ls"]);
    let count = local_worker_tokens(&tokens).len();
    assert_eq!(count, 1, "{tokens:#}");
}

/// The tokens `orch worker start` made for pool `local`.
fn local_worker_tokens(tokens: &serde_json::Value) -> Vec<&serde_json::Value> {
    tokens
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| {
            t["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("local-worker-local-"))
        })
        .collect()
}

/// Whether this test process may run a worker as another user.
fn root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

#[test]
fn a_flow_under_an_unprivileged_worker_cannot_read_the_workers_secrets() {
    if !root() {
        eprintln!(
            "SKIPPED: running a worker as uid {NOBODY} needs root (setpriv); run this test as root"
        );
        return;
    }
    let server = TestServer::start();
    // The worker's own home, owned by the unprivileged user, with a key to steal.
    let home = tempfile::tempdir().unwrap();
    let key = server.json(&[
        "token",
        "create",
        "nobody-worker",
        "--scope",
        "worker",
        "--pool",
        "u",
    ])["api_key"]
        .as_str()
        .unwrap()
        .to_owned();
    std::fs::write(
        home.path().join("credentials"),
        format!("{} {key}\n", server.url()),
    )
    .unwrap();
    std::fs::write(home.path().join("secret.key"), "ab".repeat(32)).unwrap();
    chown_tree(home.path(), NOBODY);
    let dir = deploy_probe(&server, "u", home.path());
    let orch = dir.path().join("orch");
    let mut command = Command::new("setpriv");
    command
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(&orch)
        .args(["worker", "start", "--pool", "u"])
        .env("ORCH_HOME", home.path())
        .env("ORCH_API_URL", server.url())
        .env("ORCH_API_KEY", &key)
        .env("WORKER_CANARY", CANARY)
        .env("NO_COLOR", "1");
    let log_dir = tempfile::tempdir().unwrap();
    let mut worker = Daemon::spawn("worker", command, log_dir.path());
    worker.wait_for_line("polling pool", Duration::from_secs(30));
    let messages = run_probe(&server);
    assert_isolated(
        &messages,
        &[
            ("the worker's key", key),
            ("the worker's secret key file", "ab".repeat(32)),
            ("the worker's environment", CANARY.to_owned()),
        ],
    );
    let output = worker.output();
    assert!(
        output.contains("flow isolation: namespaces"),
        "the worker did not say which isolation is in force:\n{output}"
    );
}

/// `chown -R uid:uid path`.
fn chown_tree(path: &Path, uid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(uid)).unwrap();
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            chown_tree(&entry.unwrap().path(), uid);
        }
    }
}

/// The permission bits of `path`.
fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// `orch ARGS` with umask 000, so only orch's own care keeps files private.
fn without_umask(server: &TestServer, args: &[&str]) -> Command {
    let template = server.command(args);
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg("umask 000; exec \"$@\"")
        .arg("sh")
        .arg(template.get_program())
        .args(template.get_args());
    for (name, value) in template.get_envs() {
        match value {
            Some(value) => command.env(name, value),
            None => command.env_remove(name),
        };
    }
    command
}

/// Asserts every path is owner-only: folders 0700, files 0600.
fn assert_private(paths: &[PathBuf]) {
    for path in paths {
        let expected = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(
            mode(path),
            expected,
            "{} is {:o}",
            path.display(),
            mode(path)
        );
    }
}

#[test]
fn orchs_files_are_owner_only_after_start_a_run_and_a_backup() {
    let mut server = TestServer::start();
    let home = server.home().to_path_buf();
    // An installation from before: everything readable by everyone.
    server.stop();
    for entry in std::fs::read_dir(&home).unwrap() {
        let path = entry.unwrap().path();
        let loose = if path.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(loose)).unwrap();
    }
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o755)).unwrap();
    server.restart();
    let output = server.daemon_output();
    assert!(
        output.contains("made the orch home folder owner-only"),
        "no log line about the tightening:\n{output}"
    );
    let db = home.join("orch.db");
    let mut after_start = vec![
        home.clone(),
        db.clone(),
        home.join("orch.db.lock"),
        home.join("credentials"),
    ];
    for name in ["orch.db-wal", "orch.db-shm", "secret.key"] {
        let file = home.join(name);
        if file.exists() {
            after_start.push(file);
        }
    }
    assert_private(&after_start);

    // A run while the worker runs with umask 000: its state stays private.
    let dir = server.deploy(
        "m",
        &deployment_toml("sleepy", "sleepy", "m", &["sh", "-c", "sleep 3"], ""),
    );
    let _ = dir;
    let mut worker = Daemon::spawn(
        "worker",
        without_umask(&server, &["worker", "start", "--pool", "m"]),
        &home,
    );
    worker.wait_for_line("polling pool", Duration::from_secs(30));
    let run = server.run_deployment("sleepy/sleepy", &[]);
    server.wait_for_state(&run, &["RUNNING"], WAIT);
    let flows = home.join("worker").join("flows");
    let records: Vec<PathBuf> = std::fs::read_dir(&flows)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert!(!records.is_empty(), "no record of the running flow");
    let mut during_run = vec![home.join("worker"), flows.clone()];
    during_run.extend(records);
    during_run.push(home.join("worker-keys"));
    during_run.push(home.join("worker-keys").join("m"));
    assert_private(&during_run);
    server.wait_for_state(&run, &["COMPLETED"], WAIT);
    assert_private(&after_start);

    // A backup made with umask 000 is owner-only too.
    let backups = tempfile::tempdir().unwrap();
    let file = backups.path().join("orch-backup.db");
    let backup = without_umask(&server, &["server", "backup", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        backup.status.success(),
        "{}",
        String::from_utf8_lossy(&backup.stderr)
    );
    assert_private(&[file]);
}
