//! The flow guard: a worker killed with `kill -9` takes its flows' whole
//! process groups with it at once, without waiting for another worker; a
//! guard that dies is restarted and told the flows already running.

use std::path::Path;
use std::time::{Duration, Instant};

use orch_e2e::{TestServer, deployment_toml, guard_of};

/// How long the guard may take to kill a dead worker's flows.
const KILLED_WITHIN: Duration = Duration::from_secs(10);

fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `/proc/PID/stat` fields after the command name: state, ppid, ...
fn stat(pid: u32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &text[text.rfind(')')? + 1..];
    Some(after.split_ascii_whitespace().map(str::to_owned).collect())
}

/// Whether `pid` runs (a zombie left unreaped by a container's init does not).
fn alive(pid: u32) -> bool {
    stat(pid).is_some_and(|fields| fields[0] != "Z" && fields[0] != "X")
}

/// A server, a worker without a sandbox, and a run whose flow leaves a
/// process in the background (in its group); that process's pid.
fn flow_with_a_background_process(
    server: &TestServer,
    out: &Path,
) -> (orch_e2e::Daemon, u32, tempfile::TempDir) {
    let file = out.join("background.pid");
    let script = format!("sleep 300 & echo $! > {}; wait", file.display());
    let dir = server.deploy(
        "pool",
        &deployment_toml("f", "group", "pool", &["sh", "-c", &script], ""),
    );
    let worker = server.start_worker("pool", &["--isolation", "none"]);
    server.run_deployment("f/group", &[]);
    let mut background = None;
    wait_until(
        "the flow started its background process",
        KILLED_WITHIN * 6,
        || {
            background = std::fs::read_to_string(&file)
                .ok()
                .and_then(|text| text.trim().parse().ok());
            background.is_some()
        },
    );
    let background = background.expect("read above");
    assert!(alive(background));
    (worker, background, dir)
}

#[test]
fn a_worker_killed_with_sigkill_takes_its_flows_whole_groups_with_it_at_once() {
    let server = TestServer::start();
    let out = tempfile::tempdir().unwrap();
    let (mut worker, background, _dir) = flow_with_a_background_process(&server, out.path());
    assert!(guard_of(worker.pid()).is_some(), "the worker has no guard");
    worker.kill();
    // No other worker starts: the guard alone kills the group.
    wait_until(
        "the dead worker's flow (its background process) is killed",
        KILLED_WITHIN,
        || !alive(background),
    );
}

#[test]
fn a_guard_that_dies_is_restarted_and_told_the_running_flows() {
    let server = TestServer::start();
    let out = tempfile::tempdir().unwrap();
    let (mut worker, background, _dir) = flow_with_a_background_process(&server, out.path());
    let first = guard_of(worker.pid()).expect("the worker's flow guard");
    let status = std::process::Command::new("kill")
        .args(["-KILL", &first.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut second = None;
    wait_until("the guard is restarted", KILLED_WITHIN, || {
        second = guard_of(worker.pid()).filter(|pid| *pid != first);
        second.is_some()
    });
    // Its first guard's death killed nothing.
    assert!(alive(background));
    worker.kill();
    let deadline = Instant::now() + KILLED_WITHIN;
    while alive(background) {
        assert!(
            Instant::now() < deadline,
            "the restarted guard did not kill the dead worker's flow within \
             {KILLED_WITHIN:?}; the worker's output:\n{}",
            worker.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
