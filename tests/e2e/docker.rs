//! `docker` work pools on a real Docker engine: a run in a locally built
//! image completes with its logs, its parameters and a working run
//! credential; a flow over its memory limit is Crashed "out of memory"; a
//! cancel stops the container; a failed run's container is kept when asked;
//! a worker killed with SIGKILL and restarted adopts its running container
//! and reports it, with the flow executed once.
//!
//! The image is built here from `scratch` and the host's static busybox
//! (package busybox-static), tagged so that later runs reuse it. Without a
//! reachable engine every test is skipped with a message saying so.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use orch_e2e::docker::{docker, engine, test_image};
use orch_e2e::{TestServer, deployment_toml, write_deploy_file};

const WAIT: Duration = Duration::from_secs(60);

/// Ids of the containers (any state) labelled with run `run`.
fn containers_of(run: &str) -> Vec<String> {
    let filter = format!("label=orch.flow-run-id={run}");
    let output = docker(&["ps", "-aq", "--filter", &filter]);
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Waits (bounded) until run `run` has a running container; returns its id.
fn running_container(run: &str) -> String {
    let filter = format!("label=orch.flow-run-id={run}");
    let deadline = Instant::now() + WAIT;
    loop {
        let output = docker(&["ps", "-q", "--filter", &filter]);
        if let Some(id) = String::from_utf8_lossy(&output.stdout).lines().next() {
            return id.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "run {run} never had a running container"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A server with a docker pool `boxes` (defaults: the test image, never
/// pulled) and a deployment `box/NAME` running `sh -c SCRIPT` with `extra`
/// deploy-file lines. Returns the server and the deploy folder.
fn deploy(name: &str, script: &str, extra: &str) -> (TestServer, tempfile::TempDir) {
    let server = TestServer::start();
    let dir = deploy_on(&server, name, script, extra);
    (server, dir)
}

/// [`deploy`] on a server the test prepared (e.g. with secrets).
fn deploy_on(server: &TestServer, name: &str, script: &str, extra: &str) -> tempfile::TempDir {
    let image = test_image();
    server.ok(&[
        "work-pool",
        "create",
        "boxes",
        "--type",
        "docker",
        "--image",
        image,
        "--pull-policy",
        "never",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let text = deployment_toml("box", name, "boxes", &["/bin/sh", "-c", script], extra);
    let path = write_deploy_file(dir.path(), "orch.toml", &text);
    server.ok(&["deploy", path.to_str().unwrap()]);
    dir
}

/// The flow of the first test: logs, parameters, a secret, the server
/// reached at `ORCH_API_URL`, and the run's credential handed to the test
/// (through a mounted folder) while the run waits for the test's go-ahead.
const HELLO: &str = r#"echo "hello from $ORCH_FLOW_RUN_ID"
echo "parameters: $ORCH_PARAMETERS"
echo "token: $FLOW_TOKEN"
echo "a warning on stderr" >&2
wget -q -O /dev/null "$ORCH_API_URL/readyz" && echo "server reachable at $ORCH_API_URL" || exit 4
printf %s "$ORCH_API_KEY" > /out/key.tmp && mv /out/key.tmp /out/key
while [ ! -e /out/go ]; do sleep 0.1; done
echo "user $(id -u)"
"#;

/// Waits (bounded) for `path` to exist; returns its content.
fn wait_for_file(path: &Path) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(content) = std::fs::read_to_string(path) {
            return content;
        }
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_docker_run_completes_with_its_logs_parameters_secrets_and_run_credential() {
    if !engine() {
        return;
    }
    let started = Instant::now();
    let server = TestServer::start();
    server.set_secret("FLOW_TOKEN", "tok-5d1e9a77");
    let out = tempfile::tempdir().unwrap();
    // One line: the deploy file's arguments are plain text.
    let script = HELLO.trim().lines().collect::<Vec<_>>().join("; ");
    let extra = format!(
        "parameters = {{ city = \"Oslo\" }}\nsecrets = [\"FLOW_TOKEN\"]\nvolumes = [\"{}:/out\"]",
        out.path().display()
    );
    let _dir = deploy_on(&server, "hello", &script, &extra);
    let worker = server.start_worker("boxes", &[]);
    let run = server.run_deployment("box/hello", &["--param", "count=3"]);

    // The run's own credential reached the container and works for its run
    // (the gRPC API, as the SDK calls it), from nowhere but that key.
    let key = wait_for_file(&out.path().join("key"));
    assert!(!key.is_empty());
    let empty_home = tempfile::tempdir().unwrap();
    let inspected = Command::new(orch_e2e::binary("orch"))
        .args(["flow-run", "inspect", &run, "--output", "json"])
        .env("ORCH_HOME", empty_home.path())
        .env("ORCH_API_URL", server.url())
        .env("ORCH_API_KEY", &key)
        .output()
        .unwrap();
    assert!(
        inspected.status.success(),
        "the run key was refused: {}",
        String::from_utf8_lossy(&inspected.stderr)
    );
    assert!(String::from_utf8_lossy(&inspected.stdout).contains(&run));
    std::fs::write(out.path().join("go"), "").unwrap();

    let detail = server.wait_for_state(&run, &["COMPLETED", "FAILED", "CRASHED"], WAIT);
    let messages = server.log_messages(&run);
    assert_eq!(
        orch_e2e::state_type(&detail),
        "COMPLETED",
        "{detail:#}\nlogs: {messages:?}\nworker: {}",
        worker.output()
    );
    assert!(
        messages.contains(&format!("hello from {run}")),
        "{messages:?}"
    );
    let parameters = messages
        .iter()
        .find_map(|line| line.strip_prefix("parameters: "))
        .unwrap_or_else(|| panic!("no parameters line: {messages:?}"));
    let parameters: serde_json::Value = serde_json::from_str(parameters).unwrap();
    assert_eq!(parameters, serde_json::json!({"city": "Oslo", "count": 3}));
    // The secret reached the flow, and its value is masked in the logs.
    assert!(messages.contains(&"token: ***".to_owned()), "{messages:?}");
    assert!(
        !messages.iter().any(|m| m.contains("tok-5d1e9a77")),
        "{messages:?}"
    );
    assert!(
        messages.contains(&format!("server reachable at {}", server.url())),
        "{messages:?}"
    );
    assert!(
        messages.contains(&"a warning on stderr".to_owned()),
        "{messages:?}"
    );
    // Removed once reported.
    assert_eq!(containers_of(&run), Vec::<String>::new());
    let output = worker.output();
    assert!(output.contains("container orch-"), "{output}");
    eprintln!("docker: one run end to end in {:?}", started.elapsed());
}

#[test]
fn a_flow_over_its_memory_limit_is_crashed_out_of_memory() {
    if !engine() {
        return;
    }
    // dd's 64 MiB buffer does not fit in 16 MiB.
    let script = "echo allocating; exec dd if=/dev/zero of=/dev/null bs=64M count=1";
    let (server, _dir) = deploy("hog", script, "memory = \"16m\"");
    let _worker = server.start_worker("boxes", &[]);
    let run = server.run_deployment("box/hog", &[]);
    let detail = server.wait_for_state(&run, &["COMPLETED", "FAILED", "CRASHED"], WAIT);
    assert_eq!(orch_e2e::state_type(&detail), "CRASHED", "{detail:#}");
    let message = detail["state"]["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("out of memory"), "{message}");
    assert!(message.contains("16m"), "{message}");
    let messages = server.log_messages(&run);
    assert!(messages.contains(&"allocating".to_owned()), "{messages:?}");
}

#[test]
fn cancel_stops_the_container() {
    if !engine() {
        return;
    }
    let (server, _dir) = deploy("long", "echo waiting; sleep 300", "");
    let _worker = server.start_worker("boxes", &["--kill-grace-seconds", "2"]);
    let run = server.run_deployment("box/long", &[]);
    let container = running_container(&run);
    server.wait_for_state(&run, &["RUNNING"], WAIT);
    server.ok(&["flow-run", "cancel", &run]);
    let detail = server.wait_for_state(&run, &["CANCELLED", "CRASHED", "FAILED"], WAIT);
    assert_eq!(orch_e2e::state_type(&detail), "CANCELLED", "{detail:#}");
    // Stopped and removed: the engine no longer knows it.
    let inspect = docker(&["inspect", &container]);
    assert!(
        !inspect.status.success(),
        "container {container} is still there"
    );
}

#[test]
fn a_failed_runs_container_is_kept_when_asked() {
    if !engine() {
        return;
    }
    let (server, _dir) = deploy(
        "broken",
        "echo 'no such table' >&2; exit 3",
        "keep_container = true",
    );
    let _worker = server.start_worker("boxes", &[]);
    let run = server.run_deployment("box/broken", &[]);
    let detail = server.wait_for_state(&run, &["COMPLETED", "FAILED", "CRASHED"], WAIT);
    assert_eq!(orch_e2e::state_type(&detail), "FAILED", "{detail:#}");
    let message = detail["state"]["message"].as_str().unwrap_or_default();
    assert_eq!(message, "exit code 3; last stderr lines:\nno such table");
    let kept = containers_of(&run);
    assert_eq!(kept.len(), 1, "{kept:?}");
    let logs = docker(&["logs", &kept[0]]);
    assert_eq!(String::from_utf8_lossy(&logs.stderr), "no such table\n");
    docker(&["rm", "-f", &kept[0]]);
}

#[test]
fn a_worker_killed_and_restarted_adopts_its_container_without_a_second_execution() {
    if !engine() {
        return;
    }
    let ledger = tempfile::tempdir().unwrap();
    // Waits for the test's go-ahead file, so that the worker is dead and
    // back before the flow finishes, whatever the machine's speed.
    let script = "echo \"start $ORCH_FLOW_RUN_ID\" >> /ledger/ledger; \
                  while [ ! -e /ledger/go ]; do sleep 0.1; done; \
                  echo finishing; echo \"done $ORCH_FLOW_RUN_ID\" >> /ledger/ledger";
    let volume = format!("volumes = [\"{}:/ledger\"]", ledger.path().display());
    let (server, _dir) = deploy("adopted", script, &volume);
    let mut worker = server.start_worker("boxes", &["--name", "box-worker"]);
    let run = server.run_deployment("box/adopted", &[]);
    let container = running_container(&run);
    server.wait_for_state(&run, &["RUNNING"], WAIT);

    worker.kill();
    // The container outlives its worker.
    let state = docker(&["inspect", "-f", "{{.State.Running}}", &container]);
    assert_eq!(String::from_utf8_lossy(&state.stdout).trim(), "true");
    let worker = server.start_worker("boxes", &["--name", "box-worker"]);
    std::fs::write(ledger.path().join("go"), "").unwrap();

    let detail = server.wait_for_state(&run, &["COMPLETED", "FAILED", "CRASHED"], WAIT);
    assert_eq!(
        orch_e2e::state_type(&detail),
        "COMPLETED",
        "{detail:#}\nworker: {}",
        worker.output()
    );
    let lines = std::fs::read_to_string(ledger.path().join("ledger")).unwrap();
    assert_eq!(
        lines,
        format!("start {run}\ndone {run}\n"),
        "executed more than once"
    );
    // The run went through Running once: no retry, no second attempt.
    assert_eq!(detail["run_count"], 1, "{detail:#}");
    let history = detail["history"].as_array().cloned().unwrap_or_default();
    let running = history
        .iter()
        .filter(|state| {
            state["type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case("running"))
        })
        .count();
    assert_eq!(running, 1, "{detail:#}");
    assert!(server.log_messages(&run).contains(&"finishing".to_owned()));
    assert!(
        worker.output().contains(&format!("adopted run {run}")),
        "{}",
        worker.output()
    );
    assert_eq!(containers_of(&run), Vec::<String>::new());
}

#[test]
fn bad_container_settings_are_refused_with_what_to_do() {
    // No engine needed: the CLI and the server check the settings.
    let server = TestServer::start();
    let refused = |args: &[&str]| {
        let output = server.run(args);
        assert!(!output.status.success(), "orch {args:?} was accepted");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let error = refused(&[
        "work-pool",
        "create",
        "b",
        "--type",
        "docker",
        "--memory",
        "lots",
    ]);
    assert!(error.contains("memory \"lots\" is not a size"), "{error}");
    let error = refused(&[
        "work-pool",
        "create",
        "b",
        "--type",
        "docker",
        "--pull-policy",
        "always",
    ]);
    assert!(error.contains("\"never\" or \"if-missing\""), "{error}");
    let error = refused(&["work-pool", "create", "p", "--image", "flows:1"]);
    assert!(error.contains("create it with --type docker"), "{error}");
    let error = refused(&["work-pool", "create", "k", "--type", "kubernetes"]);
    assert!(
        error.contains("supported types are process, docker"),
        "{error}"
    );

    server.ok(&["work-pool", "create", "boxes", "--type", "docker"]);
    let dir = tempfile::tempdir().unwrap();
    let text = deployment_toml(
        "box",
        "bad",
        "boxes",
        &["/bin/true"],
        "volumes = [\"data\"]",
    );
    let path = write_deploy_file(dir.path(), "orch.toml", &text);
    let error = refused(&["deploy", path.to_str().unwrap()]);
    assert!(error.contains("orch.toml:6:"), "{error}");
    assert!(error.contains("is not SOURCE:TARGET"), "{error}");
}

/// The seconds of a line of `times` (`0m1.980s 0m0.020s`: user, system).
fn times_line(line: &str) -> Option<Vec<f64>> {
    line.split(' ')
        .map(|figure| {
            let (minutes, seconds) = figure.strip_suffix('s')?.split_once('m')?;
            Some(minutes.parse::<f64>().ok()? * 60.0 + seconds.parse::<f64>().ok()?)
        })
        .collect()
}

#[test]
fn a_docker_runs_cpu_peak_memory_and_wall_time_are_reported_like_a_process_runs() {
    if !engine() {
        return;
    }
    // dd holds a 64 MiB buffer; a shell loop burns CPU for 2 s; `times`
    // says what the shell and its children used; the flow then idles past
    // the engine's next stats sample, which sees the totals.
    let script = "dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; \
                  timeout 2 sh -c 'while :; do :; done'; times; sleep 2";
    let (server, _dir) = deploy("burn", script, "");
    let _worker = server.start_worker("boxes", &[]);
    let started = Instant::now();
    let run = server.run_deployment("box/burn", &[]);
    let detail = server.wait_for_state(&run, &["COMPLETED", "FAILED", "CRASHED"], WAIT);
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(orch_e2e::state_type(&detail), "COMPLETED", "{detail:#}");
    let usage = &detail.get("run").unwrap_or(&detail)["usage"];
    assert!(usage.is_object(), "no usage reported: {detail:#}");

    // The flow's own account: the shell's line, then its children's.
    let messages = server.log_messages(&run);
    let figures: Vec<f64> = messages
        .iter()
        .filter_map(|line| times_line(line))
        .flatten()
        .collect();
    assert_eq!(figures.len(), 4, "the flow's `times`: {messages:?}");
    let flow_cpu: f64 = figures.iter().sum();
    let cpu = usage["cpu_seconds"].as_f64().unwrap();
    let user = usage["cpu_user_seconds"].as_f64().unwrap();
    let system = usage["cpu_system_seconds"].as_f64().unwrap();
    assert!((user + system - cpu).abs() < 1e-3, "{usage:#}");
    // The container's cgroup also counts what `times` cannot see (the
    // shell's start, sleep): a little more, never less beyond tick rounding.
    assert!(
        cpu >= flow_cpu * 0.9 - 0.05 && cpu <= flow_cpu + 0.3,
        "CPU {cpu:.3} s reported, the flow measured {flow_cpu:.3} s: {usage:#}"
    );
    assert!(flow_cpu > 0.1, "the flow burned no CPU: {messages:?}");
    let peak = usage["max_rss_bytes"].as_f64().unwrap() / (1024.0 * 1024.0);
    assert!(
        (64.0..=64.0 + 32.0).contains(&peak),
        "peak memory {peak:.1} MiB, expected 64 MiB and a little: {usage:#}"
    );
    let wall = usage["wall_seconds"].as_f64().unwrap();
    assert!(
        wall >= 4.0 && wall <= elapsed,
        "wall time {wall:.3} s: the flow ran at least 4 s, within the test's {elapsed:.3} s"
    );
    eprintln!(
        "docker usage: CPU {cpu:.3} s reported, {flow_cpu:.3} s by the flow's `times`; \
         peak {peak:.1} MiB; wall {wall:.3} s"
    );
}
