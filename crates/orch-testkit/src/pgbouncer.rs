//! PgBouncer in front of a test database, as operators run it in front of
//! PostgreSQL (docs/operations.md "PgBouncer").
//!
//! The binary comes from `ORCH_TEST_PGBOUNCER` if set, else
//! `/usr/sbin/pgbouncer` (Debian's `pgbouncer` package, which `.ci/run`
//! installs), else `PATH`. PgBouncer refuses to run as root, so a root test
//! process runs it as the `postgres` user, like PostgreSQL itself.

use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::postgres::{free_port, run_as, unprivileged_owner};

const INSTALL_HINT: &str = "install PgBouncer with `apt-get install -y pgbouncer` (.ci/run does \
     it), or set ORCH_TEST_PGBOUNCER to its binary";
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// PgBouncer's `pool_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolMode {
    /// A client connection keeps its server connection until it closes.
    Session,
    /// A client gets a server connection for one transaction at a time.
    Transaction,
}

/// A PgBouncer process pooling one database; stopped when dropped.
#[derive(Debug)]
pub struct PgBouncer {
    child: Child,
    url: String,
    log: PathBuf,
    _folder: tempfile::TempDir,
}

impl PgBouncer {
    /// Starts PgBouncer on a free loopback port in front of `database_url`
    /// (a `postgres://USER@HOST:PORT/NAME` URL of the test server) in `mode`,
    /// with at most `server_connections` server connections.
    ///
    /// Panics, saying what to install, when PgBouncer is missing.
    pub fn start(database_url: &str, mode: PoolMode, server_connections: u32) -> PgBouncer {
        let (user, host, port, name) = parts(database_url);
        let owner = unprivileged_owner();
        let folder = tempfile::Builder::new()
            .prefix("orch-test-pgbouncer-")
            .tempdir()
            .expect("a temp folder");
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(folder.path(), Some(uid.as_raw()), Some(gid.as_raw()))
                .expect("hand the folder to postgres");
        }
        let listen_port = free_port();
        let log = folder.path().join("pgbouncer.log");
        let users = folder.path().join("userlist.txt");
        std::fs::write(&users, format!("\"{user}\" \"\"\n")).expect("write userlist.txt");
        let config = folder.path().join("pgbouncer.ini");
        std::fs::write(
            &config,
            format!(
                "[databases]\n\
                 {name} = host={host} port={port} dbname={name}\n\
                 [pgbouncer]\n\
                 listen_addr = 127.0.0.1\n\
                 listen_port = {listen_port}\n\
                 unix_socket_dir =\n\
                 auth_type = trust\n\
                 auth_file = {users}\n\
                 pool_mode = {mode}\n\
                 default_pool_size = {server_connections}\n\
                 max_client_conn = 500\n\
                 ignore_startup_parameters = extra_float_digits,options\n\
                 logfile = {log}\n",
                users = users.display(),
                log = log.display(),
                mode = match mode {
                    PoolMode::Session => "session",
                    PoolMode::Transaction => "transaction",
                },
            ),
        )
        .expect("write pgbouncer.ini");
        for file in [&users, &config] {
            if let Some((uid, gid)) = owner {
                std::os::unix::fs::chown(file, Some(uid.as_raw()), Some(gid.as_raw()))
                    .expect("hand the file to postgres");
            }
        }
        let mut command = Command::new(binary());
        command
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        run_as(&mut command, owner);
        // SAFETY: prctl is async-signal-safe; PgBouncer ends with the thread
        // (the test) that started it, even if the test process is killed.
        unsafe {
            command.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).map_err(std::io::Error::from)
            });
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start pgbouncer: {e}; {INSTALL_HINT}"));
        let mut bouncer = PgBouncer {
            child,
            url: format!("postgres://{user}@127.0.0.1:{listen_port}/{name}"),
            log,
            _folder: folder,
        };
        bouncer.wait_until_listening(listen_port);
        bouncer
    }

    /// `postgres://USER@127.0.0.1:PORT/NAME` through PgBouncer.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// PgBouncer's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_until_listening(&mut self, port: u16) {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("pgbouncer exited ({status}) at start:\n{}", self.log());
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "pgbouncer did not listen within {READY_TIMEOUT:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `ORCH_TEST_PGBOUNCER`, Debian's `/usr/sbin/pgbouncer`, or `pgbouncer` on PATH.
fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("ORCH_TEST_PGBOUNCER") {
        return PathBuf::from(path);
    }
    let debian = PathBuf::from("/usr/sbin/pgbouncer");
    if debian.is_file() {
        return debian;
    }
    PathBuf::from("pgbouncer")
}

/// `(user, host, port, database)` of `postgres://USER@HOST:PORT/NAME`.
fn parts(url: &str) -> (String, String, String, String) {
    let rest = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split('?')
        .next()
        .unwrap_or_default();
    let (user, rest) = rest
        .split_once('@')
        .unwrap_or_else(|| panic!("no user in {url}"));
    let (address, name) = rest
        .split_once('/')
        .unwrap_or_else(|| panic!("no database in {url}"));
    let (host, port) = address
        .split_once(':')
        .unwrap_or_else(|| panic!("no port in {url}"));
    (user.into(), host.into(), port.into(), name.into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn splits_a_test_database_url() {
        assert_eq!(
            super::parts("postgres://orch@127.0.0.1:5433/orch_test_1"),
            (
                "orch".into(),
                "127.0.0.1".into(),
                "5433".into(),
                "orch_test_1".into()
            )
        );
    }
}
