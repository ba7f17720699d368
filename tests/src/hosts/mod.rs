//! orch across separate hosts on a private Docker network, for the
//! partition tests (`tests/e2e/partitions/`): PostgreSQL, servers and
//! workers each in a container of orch's own images ([`images`]), on a
//! network of their own with fixed addresses, so that a host cut off the
//! network and connected again keeps its address (and its TCP connections)
//! like a host behind a failed link. Links are cut and restored, hosts
//! restarted, through the engine's API (bollard).
//!
//! The cluster owns a Tokio runtime, so tests are plain `#[test]`s.
//! Dropping it removes its containers, their volumes and its network; what
//! a test process that died left behind (labelled with its pid) is removed
//! by the next cluster.

pub mod images;
mod roles;

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, Ipam, IpamConfig,
    NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest, NetworkingConfig,
};
use bollard::query_parameters::{
    CreateContainerOptions, ListContainersOptions, ListNetworksOptions, LogsOptions,
    RemoveContainerOptions, RestartContainerOptions, StopContainerOptions,
};
use futures::StreamExt;

pub use roles::{Ledger, RunRow, ledger_flow};

/// Label on everything a cluster makes: its name.
const LABEL_CLUSTER: &str = "orch-e2e.cluster";
/// Label with the pid of the test process that made it.
const LABEL_PID: &str = "orch-e2e.pid";

/// One container of the cluster.
#[derive(Clone, Debug)]
pub struct Host {
    /// Its role in the cluster (`postgres`, `server-1`, `worker-2`...),
    /// also its host name and a name it has on the network.
    pub role: String,
    /// The container's name: `<cluster>-<role>`.
    pub name: String,
    /// Its fixed address on the cluster's network.
    pub ip: Ipv4Addr,
    /// Other names it has on the network.
    aliases: Vec<String>,
}

impl Host {
    /// `http://IP:4200`: the orch server on this host, as the test reaches it.
    pub fn url(&self) -> String {
        format!("http://{}:4200", self.ip)
    }
}

/// A private network of orch hosts; see the module documentation.
pub struct Cluster {
    runtime: tokio::runtime::Runtime,
    docker: Docker,
    /// The network's name, and the prefix of its containers' names.
    name: String,
    /// The network's own address (`x.y.0.0` of `x.y.0.0/16`).
    base: Ipv4Addr,
    hosts: Vec<Host>,
    /// The folder mounted at `/ledger` on the workers: flows write there.
    ledger: tempfile::TempDir,
    /// The test's own `ORCH_HOME`, for the CLI.
    home: tempfile::TempDir,
    admin_key: Option<String>,
    postgres: Option<Host>,
    database: Option<sqlx::PgPool>,
    /// Held for the cluster's life: one cluster at a time per process.
    _serial: MutexGuard<'static, ()>,
}

/// Runs the caller alone among this process's clusters (and whatever else
/// takes it) until the guard is dropped: their timings are about leases,
/// and two at once on a small machine would blur them.
pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Cluster {
    /// A new cluster with nothing on its network yet; `None` (with a message
    /// saying why the caller skips) when no Docker engine answers.
    pub fn start(test: &str) -> Option<Cluster> {
        if !crate::docker::engine() {
            return None;
        }
        let serial = serial();
        images::images();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a Tokio runtime");
        let docker = runtime
            .block_on(orch_worker::docker_engine::connect())
            .expect("the Docker engine answered the CLI but not its API");
        runtime.block_on(remove_leftovers(&docker));
        let short: String = test
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(12)
            .collect();
        let name = format!("orch-e2e-{short}-{}", std::process::id());
        let base = runtime.block_on(create_network(&docker, &name));
        let ledger = tempfile::tempdir().expect("ledger folder");
        // The flows write as the image's user, not as the test's.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(ledger.path(), std::fs::Permissions::from_mode(0o777))
            .expect("open the ledger folder");
        Some(Cluster {
            runtime,
            docker,
            name,
            base,
            hosts: Vec::new(),
            ledger,
            home: tempfile::tempdir().expect("test home"),
            admin_key: None,
            postgres: None,
            database: None,
            _serial: serial,
        })
    }

    /// Creates and starts container `role` (named `<cluster>-<role>`, host
    /// name `role`) at the network's `index`th address, with `aliases`.
    fn create(
        &mut self,
        role: &str,
        index: u8,
        spec: ContainerCreateBody,
        aliases: &[&str],
    ) -> Host {
        let name = format!("{}-{role}", self.name);
        let ip = Ipv4Addr::from(u32::from(self.base) + u32::from(index));
        let mut aliases: Vec<String> = aliases.iter().map(|alias| alias.to_string()).collect();
        aliases.push(role.to_owned());
        let endpoint = self.endpoint(ip, &aliases);
        let body = ContainerCreateBody {
            hostname: Some(role.to_owned()),
            labels: Some(self.labels()),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(self.name.clone(), endpoint)])),
            }),
            ..spec
        };
        let options = CreateContainerOptions {
            name: Some(name.clone()),
            ..CreateContainerOptions::default()
        };
        let docker = self.docker.clone();
        self.runtime.block_on(async {
            docker
                .create_container(Some(options), body)
                .await
                .unwrap_or_else(|error| panic!("cannot create container {name}: {error}"));
            docker
                .start_container(&name, None)
                .await
                .unwrap_or_else(|error| panic!("cannot start container {name}: {error}"));
        });
        let host = Host {
            role: role.to_owned(),
            name,
            ip,
            aliases,
        };
        self.hosts.push(host.clone());
        host
    }

    fn endpoint(&self, ip: Ipv4Addr, aliases: &[String]) -> EndpointSettings {
        EndpointSettings {
            ipam_config: Some(EndpointIpamConfig {
                ipv4_address: Some(ip.to_string()),
                ..EndpointIpamConfig::default()
            }),
            aliases: Some(aliases.to_vec()),
            ..EndpointSettings::default()
        }
    }

    fn labels(&self) -> HashMap<String, String> {
        HashMap::from([
            (LABEL_CLUSTER.to_owned(), self.name.clone()),
            (LABEL_PID.to_owned(), std::process::id().to_string()),
        ])
    }

    /// Cuts `host` off the network: it keeps running, alone.
    pub fn cut(&self, host: &Host) {
        let request = NetworkDisconnectRequest {
            container: host.name.clone(),
            force: Some(true),
        };
        self.runtime
            .block_on(self.docker.disconnect_network(&self.name, request))
            .unwrap_or_else(|error| panic!("cannot cut {} off: {error}", host.name));
    }

    /// Connects `host` again, at its address and with its names.
    pub fn restore(&self, host: &Host) {
        let request = NetworkConnectRequest {
            container: host.name.clone(),
            endpoint_config: Some(self.endpoint(host.ip, &host.aliases)),
        };
        self.runtime
            .block_on(self.docker.connect_network(&self.name, request))
            .unwrap_or_else(|error| panic!("cannot connect {} again: {error}", host.name));
    }

    /// Restarts `host`'s container: SIGTERM, SIGKILL after `grace` seconds,
    /// then the same command again.
    pub fn restart(&self, host: &Host, grace: i32) {
        let options = RestartContainerOptions {
            t: Some(grace),
            ..RestartContainerOptions::default()
        };
        self.runtime
            .block_on(self.docker.restart_container(&host.name, Some(options)))
            .unwrap_or_else(|error| panic!("cannot restart {}: {error}", host.name));
    }

    /// Stops `host`'s container (SIGTERM, SIGKILL after `grace` seconds).
    pub fn stop(&self, host: &Host, grace: i32) {
        let options = StopContainerOptions {
            t: Some(grace),
            ..StopContainerOptions::default()
        };
        self.runtime
            .block_on(self.docker.stop_container(&host.name, Some(options)))
            .unwrap_or_else(|error| panic!("cannot stop {}: {error}", host.name));
    }

    /// Starts `host`'s stopped container again (same command, address, volumes).
    pub fn start_again(&self, host: &Host) {
        self.runtime
            .block_on(self.docker.start_container(&host.name, None))
            .unwrap_or_else(|error| panic!("cannot start {} again: {error}", host.name));
    }

    /// What `host`'s container wrote so far (stdout and stderr).
    pub fn logs(&self, host: &Host) -> String {
        let options = LogsOptions {
            stdout: true,
            stderr: true,
            ..LogsOptions::default()
        };
        let docker = self.docker.clone();
        self.runtime.block_on(async {
            let mut stream = std::pin::pin!(docker.logs(&host.name, Some(options)));
            let mut text = String::new();
            while let Some(Ok(chunk)) = stream.next().await {
                text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
            }
            text
        })
    }

    /// Waits (bounded) until `host`'s output contains `text`.
    pub fn wait_for_output(&self, host: &Host, text: &str, within: Duration) {
        self.wait_until(&format!("{} to write {text:?}", host.name), within, || {
            self.logs(host).contains(text)
        });
    }

    /// Polls `done` every 100 ms until it holds; panics after `within` with
    /// what was awaited and every host's recent output.
    pub fn wait_until(&self, what: &str, within: Duration, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + within;
        while !done() {
            assert!(
                Instant::now() < deadline,
                "waited {within:?} for {what}\n{}",
                self.diagnostics()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The last lines of every host's output, for failure messages.
    pub fn diagnostics(&self) -> String {
        let mut text = String::new();
        for host in &self.hosts {
            let logs = self.logs(host);
            let lines: Vec<&str> = logs.lines().collect();
            let tail = &lines[lines.len().saturating_sub(40)..];
            text.push_str(&format!("--- {} (last {} lines)\n", host.name, tail.len()));
            for line in tail {
                text.push_str(line);
                text.push('\n');
            }
        }
        text
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(database) = self.database.take() {
            self.runtime.block_on(database.close());
        }
        let docker = self.docker.clone();
        let names: Vec<String> = self.hosts.iter().map(|host| host.name.clone()).collect();
        let network = self.name.clone();
        self.runtime.block_on(async move {
            for name in names {
                remove_container(&docker, &name).await;
            }
            let _ = docker.remove_network(&network).await;
        });
    }
}

async fn remove_container(docker: &Docker, name: &str) {
    let options = RemoveContainerOptions {
        force: true,
        v: true,
        ..RemoveContainerOptions::default()
    };
    let _ = docker.remove_container(name, Some(options)).await;
}

/// Creates the network `name` on a subnet of its own, declared so that
/// containers can keep fixed addresses: the engine picks a free subnet for
/// a first network, which is then made again with that subnet stated.
/// Returns the subnet's first address.
async fn create_network(docker: &Docker, name: &str) -> Ipv4Addr {
    let labels = HashMap::from([
        (LABEL_CLUSTER.to_owned(), name.to_owned()),
        (LABEL_PID.to_owned(), std::process::id().to_string()),
    ]);
    let mut last_error = String::new();
    for _ in 0..5 {
        let probe = NetworkCreateRequest {
            name: name.to_owned(),
            labels: Some(labels.clone()),
            ..NetworkCreateRequest::default()
        };
        docker
            .create_network(probe)
            .await
            .unwrap_or_else(|error| panic!("cannot create network {name}: {error}"));
        let inspected = docker
            .inspect_network(name, None)
            .await
            .expect("inspect the network");
        let _ = docker.remove_network(name).await;
        let subnet = inspected
            .ipam
            .and_then(|ipam| ipam.config)
            .and_then(|configs| configs.into_iter().find_map(|config| config.subnet))
            .expect("the engine gave the network a subnet");
        let base: Ipv4Addr = subnet
            .split('/')
            .next()
            .and_then(|address| address.parse().ok())
            .unwrap_or_else(|| panic!("an IPv4 subnet, not {subnet}"));
        // The engine's pools give /16 to /24 subnets: the first 250
        // addresses are more than enough; the first is the gateway.
        let gateway = Ipv4Addr::from(u32::from(base) + 1);
        let request = NetworkCreateRequest {
            name: name.to_owned(),
            labels: Some(labels.clone()),
            ipam: Some(Ipam {
                config: Some(vec![IpamConfig {
                    subnet: Some(subnet.clone()),
                    gateway: Some(gateway.to_string()),
                    ..IpamConfig::default()
                }]),
                ..Ipam::default()
            }),
            ..NetworkCreateRequest::default()
        };
        match docker.create_network(request).await {
            Ok(_) => return base,
            // Someone took the subnet in between: try again.
            Err(error) => last_error = error.to_string(),
        }
    }
    panic!("cannot create network {name} with a subnet of its own: {last_error}");
}

/// Removes containers and networks of test processes that are gone.
async fn remove_leftovers(docker: &Docker) {
    let dead = |labels: Option<&HashMap<String, String>>| {
        labels
            .and_then(|labels| labels.get(LABEL_PID))
            .is_some_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
    };
    let filters = HashMap::from([("label".to_owned(), vec![LABEL_CLUSTER.to_owned()])]);
    let options = ListContainersOptions {
        all: true,
        filters: Some(filters.clone()),
        ..ListContainersOptions::default()
    };
    for container in docker
        .list_containers(Some(options))
        .await
        .unwrap_or_default()
    {
        if dead(container.labels.as_ref())
            && let Some(id) = container.id
        {
            remove_container(docker, &id).await;
        }
    }
    let options = ListNetworksOptions {
        filters: Some(filters),
    };
    for network in docker
        .list_networks(Some(options))
        .await
        .unwrap_or_default()
    {
        if dead(network.labels.as_ref())
            && let Some(id) = network.id
        {
            let _ = docker.remove_network(&id).await;
        }
    }
}
