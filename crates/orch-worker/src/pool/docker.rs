//! The `docker` pool type: one container per run, through the engine's API
//! (bollard). The container carries labels with the run, the pool and the
//! worker, so that a restarted worker finds what its predecessor started
//! (see `crate::adopt`); its output is streamed into the run's logs; an
//! out-of-memory kill is reported as such; it is removed once the run is
//! reported (or kept, when asked, if the run did not complete).

use std::collections::HashMap;
use std::path::PathBuf;

use bollard::Docker;
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, ListContainersOptions,
};
use futures::StreamExt;
use orch_client::flow_env;
use orch_core::{ContainerSettings, PullPolicy};

use super::docker_execution::{DockerExecution, is_not_found};
use super::docker_spec::{self, ContainerPlan};
use super::{BoxFuture, Execution, Job, Leftover, Pool, Started};
use crate::WorkerError;

/// Runs flows in containers of a Docker engine.
#[derive(Debug)]
pub(crate) struct DockerPool {
    docker: Docker,
    /// Labels every container of this worker carries.
    pool: String,
    worker_id: String,
    worker_name: String,
    /// The server's URL as containers not on the host's network reach it.
    container_api_url: Option<String>,
    /// The worker's variables flows receive (`--pass-env`).
    pass_env: Vec<String>,
    /// The CA certificate mounted into every container.
    tls_ca: Option<PathBuf>,
    /// Where parameters files too large for the environment are written.
    state_dir: Option<PathBuf>,
}

/// Who the worker is, for the labels of its containers.
#[derive(Debug)]
pub(crate) struct DockerIdentity {
    /// The pool's name.
    pub pool: String,
    /// The worker's id.
    pub worker_id: String,
    /// The worker's name.
    pub worker_name: String,
}

impl DockerPool {
    /// Connects to the engine (`DOCKER_HOST`, else the local socket) and
    /// checks that it answers.
    ///
    /// # Errors
    ///
    /// The engine cannot be reached.
    pub(crate) async fn connect(
        config: &crate::WorkerConfig,
        identity: DockerIdentity,
    ) -> Result<Self, WorkerError> {
        let engine_error = |error: bollard::errors::Error| {
            WorkerError::Engine(format!(
                "pool {:?} runs flows in Docker containers, but the Docker engine cannot be \
                 reached: {error}. Start it (systemctl start docker), or point DOCKER_HOST at it",
                identity.pool
            ))
        };
        let docker = crate::docker_engine::connect()
            .await
            .map_err(engine_error)?;
        Ok(Self {
            docker,
            pool: identity.pool,
            worker_id: identity.worker_id,
            worker_name: identity.worker_name,
            container_api_url: config.container_api_url.clone(),
            pass_env: config.pass_env.clone(),
            tls_ca: config.tls_ca.clone(),
            state_dir: config.state_dir.clone(),
        })
    }

    /// Makes sure the engine has `image`, pulling it if the policy allows.
    async fn ensure_image(&self, image: &str, policy: PullPolicy) -> Result<(), String> {
        match self.docker.inspect_image(image).await {
            Ok(_) => return Ok(()),
            Err(error) if !is_not_found(&error) => {
                return Err(format!(
                    "cannot start the run: cannot look up image {image:?}: {error}"
                ));
            }
            Err(_) => {}
        }
        if policy == PullPolicy::Never {
            return Err(format!(
                "cannot start the run: image {image:?} is not on the Docker engine and its \
                 pull_policy is \"never\": build or load it there (docker build -t {image} ...), \
                 or set pull_policy = \"if-missing\""
            ));
        }
        let options = CreateImageOptions {
            from_image: Some(image.to_owned()),
            ..CreateImageOptions::default()
        };
        let mut pull = std::pin::pin!(self.docker.create_image(Some(options), None, None));
        while let Some(step) = pull.next().await {
            if let Err(error) = step {
                return Err(format!(
                    "cannot start the run: cannot pull image {image:?}: {error}"
                ));
            }
        }
        Ok(())
    }

    /// The parameters file to mount, when the parameters are too large for
    /// the environment.
    fn parameters_file(&self, job: &Job<'_>) -> Result<Option<PathBuf>, String> {
        let parameters = &job.claimed.parameters_json;
        if parameters.len() <= flow_env::MAX_ENV_PARAMETERS {
            return Ok(None);
        }
        let dir = self
            .state_dir
            .clone()
            .unwrap_or_else(std::env::temp_dir)
            .join("parameters");
        let path = dir.join(format!("{}.json", job.flow_run_id));
        orch_proto::private_files::create_dir(&dir)
            .and_then(|()| orch_proto::private_files::write(&path, parameters.as_bytes()))
            .map_err(|error| {
                format!(
                    "cannot start the run: its parameters ({} bytes) cannot be written to {}: {error}",
                    parameters.len(),
                    path.display()
                )
            })?;
        Ok(Some(path))
    }

    /// Creates and starts the run's container.
    async fn run_container(&self, job: Job<'_>) -> Result<Started, String> {
        let settings = ContainerSettings::from_json(&job.claimed.container_json)
            .map_err(|problem| format!("cannot start the run: {problem}"))?;
        // The servers as the worker reaches them now, the one it uses first.
        let worker_urls = job
            .variables
            .orch
            .iter()
            .find(|(name, _)| *name == flow_env::API_URLS)
            .or_else(|| {
                job.variables
                    .orch
                    .iter()
                    .find(|(name, _)| *name == flow_env::API_URL)
            })
            .map(|(_, urls)| urls.clone())
            .unwrap_or_default();
        let (api_url, network) = docker_spec::reach_server(
            &worker_urls,
            self.container_api_url.as_deref(),
            settings.network.as_deref(),
        )?;
        let image = settings.image.clone().unwrap_or_default();
        if !image.is_empty() {
            self.ensure_image(
                &image,
                settings.pull_policy.unwrap_or(PullPolicy::IfMissing),
            )
            .await?;
        }
        let parameters_file = self.parameters_file(&job)?;
        let base = crate::environment::flow_environment(
            std::env::vars_os().filter(|(name, _)| {
                name.to_str().is_some_and(|name| {
                    self.pass_env
                        .iter()
                        .any(|pattern| crate::environment::allows(pattern, name))
                })
            }),
            &self.pass_env,
            &job.variables,
        );
        let env = docker_spec::flow_variables(
            base,
            &api_url,
            self.tls_ca.is_some(),
            parameters_file
                .is_none()
                .then_some(job.claimed.parameters_json.as_str()),
        );
        let labels = HashMap::from([
            (
                docker_spec::LABEL_RUN.to_owned(),
                job.flow_run_id.to_owned(),
            ),
            (docker_spec::LABEL_POOL.to_owned(), self.pool.clone()),
            (
                docker_spec::LABEL_WORKER_ID.to_owned(),
                self.worker_id.clone(),
            ),
            (
                docker_spec::LABEL_WORKER_NAME.to_owned(),
                self.worker_name.clone(),
            ),
        ]);
        let plan = ContainerPlan {
            settings: &settings,
            entrypoint: &job.claimed.entrypoint,
            env,
            network,
            labels,
            tls_ca: self.tls_ca.as_deref(),
            parameters_file: parameters_file.as_deref(),
        };
        let body = plan.body()?;
        let random = uuid::Uuid::new_v4().simple().to_string();
        let name = format!("orch-{}-{}", job.flow_run_id, &random[..6]);
        let options = CreateContainerOptions {
            name: Some(name.clone()),
            ..CreateContainerOptions::default()
        };
        let created = self
            .docker
            .create_container(Some(options), body)
            .await
            .map_err(|error| {
                format!("cannot start the run: cannot create its container: {error}")
            })?;
        let id = created.id;
        let execution = DockerExecution::new(
            self.docker.clone(),
            id.clone(),
            settings.memory.clone(),
            settings.keep_container.unwrap_or(false),
            parameters_file,
        );
        if let Err(error) = self.docker.start_container(&id, None).await {
            Box::new(execution).release(true).await;
            return Err(format!(
                "cannot start the run: its container {name} did not start: {error}"
            ));
        }
        Ok(execution.started(&name, 0))
    }

    /// This worker's containers (by pool and worker name), any state.
    async fn own_containers(&self) -> Result<Vec<bollard::models::ContainerSummary>, String> {
        let filters = HashMap::from([(
            "label".to_owned(),
            vec![
                format!("{}={}", docker_spec::LABEL_POOL, self.pool),
                format!("{}={}", docker_spec::LABEL_WORKER_NAME, self.worker_name),
            ],
        )]);
        let options = ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..ListContainersOptions::default()
        };
        self.docker
            .list_containers(Some(options))
            .await
            .map_err(|error| error.to_string())
    }
}

impl Pool for DockerPool {
    fn start<'a>(&'a self, job: Job<'a>) -> BoxFuture<'a, Result<Started, String>> {
        Box::pin(self.run_container(job))
    }

    fn reconcile(&self) -> BoxFuture<'_, Vec<Leftover>> {
        Box::pin(async move {
            let containers = match self.own_containers().await {
                Ok(containers) => containers,
                Err(error) => {
                    tracing::error!("cannot list the containers a previous worker left: {error}");
                    return Vec::new();
                }
            };
            let now = i32::try_from(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs(),
            )
            .unwrap_or(0);
            let mut leftovers = Vec::new();
            for container in containers {
                let labels = container.labels.unwrap_or_default();
                let id = container.id.unwrap_or_default();
                let name = container
                    .names
                    .and_then(|names| names.into_iter().next())
                    .unwrap_or_else(|| id.clone());
                let name = name.trim_start_matches('/').to_owned();
                let execution =
                    DockerExecution::new(self.docker.clone(), id.clone(), None, false, None);
                let state = container.state.map(|state| state.to_string());
                let (Some(run), Some(worker)) = (
                    labels.get(docker_spec::LABEL_RUN),
                    labels.get(docker_spec::LABEL_WORKER_ID),
                ) else {
                    continue;
                };
                // Created but never started: nothing ran; the run is
                // retried by the server once its claim is released.
                if state.as_deref() == Some("created") {
                    Box::new(execution).release(true).await;
                    continue;
                }
                leftovers.push(Leftover {
                    flow_run_id: run.clone(),
                    worker_id: worker.clone(),
                    // Lines written while no worker watched stay in `docker logs`.
                    started: execution.started(&name, now),
                });
            }
            leftovers
        })
    }
}
