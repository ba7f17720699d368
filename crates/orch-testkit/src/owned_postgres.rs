//! A PostgreSQL server owned by one test, which the test may stop and start
//! again (to see how orch behaves while its database is unreachable). The
//! shared per-process server of [`crate::postgres`] cannot be stopped: other
//! tests use it.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use nix::sys::signal::{Signal, kill};
use nix::unistd::{Gid, Pid, Uid};

use crate::postgres::{
    INSTALL_HINT, SUPERUSER, binaries, client, free_port, run_as, unprivileged_owner,
    wait_until_ready,
};

/// A private PostgreSQL server with one database, `orch`; stopped on drop.
#[derive(Debug)]
pub struct OwnedPostgres {
    bin: PathBuf,
    owner: Option<(Uid, Gid)>,
    folder: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl OwnedPostgres {
    /// Creates a cluster in a temporary folder, starts it on a free loopback
    /// port and creates the database `orch`. Panics, saying what to install,
    /// when PostgreSQL is missing.
    pub fn start() -> OwnedPostgres {
        let bin = binaries();
        let owner = unprivileged_owner();
        let folder = tempfile::Builder::new()
            .prefix("orch-test-pg-owned-")
            .tempdir()
            .expect("temp folder");
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(folder.path(), Some(uid.as_raw()), Some(gid.as_raw()))
                .expect("hand the folder to postgres");
        }
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(folder.path().join("data"))
            .args(["-U", SUPERUSER, "--auth=trust", "--no-sync", "-E", "UTF8"])
            .arg("--no-locale");
        let output = run_as(&mut initdb, owner)
            .output()
            .unwrap_or_else(|e| panic!("cannot run initdb: {e}; {INSTALL_HINT}"));
        assert!(
            output.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let mut server = OwnedPostgres {
            bin,
            owner,
            folder,
            port: free_port(),
            child: None,
        };
        server.resume();
        let output = server
            .client("createdb")
            .arg("orch")
            .output()
            .expect("run createdb");
        assert!(
            output.status.success(),
            "createdb failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        server
    }

    /// `postgres://orch@127.0.0.1:PORT/orch`.
    pub fn url(&self) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/orch", self.port)
    }

    /// Stops the server (fast shutdown: open connections are closed) and
    /// waits until it has exited.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGINT);
            let _ = child.wait();
        }
    }

    /// Starts the stopped server again on the same port and data; returns
    /// once it accepts connections.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "the server is running already");
        let log_path = self.folder.path().join("postgres.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("open postgres.log");
        let mut postgres = Command::new(self.bin.join("postgres"));
        postgres
            .arg("-D")
            .arg(self.folder.path().join("data"))
            .args(["-p", &self.port.to_string(), "-h", "127.0.0.1", "-k", ""])
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "dynamic_shared_memory_type=mmap"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log);
        run_as(&mut postgres, self.owner);
        // SAFETY: prctl is async-signal-safe; the server gets SIGINT if the
        // thread that started it ends without stopping it.
        unsafe {
            postgres.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(Signal::SIGINT).map_err(std::io::Error::from)
            });
        }
        let mut child = postgres
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start postgres: {e}; {INSTALL_HINT}"));
        wait_until_ready(&self.bin, self.port, &log_path, || {
            child
                .try_wait()
                .ok()
                .flatten()
                .map(|status| status.to_string())
        });
        self.child = Some(child);
    }

    fn client(&self, program: &str) -> Command {
        client(&self.bin, self.port, program)
    }
}

impl Drop for OwnedPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}
