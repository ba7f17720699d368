//! A database on a filesystem that fills up: every acknowledged run and log
//! line survives, writes fail loudly while nothing can be stored, and the
//! server recovers by itself once space is freed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use orch_e2e::{TestServer, deployment_toml, flow_program};

use super::http::request;

const WAIT: Duration = Duration::from_secs(90);

/// A small tmpfs mounted for the test and unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts `size_kib` of tmpfs. The suite runs as root (CI does); set
    /// ORCH_SKIP_MOUNT_TESTS=1 where mounting is impossible.
    fn mount(size_kib: u32) -> Option<Tmpfs> {
        if std::env::var_os("ORCH_SKIP_MOUNT_TESTS").is_some() {
            eprintln!("ORCH_SKIP_MOUNT_TESTS is set: skipping the full-disk test");
            return None;
        }
        let dir = tempfile::tempdir().expect("mount point");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_kib}k"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "cannot mount a tmpfs on {} (the full-disk test needs root; set ORCH_SKIP_MOUNT_TESTS=1 to skip it)",
            dir.path().display()
        );
        Some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills what is left with a file; returns its path.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.path().join("filler");
        let mut file = std::fs::File::create(&path).expect("filler file");
        let chunk = vec![0_u8; 4096];
        while file.write_all(&chunk).is_ok() {}
        let _ = file.sync_all();
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// `POST .../runs`: the new run's id when the server acknowledged it (201),
/// else the status and body of the refusal.
fn create_run(server: &TestServer, deployment: &str, pad: usize) -> Result<String, (u16, String)> {
    let body = serde_json::json!({ "parameters": { "pad": "x".repeat(pad) } }).to_string();
    let answer = request(
        server,
        "POST",
        &format!("/api/deployments/{deployment}/runs"),
        body.as_bytes(),
    );
    if answer.status == 201 {
        Ok(answer.json()["id"].as_str().expect("a run id").to_owned())
    } else {
        Err((answer.status, answer.body))
    }
}

fn assert_stored(server: &TestServer, runs: &[String], when: &str) {
    for run in runs {
        let answer = request(server, "GET", &format!("/api/flow-runs/{run}"), b"");
        assert_eq!(
            answer.status, 200,
            "{when}: acknowledged run {run} is not stored: {}",
            answer.body
        );
    }
}

fn status_json(server: &TestServer) -> serde_json::Value {
    server.json(&["server", "status"])
}

fn wait_for_lines(server: &TestServer, run: &str, count: usize) {
    let deadline = Instant::now() + WAIT;
    while server.log_messages(run).len() < count {
        assert!(
            Instant::now() < deadline,
            "run {run} never had {count} log lines"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_disk_that_fills_up_loses_no_acknowledged_run_or_log_line() {
    let Some(disk) = Tmpfs::mount(6 * 1024) else {
        return;
    };
    let database = format!("sqlite://{}/orch.db", disk.path().display());
    let mut server = TestServer::start_on(&database, &[]);
    let gate_dir = tempfile::tempdir().unwrap();
    let gate = gate_dir.path().join("go");
    let gate_arg = gate.to_str().unwrap();
    let deploy_dir = server.deploy(
        "pool",
        &deployment_toml(
            "f",
            "halves",
            "pool",
            &[&flow_program("halves.sh"), gate_arg],
            "",
        ),
    );
    // Runs created while the disk is full wait on a pool no worker serves.
    server.ok(&["work-pool", "create", "idle", "--type", "process"]);
    let idle = orch_e2e::write_deploy_file(
        deploy_dir.path(),
        "idle.toml",
        &deployment_toml("f", "idle", "idle", &["true"], ""),
    );
    server.ok(&["deploy", idle.to_str().unwrap()]);
    let _worker = server.start_worker("pool", &["--heartbeat-seconds", "1"]);

    // A run that has logged half its lines when the disk fills up.
    let logging = server.run_deployment("f/halves", &[]);
    wait_for_lines(&server, &logging, 150);

    let mut acknowledged = Vec::new();
    for _ in 0..5 {
        acknowledged
            .push(create_run(&server, "f/idle", 100).expect("room for runs before the disk fills"));
    }
    let filler = disk.fill();

    // Write until writes fail, checking each acknowledged run at once.
    let mut refused = 0;
    let mut reported_failing = false;
    for _ in 0..200 {
        match create_run(&server, "f/idle", 16 * 1024) {
            Ok(run) => {
                assert_stored(&server, std::slice::from_ref(&run), "while the disk fills");
                acknowledged.push(run);
            }
            Err((status, body)) => {
                assert_eq!(status, 503, "a write the disk cannot hold is a 503: {body}");
                assert!(body.contains("nothing was stored"), "{body}");
                refused += 1;
                let status = status_json(&server);
                if status["database_writable"] == false {
                    reported_failing = true;
                    let error = status["database_write_error"].as_str().unwrap_or_default();
                    assert!(error.contains("full"), "{status:#}");
                }
                if refused >= 5 {
                    break;
                }
            }
        }
    }
    assert!(
        refused >= 5,
        "the disk never filled up: {} runs were stored",
        acknowledged.len()
    );
    assert!(
        reported_failing,
        "`orch server status` never reported the failing writes"
    );
    // The flow prints its second half into a full disk: the worker must hold
    // the lines and its final report until they can be stored.
    std::fs::write(&gate, "").unwrap();
    std::thread::sleep(Duration::from_secs(2));
    assert_stored(&server, &acknowledged, "with the disk full");

    // Space comes back: writes succeed again without a restart.
    std::fs::remove_file(filler).unwrap();
    let mut after = Vec::new();
    for _ in 0..10 {
        let run =
            create_run(&server, "f/idle", 100).expect("creations succeed once space is freed");
        after.push(run);
    }
    acknowledged.extend(after);
    assert_stored(&server, &acknowledged, "after space was freed");
    let detail = server.wait_for_state(&logging, &["COMPLETED", "FAILED", "CRASHED"], WAIT);
    assert_eq!(orch_e2e::state_type(&detail), "COMPLETED", "{detail:#}");
    let expected: Vec<String> = (1..=300).map(|i| format!("line {i}")).collect();
    assert_eq!(server.log_messages(&logging), expected);
    let status = status_json(&server);
    assert_eq!(status["database_writable"], true, "{status:#}");

    // And all of it is on disk, not only in a connection's open transaction.
    server.restart();
    assert_stored(&server, &acknowledged, "after a restart");
    assert_eq!(server.log_messages(&logging), expected);
    drop(server);
}
