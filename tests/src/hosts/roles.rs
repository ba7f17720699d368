//! The hosts of a [`Cluster`]: PostgreSQL, orch servers on it, workers;
//! the CLI the test runs against them; the database the test reads; the
//! ledger the flows write.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use bollard::models::{ContainerCreateBody, HostConfig};
use serde_json::Value;

use super::{Cluster, Host, images};

/// How long a host may take to be ready (a first PostgreSQL start runs initdb).
const READY: Duration = Duration::from_secs(90);

/// PostgreSQL's address as the orch servers reach it.
const DATABASE_URL: &str = "postgres://orch:orch@postgres:5432/orch";

/// One row of `flow_runs`, with its worker's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunRow {
    /// The run's id.
    pub id: String,
    /// `COMPLETED`, `RUNNING`...
    pub state_type: String,
    /// `Completed`, `AwaitingRetry`...
    pub state_name: String,
    /// How many times it started.
    pub run_count: i64,
    /// The name of the worker that holds (or last held) it.
    pub worker: Option<String>,
}

/// What the flows wrote to the ledger: `EVENT RUN WORKER PID` lines.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    /// Every line, in order.
    pub lines: Vec<String>,
}

impl Ledger {
    /// How many lines record `event` for `run`.
    pub fn count(&self, event: &str, run: &str) -> usize {
        self.lines
            .iter()
            .filter(|line| {
                let mut words = line.split(' ');
                words.next() == Some(event) && words.next() == Some(run)
            })
            .count()
    }

    /// The workers (ids) that recorded `event` for `run`.
    pub fn workers(&self, event: &str, run: &str) -> Vec<String> {
        self.lines
            .iter()
            .filter_map(|line| {
                let words: Vec<&str> = line.split(' ').collect();
                (words.len() >= 3 && words[0] == event && words[1] == run)
                    .then(|| words[2].to_owned())
            })
            .collect()
    }
}

/// A flow for the ledger: `sh -c` of a script that records `start`, runs
/// `body`, then records `done`; SIGTERM records `stopped`.
pub fn ledger_flow(body: &str) -> String {
    let record = |event: &str| {
        format!("echo \"{event} $ORCH_FLOW_RUN_ID $ORCH_WORKER_ID $$\" >> /ledger/ledger")
    };
    format!(
        "{start}; trap '{stopped}; exit 143' TERM; {body}; {done}",
        start = record("start"),
        stopped = record("stopped"),
        done = record("done"),
    )
}

impl Cluster {
    /// Starts PostgreSQL (tuned for throwaway data) and waits until the test
    /// can query it.
    pub fn postgres(&mut self) -> Host {
        let spec = ContainerCreateBody {
            image: Some(images::images().postgres.clone()),
            env: Some(vec![
                "POSTGRES_USER=orch".into(),
                "POSTGRES_PASSWORD=orch".into(),
                "POSTGRES_DB=orch".into(),
                "POSTGRES_INITDB_ARGS=--no-sync".into(),
            ]),
            cmd: Some(
                [
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                ]
                .map(String::from)
                .to_vec(),
            ),
            ..ContainerCreateBody::default()
        };
        let host = self.create("postgres", 10, spec, &[]);
        let url = format!("postgres://orch:orch@{}:5432/orch", host.ip);
        let deadline = Instant::now() + READY;
        let pool = loop {
            match self.runtime.block_on(sqlx::PgPool::connect(&url)) {
                Ok(pool) => break pool,
                Err(error) => assert!(
                    Instant::now() < deadline,
                    "PostgreSQL never answered at {url}: {error}\n{}",
                    self.diagnostics()
                ),
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        self.database = Some(pool);
        self.postgres = Some(host.clone());
        host
    }

    /// Starts orch server `n` on the cluster's PostgreSQL with `args` added
    /// to `orch server start`, named `server-N` and `orch` (every server
    /// carries that name: clients of `http://orch:4200` reach any of them),
    /// and waits until it is ready. The first server's admin key becomes
    /// the test's.
    pub fn server(&mut self, n: u8, args: &[&str]) -> Host {
        assert!(self.postgres.is_some(), "start PostgreSQL first");
        let role = format!("server-{n}");
        let mut cmd: Vec<String> = [
            "server",
            "start",
            "--host",
            "0.0.0.0",
            "--allow-plaintext",
            "--database-url",
            DATABASE_URL,
            "--allowed-host",
            "orch",
            "--allowed-host",
            &role,
        ]
        .map(String::from)
        .to_vec();
        cmd.extend(args.iter().map(|arg| arg.to_string()));
        let spec = ContainerCreateBody {
            image: Some(images::images().hosts.clone()),
            cmd: Some(cmd),
            // `orch` run inside the container finds the admin key there.
            env: Some(vec!["ORCH_API_URL=http://127.0.0.1:4200".into()]),
            ..ContainerCreateBody::default()
        };
        let host = self.create(&role, 20 + n, spec, &["orch"]);
        self.wait_ready(&host);
        if self.admin_key.is_none() {
            let created = self.exec(
                &host,
                &[
                    "orch",
                    "token",
                    "create",
                    "e2e-admin",
                    "--scope",
                    "admin",
                    "--output",
                    "json",
                ],
            );
            let created: Value = serde_json::from_str(&created)
                .unwrap_or_else(|error| panic!("token create answered {created:?}: {error}"));
            self.admin_key = Some(created["api_key"].as_str().expect("a key").to_owned());
        }
        host
    }

    /// Waits (bounded) until the orch server on `host` answers `/readyz`.
    pub fn wait_ready(&self, host: &Host) {
        self.wait_until(&format!("{} to be ready", host.name), READY, || ready(host));
    }

    /// Starts worker `n` of process pool `pool` (named `worker-N`), talking
    /// to `http://orch:4200` with a worker token of that pool, flows
    /// writing to the ledger at `/ledger`, and `args` added to
    /// `orch worker start`; waits until it polls.
    pub fn worker(&mut self, n: u8, pool: &str, args: &[&str]) -> Host {
        let server = self
            .servers()
            .into_iter()
            .next()
            .expect("start a server first");
        let role = format!("worker-{n}");
        let created = self.json(
            &server,
            &[
                "token",
                "create",
                &format!("e2e-{role}"),
                "--scope",
                "worker",
                "--pool",
                pool,
            ],
        );
        let key = created["api_key"]
            .as_str()
            .expect("a worker key")
            .to_owned();
        let mut cmd: Vec<String> = [
            "worker",
            "start",
            "--pool",
            pool,
            "--name",
            &role,
            "--isolation",
            "none",
        ]
        .map(String::from)
        .to_vec();
        cmd.extend(args.iter().map(|arg| arg.to_string()));
        let spec = ContainerCreateBody {
            image: Some(images::images().hosts.clone()),
            cmd: Some(cmd),
            env: Some(vec![
                "ORCH_API_URL=http://orch:4200".into(),
                format!("ORCH_API_KEY={key}"),
            ]),
            host_config: Some(HostConfig {
                binds: Some(vec![format!("{}:/ledger", self.ledger.path().display())]),
                init: Some(true),
                ..HostConfig::default()
            }),
            ..ContainerCreateBody::default()
        };
        let host = self.create(&role, 30 + n, spec, &[]);
        self.wait_for_output(&host, "polling pool", READY);
        host
    }

    /// The servers started so far.
    pub fn servers(&self) -> Vec<Host> {
        self.hosts
            .iter()
            .filter(|host| host.role.starts_with("server-"))
            .cloned()
            .collect()
    }

    /// `orch ARGS` run by the test against the server on `server`, with the
    /// admin key.
    pub fn orch(&self, server: &Host, args: &[&str]) -> Output {
        Command::new(crate::binary("orch"))
            .args(args)
            .env("ORCH_HOME", self.home.path())
            .env("ORCH_API_URL", server.url())
            .env(
                "ORCH_API_KEY",
                self.admin_key.as_deref().unwrap_or_default(),
            )
            .env("NO_COLOR", "1")
            .env_remove("ORCH_DATABASE_URL")
            .output()
            .expect("run orch")
    }

    /// [`Cluster::orch`] that must succeed; returns its stdout.
    pub fn ok(&self, server: &Host, args: &[&str]) -> String {
        let output = self.orch(server, args);
        assert!(
            output.status.success(),
            "orch {} failed:\n{}\n{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// [`Cluster::ok`] with `--output json`, parsed.
    pub fn json(&self, server: &Host, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.extend(["--output", "json"]);
        let stdout = self.ok(server, &args);
        serde_json::from_str(&stdout).unwrap_or_else(|error| panic!("{error}: {stdout}"))
    }

    /// Creates process pool `pool` and deploys `f/NAME` on it for each
    /// `(NAME, shell script)`, with one flow retry and no delay.
    pub fn deploy(&self, server: &Host, pool: &str, flows: &[(&str, &str)]) {
        self.ok(server, &["work-pool", "create", pool, "--type", "process"]);
        let text: String = flows
            .iter()
            .map(|(name, script)| {
                crate::deployment_toml(
                    "f",
                    name,
                    pool,
                    &["/bin/sh", "-c", script],
                    "retries = 1\nretry_delay_seconds = 0",
                )
            })
            .collect();
        let path = crate::write_deploy_file(self.home.path(), "orch.toml", &text);
        self.ok(server, &["deploy", path.to_str().expect("UTF-8 path")]);
    }

    /// `deployment run DEPLOYMENT` through `server`; the new run's id.
    pub fn run_deployment(&self, server: &Host, deployment: &str) -> String {
        let run = self.json(server, &["deployment", "run", deployment]);
        run["id"].as_str().expect("a run id").to_owned()
    }

    /// Every run in the database, oldest first.
    pub fn runs(&self) -> Vec<RunRow> {
        let database = self.database.as_ref().expect("start PostgreSQL first");
        let rows: Vec<(String, String, String, i64, Option<String>)> = self
            .runtime
            .block_on(
                sqlx::query_as(
                    "SELECT r.id, r.state_type, r.state_name, r.run_count, w.name \
                     FROM flow_runs r LEFT JOIN workers w ON w.id = r.worker_id \
                     ORDER BY r.created_at, r.id",
                )
                .fetch_all(database),
            )
            .expect("read flow_runs");
        rows.into_iter()
            .map(|(id, state_type, state_name, run_count, worker)| RunRow {
                id,
                state_type,
                state_name,
                run_count,
                worker,
            })
            .collect()
    }

    /// How many times the database recorded run `run` entering `state_type`.
    pub fn times_in(&self, run: &str, state_type: &str) -> i64 {
        let database = self.database.as_ref().expect("start PostgreSQL first");
        let (count,): (i64,) = self
            .runtime
            .block_on(
                sqlx::query_as(
                    "SELECT COUNT(*) FROM flow_run_states WHERE flow_run_id = $1 AND type = $2",
                )
                .bind(run)
                .bind(state_type)
                .fetch_one(database),
            )
            .expect("read flow_run_states");
        count
    }

    /// Worker names by id, as registered (a restarted worker has a new id).
    pub fn worker_names(&self) -> BTreeMap<String, String> {
        let database = self.database.as_ref().expect("start PostgreSQL first");
        let rows: Vec<(String, String)> = self
            .runtime
            .block_on(sqlx::query_as("SELECT id, name FROM workers").fetch_all(database))
            .expect("read workers");
        rows.into_iter().collect()
    }

    /// What the flows wrote to the ledger so far.
    pub fn ledger(&self) -> Ledger {
        let text = std::fs::read_to_string(self.ledger.path().join("ledger")).unwrap_or_default();
        Ledger {
            lines: text.lines().map(str::to_owned).collect(),
        }
    }

    /// Creates the file `name` in the ledger folder (flows may wait for it).
    pub fn touch(&self, name: &str) {
        std::fs::write(self.ledger.path().join(name), "").expect("write to the ledger folder");
    }

    /// Runs `command` in `host`'s container; returns its stdout.
    fn exec(&self, host: &Host, command: &[&str]) -> String {
        use bollard::exec::{CreateExecOptions, StartExecResults};
        use futures::StreamExt;
        let docker = self.docker.clone();
        let options = CreateExecOptions {
            cmd: Some(command.iter().map(|part| part.to_string()).collect()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            ..CreateExecOptions::default()
        };
        self.runtime.block_on(async {
            let exec = docker
                .create_exec(&host.name, options)
                .await
                .expect("create an exec");
            let mut stdout = String::new();
            let mut stderr = String::new();
            if let StartExecResults::Attached { mut output, .. } = docker
                .start_exec(&exec.id, None)
                .await
                .expect("start the exec")
            {
                while let Some(Ok(chunk)) = output.next().await {
                    match chunk {
                        bollard::container::LogOutput::StdErr { message } => {
                            stderr.push_str(&String::from_utf8_lossy(&message))
                        }
                        other => stdout.push_str(&String::from_utf8_lossy(&other.into_bytes())),
                    }
                }
            }
            let code = docker
                .inspect_exec(&exec.id)
                .await
                .ok()
                .and_then(|inspected| inspected.exit_code);
            assert_eq!(
                code,
                Some(0),
                "{command:?} in {} failed:\n{stdout}\n{stderr}",
                host.name
            );
            stdout
        })
    }
}

/// Whether the orch server on `host` answers `/readyz` with 200.
fn ready(host: &Host) -> bool {
    let address = SocketAddr::from((host.ip, 4200));
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!(
        "GET /readyz HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        host.ip
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.starts_with("HTTP/1.1 200")
}
