//! What a run's container is made of: its image, command, environment,
//! labels, limits and mounts, from the run's claim and the worker's settings.
//! Pure code, so that every rule is tested without an engine.

use std::collections::HashMap;
use std::path::Path;

use bollard::models::{ContainerCreateBody, HostConfig};
use orch_client::flow_env;
use orch_core::ContainerSettings;

/// Label with the run's id.
pub(crate) const LABEL_RUN: &str = "orch.flow-run-id";
/// Label with the pool's name.
pub(crate) const LABEL_POOL: &str = "orch.work-pool";
/// Label with the id of the worker that started the container.
pub(crate) const LABEL_WORKER_ID: &str = "orch.worker-id";
/// Label with the name of that worker: a restarted worker of the same name
/// reconciles the containers it finds with it.
pub(crate) const LABEL_WORKER_NAME: &str = "orch.worker-name";

/// Where the CA certificate is mounted in a container.
pub(crate) const CA_IN_CONTAINER: &str = "/orch/ca.pem";
/// Where a parameters file too large for the environment is mounted.
pub(crate) const PARAMETERS_IN_CONTAINER: &str = "/orch/parameters.json";

/// The server's URL (or comma-separated URLs of several replicas) as the
/// container must use it, and the network to join (`None`: the engine's
/// default bridge).
///
/// A server on the host's loopback is reachable from a container only on
/// the host's network: with no `network` set, a loopback URL puts the
/// container there. On another network the container needs the server's
/// address as it sees it (`--container-api-url`, e.g. the server's address
/// on the Docker bridge).
///
/// # Errors
///
/// A loopback URL with a network that is not `host` and no container URL.
pub(crate) fn reach_server(
    api_url: &str,
    container_api_url: Option<&str>,
    network: Option<&str>,
) -> Result<(String, Option<String>), String> {
    match (network, container_api_url) {
        (Some("host"), _) => Ok((api_url.to_owned(), Some("host".to_owned()))),
        (network, Some(url)) => Ok((url.to_owned(), network.map(str::to_owned))),
        (None, None) if is_loopback(api_url) => Ok((api_url.to_owned(), Some("host".to_owned()))),
        (Some(network), None) if is_loopback(api_url) => Err(format!(
            "cannot start the run: the orch server's address {api_url} is the host's loopback, \
             which a container on network {network:?} cannot reach. Set network = \"host\", or \
             start the worker with --container-api-url URL naming the server as containers \
             reach it (e.g. its address on the Docker bridge, where it must listen)"
        )),
        (network, None) => Ok((api_url.to_owned(), network.map(str::to_owned))),
    }
}

/// Whether the host of `urls` (or of one of them, for a list) is the
/// loopback interface.
fn is_loopback(urls: &str) -> bool {
    orch_client::split_urls(urls)
        .iter()
        .any(|url| is_loopback_url(url))
}

fn is_loopback_url(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or_default();
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = if let Some(bracketed) = authority.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Everything a run's container is created from.
#[derive(Debug)]
pub(crate) struct ContainerPlan<'a> {
    /// The merged settings (deployment over pool).
    pub settings: &'a ContainerSettings,
    /// The deployment's entrypoint: the command run in the container.
    pub entrypoint: &'a [String],
    /// The flow's variables, `NAME=value`.
    pub env: Vec<String>,
    /// The network to join, as [`reach_server`] decided.
    pub network: Option<String>,
    /// The labels that let a restarted worker find the container.
    pub labels: HashMap<String, String>,
    /// The CA certificate to mount at [`CA_IN_CONTAINER`].
    pub tls_ca: Option<&'a Path>,
    /// The parameters file to mount at [`PARAMETERS_IN_CONTAINER`].
    pub parameters_file: Option<&'a Path>,
}

impl ContainerPlan<'_> {
    /// The engine's create request.
    ///
    /// # Errors
    ///
    /// The settings name no image, or an unusable memory size.
    pub(crate) fn body(&self) -> Result<ContainerCreateBody, String> {
        let Some(image) = &self.settings.image else {
            return Err(
                "cannot start the run: no image is set for its container: add image = \"NAME:TAG\" \
                 to the deployment, or create the pool with --image"
                    .to_owned(),
            );
        };
        if self.entrypoint.first().is_none_or(String::is_empty) {
            return Err("cannot start the run: its deployment has an empty entrypoint".to_owned());
        }
        let memory = self
            .settings
            .memory
            .as_deref()
            .map(orch_core::container::memory_bytes)
            .transpose()
            .map_err(|problem| format!("cannot start the run: {problem}"))?;
        let mut binds = self.settings.volumes.clone().unwrap_or_default();
        if let Some(ca) = self.tls_ca {
            binds.push(format!("{}:{CA_IN_CONTAINER}:ro", ca.display()));
        }
        if let Some(file) = self.parameters_file {
            binds.push(format!("{}:{PARAMETERS_IN_CONTAINER}:ro", file.display()));
        }
        let host_config = HostConfig {
            memory,
            // No swap beyond the limit: a flow over it is killed, not slowed.
            memory_swap: memory,
            nano_cpus: self.settings.cpus.map(|cpus| (cpus * 1e9).round() as i64),
            binds: (!binds.is_empty()).then_some(binds),
            network_mode: self.network.clone(),
            // A minimal init as PID 1: signals reach the flow, zombies are reaped.
            init: Some(true),
            ..HostConfig::default()
        };
        Ok(ContainerCreateBody {
            image: Some(image.clone()),
            entrypoint: Some(self.entrypoint.to_vec()),
            env: Some(self.env.clone()),
            labels: Some(self.labels.clone()),
            user: self.settings.user.clone(),
            host_config: Some(host_config),
            ..ContainerCreateBody::default()
        })
    }
}

/// The variables of a flow in a container: the worker's own only where its
/// operator allows (`--pass-env`; the worker's PATH or HOME mean nothing in
/// an image), then the run's, with `ORCH_API_URL` and `ORCH_TLS_CA` as the
/// container sees them and the parameters (`ORCH_PARAMETERS`, or
/// `ORCH_PARAMETERS_FILE` when mounted).
pub(crate) fn flow_variables(
    base: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
    api_url: &str,
    tls_ca: bool,
    parameters: Option<&str>,
) -> Vec<String> {
    let mut variables: std::collections::BTreeMap<String, String> = base
        .into_iter()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
        .collect();
    // One URL in ORCH_API_URL, for SDKs that read only it; all of several
    // in ORCH_API_URLS.
    let urls = orch_client::split_urls(api_url);
    variables.insert(
        flow_env::API_URL.to_owned(),
        urls.first().cloned().unwrap_or_else(|| api_url.to_owned()),
    );
    variables.remove(flow_env::API_URLS);
    if urls.len() > 1 {
        variables.insert(flow_env::API_URLS.to_owned(), urls.join(","));
    }
    variables.remove(flow_env::TLS_CA);
    if tls_ca {
        variables.insert(flow_env::TLS_CA.to_owned(), CA_IN_CONTAINER.to_owned());
    }
    match parameters {
        Some(json) => {
            variables.insert(flow_env::PARAMETERS.to_owned(), json.to_owned());
        }
        None => {
            variables.insert(
                flow_env::PARAMETERS_FILE.to_owned(),
                PARAMETERS_IN_CONTAINER.to_owned(),
            );
        }
    }
    variables
        .into_iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loopback_server_is_reached_on_the_hosts_network() {
        let local = "http://127.0.0.1:4200";
        assert_eq!(
            reach_server(local, None, None),
            Ok((local.to_owned(), Some("host".to_owned())))
        );
        assert_eq!(
            reach_server("https://localhost:4200", None, None)
                .unwrap()
                .1
                .as_deref(),
            Some("host")
        );
        assert_eq!(
            reach_server("http://[::1]:4200", None, None)
                .unwrap()
                .1
                .as_deref(),
            Some("host")
        );
        let error = reach_server(local, None, Some("bridge")).unwrap_err();
        assert!(error.contains("--container-api-url"), "{error}");
        assert!(error.contains("network = \"host\""), "{error}");
    }

    #[test]
    fn other_servers_and_container_urls_keep_the_network() {
        let remote = "https://orch.internal:4200";
        assert_eq!(
            reach_server(remote, None, None),
            Ok((remote.to_owned(), None))
        );
        assert_eq!(
            reach_server(remote, None, Some("flows")),
            Ok((remote.to_owned(), Some("flows".to_owned())))
        );
        let bridge = "http://172.17.0.1:4200";
        assert_eq!(
            reach_server("http://127.0.0.1:4200", Some(bridge), Some("bridge")),
            Ok((bridge.to_owned(), Some("bridge".to_owned())))
        );
        assert_eq!(
            reach_server("http://127.0.0.1:4200", Some(bridge), None),
            Ok((bridge.to_owned(), None))
        );
    }

    fn plan(settings: &ContainerSettings) -> ContainerPlan<'_> {
        ContainerPlan {
            settings,
            entrypoint: &[],
            env: vec!["A=1".into()],
            network: Some("host".into()),
            labels: HashMap::from([(LABEL_RUN.to_owned(), "run-1".to_owned())]),
            tls_ca: Some(Path::new("/etc/orch/ca.pem")),
            parameters_file: None,
        }
    }

    #[test]
    fn the_container_carries_limits_mounts_and_labels() {
        let settings = ContainerSettings {
            image: Some("flows:2".into()),
            memory: Some("256m".into()),
            cpus: Some(0.5),
            volumes: Some(vec!["/srv:/data:ro".into()]),
            user: Some("1000".into()),
            ..ContainerSettings::default()
        };
        let entrypoint = ["/bin/flow".to_owned(), "--fast".to_owned()];
        let mut plan = plan(&settings);
        plan.entrypoint = &entrypoint;
        let body = plan.body().unwrap();
        assert_eq!(body.image.as_deref(), Some("flows:2"));
        assert_eq!(body.entrypoint.as_deref(), Some(&entrypoint[..]));
        assert_eq!(body.user.as_deref(), Some("1000"));
        assert_eq!(body.labels.unwrap()[LABEL_RUN], "run-1");
        let host = body.host_config.unwrap();
        assert_eq!(host.memory, Some(256 << 20));
        assert_eq!(host.memory_swap, Some(256 << 20));
        assert_eq!(host.nano_cpus, Some(500_000_000));
        assert_eq!(host.network_mode.as_deref(), Some("host"));
        assert_eq!(
            host.binds.unwrap(),
            ["/srv:/data:ro", "/etc/orch/ca.pem:/orch/ca.pem:ro"]
        );
    }

    #[test]
    fn a_container_needs_an_image_and_a_command() {
        let none = ContainerSettings::default();
        let error = plan(&none).body().unwrap_err();
        assert!(error.contains("no image is set"), "{error}");
        let settings = ContainerSettings {
            image: Some("flows:2".into()),
            ..ContainerSettings::default()
        };
        let error = plan(&settings).body().unwrap_err();
        assert!(error.contains("empty entrypoint"), "{error}");
    }

    #[test]
    fn flow_variables_say_where_the_server_is_as_the_container_sees_it() {
        let base = [
            ("ORCH_API_URL", "http://127.0.0.1:1"),
            ("ORCH_TLS_CA", "/home/w/ca.pem"),
            ("LOG_LEVEL", "info"),
        ]
        .map(|(k, v)| (k.into(), v.into()));
        let variables = flow_variables(base, "http://172.17.0.1:4200", true, Some("{\"n\":1}"));
        assert_eq!(
            variables,
            [
                "LOG_LEVEL=info",
                "ORCH_API_URL=http://172.17.0.1:4200",
                "ORCH_PARAMETERS={\"n\":1}",
                "ORCH_TLS_CA=/orch/ca.pem",
            ]
        );
        let variables = flow_variables(Vec::new(), "u", false, None);
        assert!(variables.contains(&"ORCH_PARAMETERS_FILE=/orch/parameters.json".to_owned()));
        assert!(!variables.iter().any(|v| v.starts_with("ORCH_TLS_CA")));
    }

    #[test]
    fn several_servers_reach_the_container_as_a_list() {
        let base = [
            ("ORCH_API_URL", "http://127.0.0.1:1"),
            ("ORCH_API_URLS", "http://127.0.0.1:1,http://127.0.0.1:2"),
        ]
        .map(|(k, v)| (k.into(), v.into()));
        let variables = flow_variables(base.clone(), "http://a:1,http://b:2", false, None);
        assert!(variables.contains(&"ORCH_API_URL=http://a:1".to_owned()));
        assert!(variables.contains(&"ORCH_API_URLS=http://a:1,http://b:2".to_owned()));
        // One container URL: the worker's list does not leak in.
        let variables = flow_variables(base, "http://172.17.0.1:4200", false, None);
        assert!(!variables.iter().any(|v| v.starts_with("ORCH_API_URLS")));
        // A list with a loopback server needs the host's network.
        let list = "http://10.0.0.5:4200,http://127.0.0.1:4200";
        assert_eq!(
            reach_server(list, None, None),
            Ok((list.to_owned(), Some("host".to_owned())))
        );
        assert!(reach_server(list, None, Some("bridge")).is_err());
    }
}
