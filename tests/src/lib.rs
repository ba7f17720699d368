//! Test harness for end-to-end tests: boots the real `orch` binary (server and
//! workers) on ephemeral loopback ports with a temporary home and database, and
//! runs CLI commands against it as a user would.

pub mod bench;
pub mod browser;
mod http;
pub use http::{http_get, http_get_with, http_post};
pub mod docker;
pub mod hosts;
pub mod otlp;
mod process;
pub mod receivers;
pub mod seed;
pub mod seed_postgres;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub use orch_store::Backend;
pub use process::{Daemon, guard_of, host_pid};
use serde_json::Value;

/// Runs `orch ARGS` in a fresh home with `env` in its environment and
/// `config` as its config file, bounded: a command (a server, a worker)
/// that starts instead of refusing is killed and reported. Returns its
/// stderr; panics if it succeeded.
pub fn refused_at_start(args: &[&str], env: &[(&str, &str)], config: &str) -> String {
    let home = tempfile::tempdir().expect("temp home");
    std::fs::write(home.path().join("config.toml"), config).expect("write the config file");
    let mut command = Command::new(binary("orch"));
    command
        .args(args)
        .env("ORCH_HOME", home.path())
        .env_remove("ORCH_API_URL")
        .env_remove("ORCH_DATABASE_URL")
        .envs(env.iter().copied());
    refused(command, &format!("orch {}", args.join(" ")))
}

/// Runs `command` (described by `what`), which must fail within 20 s;
/// returns its stderr. One still running then is killed and reported.
pub fn refused(mut command: Command, what: &str) -> String {
    use std::process::Stdio;
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the command");
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`{what}` kept running instead of refusing its input");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().expect("its output");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "`{what}` succeeded: {stderr}");
    stderr
}

/// Path of a binary built by this workspace (`orch`, ...), next to the test
/// executable, or in `ORCH_BIN_DIR` when set (a bench built in debug driving
/// release binaries: `ORCH_BIN_DIR=target/release`).
pub fn binary(name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("ORCH_BIN_DIR") {
        let path = PathBuf::from(dir).join(name);
        assert!(path.exists(), "{} is not built", path.display());
        return path;
    }
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executables live in target/<profile>/deps")
        .to_path_buf();
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run the tests with `cargo test --workspace`, which builds it",
        path.display()
    );
    path
}

/// Folder of this crate's fixture programs and files.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// A running `orch server` with its own home folder and, unless given one,
/// its own SQLite database.
pub struct TestServer {
    home: tempfile::TempDir,
    database_url: String,
    daemon: Option<Daemon>,
    /// The PostgreSQL database of [`TestServer::start_for`], dropped after the server.
    _database: Option<orch_testkit::TestDatabase>,
    url: String,
    port: u16,
    extra_args: Vec<String>,
    /// Started with `orch server start --background` by the test: stopped
    /// with `orch server stop` on drop.
    background: bool,
    /// Extra environment of the server process (e.g. automation receivers).
    server_env: Vec<(String, String)>,
}

impl TestServer {
    /// Starts a server on an ephemeral port.
    pub fn start() -> TestServer {
        Self::start_with(&[])
    }

    /// Starts a server with extra `orch server start` arguments.
    pub fn start_with(extra_args: &[&str]) -> TestServer {
        Self::start_on("", extra_args)
    }

    /// Starts a server on a fresh database of `backend`: a SQLite file in its
    /// home, or a new database on the test process's PostgreSQL server.
    pub fn start_for(backend: Backend) -> TestServer {
        match backend {
            Backend::Sqlite => Self::start(),
            Backend::Postgres => {
                let database = orch_testkit::TestDatabase::postgres();
                let mut server = Self::start_on(database.url(), &[]);
                server._database = Some(database);
                server
            }
        }
    }

    /// Starts a server on `database_url` (e.g. a PostgreSQL database that
    /// several servers share); empty for a SQLite file in its home.
    pub fn start_on(database_url: &str, extra_args: &[&str]) -> TestServer {
        Self::start_with_env(database_url, extra_args, &[])
    }

    /// Starts a server (on `database_url`, empty for its own SQLite file)
    /// with extra `orch server start` arguments, whose process has `env` in
    /// its environment.
    pub fn start_with_env(
        database_url: &str,
        extra_args: &[&str],
        env: &[(&str, &str)],
    ) -> TestServer {
        let mut server = TestServer {
            home: tempfile::tempdir().expect("temp home"),
            database_url: database_url.to_owned(),
            daemon: None,
            _database: None,
            url: String::new(),
            port: 0,
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            background: false,
            server_env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        if server.database_url.is_empty() {
            server.database_url = format!("sqlite://{}/orch.db", server.home.path().display());
        }
        server.boot();
        server
    }

    /// A server the test started itself with `orch server start --background`
    /// in `home`, answering at `url`; `orch server stop` stops it on drop.
    pub fn background(home: tempfile::TempDir, url: &str) -> TestServer {
        TestServer {
            database_url: format!("sqlite://{}/orch.db", home.path().display()),
            home,
            daemon: None,
            _database: None,
            url: url.to_string(),
            port: url
                .rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or(0),
            extra_args: Vec::new(),
            background: true,
            server_env: Vec::new(),
        }
    }

    /// The server process's id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.daemon.as_ref().map(Daemon::pid)
    }

    /// The server's `--database-url` (a SQLite file in its home, or PostgreSQL).
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    /// What the server process wrote so far (stdout and stderr lines, marked `[out]`/`[err]`).
    pub fn daemon_output(&self) -> String {
        self.daemon.as_ref().map(Daemon::output).unwrap_or_default()
    }

    fn boot(&mut self) {
        let database = self.database_url.clone();
        let port = self.port.to_string();
        let mut args = vec![
            "server",
            "start",
            "--port",
            &port,
            "--database-url",
            &database,
        ];
        args.extend(self.extra_args.iter().map(String::as_str));
        let mut command = self.command(&args);
        command.envs(self.server_env.iter().map(|(k, v)| (k, v)));
        let mut daemon = Daemon::spawn("server", command, self.home.path());
        let line = daemon.wait_for_line("orch server listening on ", Duration::from_secs(30));
        let url = line
            .split("listening on ")
            .nth(1)
            .expect("a URL after 'listening on'")
            .trim()
            .to_string();
        self.port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port");
        self.url = url;
        self.daemon = Some(daemon);
    }

    /// Stops the server (SIGTERM) and starts it again on the same port and database.
    pub fn restart(&mut self) {
        if let Some(mut daemon) = self.daemon.take() {
            daemon.terminate(Duration::from_secs(15));
        }
        self.boot();
    }

    /// Stops the server for good.
    pub fn stop(&mut self) {
        if let Some(mut daemon) = self.daemon.take() {
            daemon.terminate(Duration::from_secs(15));
        }
    }

    /// Kills the server with SIGKILL (a lost machine); it stays down.
    pub fn kill(&mut self) {
        if let Some(mut daemon) = self.daemon.take() {
            daemon.kill();
        }
    }

    /// Sends a signal (`STOP`, `CONT`, ...) to the server process.
    pub fn signal(&self, signal: &str) {
        self.daemon
            .as_ref()
            .expect("the server is running")
            .signal(signal);
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `orch secret set NAME` with `value` on stdin (the value is never an
    /// argument, so it is not in the process list).
    pub fn set_secret(&self, name: &str, value: &str) {
        use std::io::Write;
        let mut child = self
            .command(&["secret", "set", name])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start orch secret set");
        writeln!(child.stdin.take().expect("stdin"), "{value}").expect("write the value");
        let output = child.wait_with_output().expect("orch secret set");
        assert!(
            output.status.success(),
            "orch secret set {name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// The admin API key the server wrote to its home's credentials file on
    /// first start (what the CLI and workers of this home use).
    pub fn admin_key(&self) -> String {
        admin_key_in(self.home.path(), &self.url)
    }

    /// A plain HTTP/1.1 GET of `path` with the admin key.
    pub fn http_get(&self, path: &str) -> (u16, String) {
        http_get_with(&self.url, path, Some(&self.admin_key()))
    }

    /// The server's home folder (its database lives there).
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// An `orch` command pointed at this server.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(binary("orch"));
        command
            .args(args)
            .env("ORCH_HOME", self.home.path())
            .env("NO_COLOR", "1")
            .env_remove("ORCH_API_URL")
            .env_remove("ORCH_DATABASE_URL");
        if !self.url.is_empty() {
            command.env("ORCH_API_URL", &self.url);
        }
        command
    }

    /// Runs an `orch` command to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run orch")
    }

    /// Runs an `orch` command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "orch {} failed ({}):\nstdout: {}\nstderr: {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("UTF-8 output")
    }

    /// Runs a read command with `--output json` and parses it.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.extend(["--output", "json"]);
        let stdout = self.ok(&args);
        serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("orch {} gave invalid JSON ({e}): {stdout}", args.join(" ")))
    }

    /// Starts `orch worker start --pool POOL` plus `extra` arguments; returns once it polls.
    pub fn start_worker(&self, pool: &str, extra: &[&str]) -> Daemon {
        self.start_worker_with_env(pool, extra, &[])
    }

    /// `start_worker` with extra environment for the worker and the flows it runs.
    pub fn start_worker_with_env(
        &self,
        pool: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Daemon {
        let mut args = vec!["worker", "start", "--pool", pool];
        args.extend_from_slice(extra);
        // Flows get only the basics of the worker's environment (PATH, HOME...)
        // and what the operator allows: allow what the test gives.
        for (name, _) in env {
            args.extend(["--pass-env", name]);
        }
        let mut command = self.command(&args);
        command.envs(env.iter().copied());
        let mut daemon = Daemon::spawn("worker", command, self.home.path());
        daemon.wait_for_line("polling pool", Duration::from_secs(30));
        daemon
    }

    /// Who holds each background duty, as `orch server status --output json`
    /// says: `(duty, holder, held by this server)`.
    pub fn duty_holders(&self) -> Vec<(String, String, bool)> {
        let status = self.json(&["server", "status"]);
        status["duties"]
            .as_array()
            .unwrap_or_else(|| panic!("no duties in {status}"))
            .iter()
            .map(|d| {
                (
                    d["duty"].as_str().unwrap().to_owned(),
                    d["holder"].as_str().unwrap().to_owned(),
                    d["this_replica"].as_bool().unwrap(),
                )
            })
            .collect()
    }

    /// The run as `flow-run inspect --output json` shows it.
    pub fn inspect(&self, run: &str) -> Value {
        self.json(&["flow-run", "inspect", run])
    }

    /// Waits (bounded) until the run's state type is one of `states`; returns the inspect JSON.
    pub fn wait_for_state(&self, run: &str, states: &[&str], within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let detail = self.inspect(run);
            let state = state_type(&detail);
            if states.iter().any(|s| s.eq_ignore_ascii_case(&state)) {
                return detail;
            }
            assert!(
                Instant::now() < deadline,
                "run {run} is still {state} after {within:?}, expected one of {states:?}: {detail:#}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
        if self.background {
            // Whichever of `server start --background` and `up --background` it was.
            let _ = self.run(&["server", "stop"]);
            let _ = self.run(&["down"]);
        }
    }
}

/// The key for the server at `url` in the credentials file of orch home `home`.
pub fn admin_key_in(home: &Path, url: &str) -> String {
    let file = orch_proto::credentials::CredentialsFile::read(
        &home.join(orch_proto::credentials::CREDENTIALS_FILE),
    );
    file.key_for(url).unwrap_or_else(|| {
        panic!(
            "no key for {url} in the credentials file of {}",
            home.display()
        )
    })
}

/// The state type ("COMPLETED", ...) of a `flow-run inspect --output json` document.
pub fn state_type(detail: &Value) -> String {
    let run = detail.get("run").unwrap_or(detail);
    run["state"]["type"]
        .as_str()
        .unwrap_or_default()
        .to_uppercase()
}

/// Writes a deploy file into `dir` and returns its path.
pub fn write_deploy_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write deploy file");
    path
}

impl TestServer {
    /// Creates `pool` and deploys `deploy_toml` (written to a temp folder that is returned).
    pub fn deploy(&self, pool: &str, deploy_toml: &str) -> tempfile::TempDir {
        self.ok(&["work-pool", "create", pool, "--type", "process"]);
        let dir = tempfile::tempdir().expect("deploy dir");
        let path = write_deploy_file(dir.path(), "orch.toml", deploy_toml);
        self.ok(&["deploy", path.to_str().expect("UTF-8 path")]);
        dir
    }

    /// `deployment run DEPLOYMENT ARGS...`; returns the new run's id.
    pub fn run_deployment(&self, deployment: &str, args: &[&str]) -> String {
        let mut all = vec!["deployment", "run", deployment];
        all.extend_from_slice(args);
        let run = self.json(&all);
        run["id"]
            .as_str()
            .or_else(|| run["run"]["id"].as_str())
            .unwrap_or_else(|| panic!("no run id in {run:#}"))
            .to_string()
    }

    /// Waits (bounded) until some run exists; returns the newest one's id.
    pub fn wait_for_any_run(&self, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            if let Some(id) = self.json(&["flow-run", "ls"])[0]["id"].as_str() {
                return id.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no flow run appeared within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Checks the logs of a run of `fixtures/flows/echo.sh` (its three stdout
    /// lines in order and its stderr line) and returns the parameters it printed.
    /// stdout and stderr are separate pipes, so only each stream's own order
    /// is defined.
    pub fn echo_flow_parameters(&self, run: &str) -> Value {
        let messages = self.log_messages(run);
        let stdout: Vec<&String> = messages
            .iter()
            .filter(|m| *m != "a warning on stderr")
            .collect();
        assert_eq!(stdout.len(), 3, "{messages:?}");
        assert_eq!(*stdout[0], format!("hello from {run}"));
        assert_eq!(*stdout[2], "goodbye");
        assert!(
            messages.contains(&"a warning on stderr".to_string()),
            "{messages:?}"
        );
        let parameters = stdout[1]
            .strip_prefix("parameters: ")
            .unwrap_or_else(|| panic!("the flow printed its parameters second: {messages:?}"));
        serde_json::from_str(parameters).expect("ORCH_PARAMETERS is JSON")
    }

    /// The run's log messages, in order.
    pub fn log_messages(&self, run: &str) -> Vec<String> {
        let logs = self.json(&["flow-run", "logs", run]);
        let lines = logs
            .as_array()
            .cloned()
            .or_else(|| logs["lines"].as_array().cloned())
            .unwrap_or_default();
        lines
            .iter()
            .map(|line| line["message"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

/// Checks that the runs `ids` each executed exactly once, and nothing else
/// did: the `record.sh` fixture appends each run's id to `record_file`.
pub fn assert_each_executed_once(record_file: &Path, ids: &[String]) {
    let recorded = std::fs::read_to_string(record_file).unwrap_or_default();
    let lines: Vec<&str> = recorded.lines().collect();
    assert_eq!(
        lines.len(),
        ids.len(),
        "each run executed exactly once: {recorded}"
    );
    assert_eq!(
        lines
            .iter()
            .copied()
            .collect::<std::collections::BTreeSet<_>>(),
        ids.iter()
            .map(String::as_str)
            .collect::<std::collections::BTreeSet<_>>()
    );
}

/// A deploy file with one deployment `FLOW/NAME` on `pool` whose entrypoint is `argv`.
pub fn deployment_toml(flow: &str, name: &str, pool: &str, argv: &[&str], extra: &str) -> String {
    let argv: Vec<String> = argv.iter().map(|a| format!("{a:?}")).collect();
    format!(
        "[[deployments]]\nflow = \"{flow}\"\nname = \"{name}\"\nwork_pool = \"{pool}\"\nentrypoint = [{}]\n{extra}\n",
        argv.join(", ")
    )
}

/// Absolute path of a fixture flow program.
pub fn flow_program(name: &str) -> String {
    fixtures().join("flows").join(name).display().to_string()
}

/// A self-signed certificate for 127.0.0.1 and localhost, written to `dir`;
/// returns (certificate, key) paths. The certificate is its own CA.
pub fn self_signed_certificate(dir: &Path) -> (String, String) {
    let generated =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("a certificate");
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
    (cert.display().to_string(), key.display().to_string())
}
