//! A private PostgreSQL server per test process, and a fresh database per test.
//!
//! The first [`fresh_database`] call of a process runs `initdb` into a new
//! folder under the temp dir and starts `postgres` on a free loopback port,
//! tuned for throwaway data (no fsync, no full-page writes). Every call then
//! creates an empty database on that server; dropping the [`TempDatabase`]
//! drops the database. The server dies with the test process (parent-death
//! signal), and the next process to start one removes the folders left behind.
//!
//! The binaries come from `ORCH_TEST_PG_BIN` if set, else the newest
//! `/usr/lib/postgresql/*/bin` (Debian's `postgresql` package, which `.ci/run`
//! installs), else `PATH`. PostgreSQL refuses to run as root, so a root test
//! process runs it as the `postgres` user that the package creates.

use std::fs::File;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::{Gid, Pid, Uid, User};

pub(crate) const INSTALL_HINT: &str = "install PostgreSQL with `apt-get install -y postgresql` \
     (.ci/run does it), or set ORCH_TEST_PG_BIN to the folder holding initdb and postgres";
/// Folders `<temp>/orch-test-pg-<pid>` hold each process's server.
const FOLDER_PREFIX: &str = "orch-test-pg-";
/// The superuser `initdb` creates; loopback connections need no password.
pub(crate) const SUPERUSER: &str = "orch";
const READY_TIMEOUT: Duration = Duration::from_secs(60);

static SERVER: OnceLock<Server> = OnceLock::new();
static DATABASES: AtomicU64 = AtomicU64::new(0);

/// An empty database on the test process's PostgreSQL server; dropped with this value.
#[derive(Debug)]
pub struct TempDatabase {
    url: String,
    name: String,
}

impl TempDatabase {
    /// `postgres://orch@127.0.0.1:PORT/NAME`, ready for `Store::connect` or `--database-url`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        if let Some(server) = SERVER.get() {
            // --force ends the connections of pools that outlive this value.
            let _ = server
                .client("dropdb")
                .args(["--force", "--if-exists", &self.name])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Creates an empty database, first starting this process's server if needed.
///
/// Panics, saying what to install, when PostgreSQL is missing: a test that
/// needs it fails rather than skips.
pub fn fresh_database() -> TempDatabase {
    let server = SERVER.get_or_init(Server::start);
    let name = format!("orch_test_{}", DATABASES.fetch_add(1, Ordering::Relaxed));
    let output = server
        .client("createdb")
        .arg(&name)
        .output()
        .unwrap_or_else(|e| panic!("cannot run createdb: {e}; {INSTALL_HINT}"));
    assert!(
        output.status.success(),
        "createdb {name} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    TempDatabase {
        url: format!("postgres://{SUPERUSER}@127.0.0.1:{}/{name}", server.port),
        name,
    }
}

struct Server {
    bin: PathBuf,
    port: u16,
}

impl Server {
    fn start() -> Server {
        let bin = binaries();
        let owner = unprivileged_owner();
        remove_abandoned_folders();
        let folder = std::env::temp_dir().join(format!("{FOLDER_PREFIX}{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&folder);
        std::fs::create_dir_all(&folder)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", folder.display()));
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&folder, Some(uid.as_raw()), Some(gid.as_raw()))
                .unwrap_or_else(|e| panic!("cannot hand {} to postgres: {e}", folder.display()));
        }
        let data = folder.join("data");
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args(["-U", SUPERUSER, "--auth=trust", "--no-sync", "-E", "UTF8"])
            .arg("--no-locale");
        let output = run_as(&mut initdb, owner).output().unwrap_or_else(|e| {
            panic!(
                "cannot run {}: {e}; {INSTALL_HINT}",
                bin.join("initdb").display()
            )
        });
        assert!(
            output.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );

        let port = free_port();
        let log_path = folder.join("postgres.log");
        let log = File::create(&log_path).expect("create postgres.log");
        let mut postgres = Command::new(bin.join("postgres"));
        postgres
            .arg("-D")
            .arg(&data)
            // TCP on loopback only: no Unix socket, whose path could exceed
            // the 107-byte limit under a long TMPDIR.
            .args(["-p", &port.to_string(), "-h", "127.0.0.1", "-k", ""])
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off", "-c", "max_connections=400"])
            // Containers often give /dev/shm only 64 MB; files in the data folder always work.
            .args(["-c", "dynamic_shared_memory_type=mmap"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log);
        run_as(&mut postgres, owner);
        // SAFETY: prctl is async-signal-safe; it only marks this child to get
        // SIGINT (a fast, clean shutdown) when the thread that forked it ends.
        unsafe {
            postgres.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(Signal::SIGINT).map_err(std::io::Error::from)
            });
        }
        let exited = spawn_for_life(postgres);

        let server = Server { bin, port };
        wait_until_ready(&server.bin, port, &log_path, || exited.get().cloned());
        server
    }

    /// A client program (createdb, dropdb, pg_isready, psql) aimed at this server.
    fn client(&self, program: &str) -> Command {
        client(&self.bin, self.port, program)
    }
}

/// A client program (createdb, dropdb, pg_isready, psql) of `bin` aimed at
/// the server on loopback `port`.
pub(crate) fn client(bin: &Path, port: u16, program: &str) -> Command {
    let mut command = Command::new(bin.join(program));
    command.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", SUPERUSER]);
    command
}

/// Waits until the server on `port` accepts connections; panics with its
/// log when `exited` reports that it ended, or after [`READY_TIMEOUT`].
pub(crate) fn wait_until_ready(
    bin: &Path,
    port: u16,
    log_path: &Path,
    mut exited: impl FnMut() -> Option<String>,
) {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = exited() {
            panic!(
                "postgres exited ({status}) before accepting connections:\n{}",
                std::fs::read_to_string(log_path).unwrap_or_default()
            );
        }
        let ready = client(bin, port, "pg_isready")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ready {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "postgres did not accept connections within {READY_TIMEOUT:?}:\n{}",
            std::fs::read_to_string(log_path).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Spawns `command` from a thread that lives as long as the child, so the
/// parent-death signal fires only when the test process itself ends. The
/// returned cell is set if the child exits first.
fn spawn_for_life(mut command: Command) -> Arc<OnceLock<String>> {
    let exited = Arc::new(OnceLock::new());
    let report = Arc::clone(&exited);
    std::thread::Builder::new()
        .name("test-postgres".into())
        .spawn(move || {
            let status = match command.spawn() {
                Ok(mut child) => child.wait().map(|s| s.to_string()),
                Err(e) => Err(e),
            };
            let _ =
                report.set(status.unwrap_or_else(|e| format!("cannot start: {e}; {INSTALL_HINT}")));
        })
        .expect("spawn the postgres thread");
    exited
}

/// Runs `command` as `owner`, when there is one.
pub(crate) fn run_as(command: &mut Command, owner: Option<(Uid, Gid)>) -> &mut Command {
    if let Some((uid, gid)) = owner {
        command.uid(uid.as_raw()).gid(gid.as_raw());
    }
    command
}

/// `ORCH_TEST_PG_BIN`, the newest Debian PostgreSQL, or the folder of `initdb` on PATH.
pub(crate) fn binaries() -> PathBuf {
    if let Some(dir) = std::env::var_os("ORCH_TEST_PG_BIN") {
        return PathBuf::from(dir);
    }
    let debian = Path::new("/usr/lib/postgresql");
    let newest = std::fs::read_dir(debian)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .max_by_key(|(version, _)| *version);
    if let Some((_, bin)) = newest {
        return bin;
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .find(|dir| dir.join("initdb").is_file())
        .unwrap_or_else(|| panic!("PostgreSQL's initdb was not found; {INSTALL_HINT}"))
}

/// `None` for an ordinary user; the `postgres` user's ids when running as root.
pub(crate) fn unprivileged_owner() -> Option<(Uid, Gid)> {
    if !Uid::effective().is_root() {
        return None;
    }
    match User::from_name("postgres") {
        Ok(Some(user)) => Some((user.uid, user.gid)),
        _ => panic!(
            "running as root, PostgreSQL must run as another user, and there is no `postgres` user; {INSTALL_HINT}"
        ),
    }
}

/// Removes the folders of earlier test processes that have ended.
fn remove_abandoned_folders() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(FOLDER_PREFIX))
            .and_then(|pid| pid.parse::<i32>().ok())
        else {
            continue;
        };
        if kill(Pid::from_raw(pid), None) == Err(nix::errno::Errno::ESRCH) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free loopback port")
}
