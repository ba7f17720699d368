//! Secrets: set, list and delete (values go in, never out), and the
//! environment a claimed run receives.

use std::collections::HashMap;

use orch_core::FlowEnvironment;
use orch_store::{FlowRun, SecretInfo, StoreError};

use super::{OpsError, OpsResult};
use crate::state::AppState;

/// Largest secret value: an API key, a certificate or a small JSON
/// credential fits; the environment of a process has limits of its own.
pub const MAX_SECRET_BYTES: usize = 64 * 1024;

/// Seals and stores `value` under `name`; true when the secret is new.
pub async fn set(state: &AppState, name: &str, value: &str) -> OpsResult<bool> {
    if let Some(problem) = orch_core::flow_env::variable_name_problem(name) {
        return Err(OpsError::Invalid(format!("secret name {problem}")));
    }
    if value.is_empty() {
        return Err(OpsError::Invalid(format!(
            "secret \"{name}\" has an empty value; pass the value on stdin or with --from-file"
        )));
    }
    if value.len() > MAX_SECRET_BYTES {
        return Err(OpsError::Invalid(format!(
            "secret \"{name}\" is {} bytes; secrets take at most {}",
            value.len(),
            orch_core::limits::human_bytes(MAX_SECRET_BYTES)
        )));
    }
    if value.contains('\0') {
        return Err(OpsError::Invalid(format!(
            "secret \"{name}\" contains a NUL byte, which no environment variable can hold"
        )));
    }
    let sealed = state
        .keyring()
        .seal(name, value)
        .map_err(|error| OpsError::from(StoreError::Conflict(error)))?;
    Ok(state.store().secrets().set_secret(name, &sealed).await?)
}

/// Every secret's name, times and users; never a value.
pub async fn list(state: &AppState) -> OpsResult<Vec<SecretInfo>> {
    Ok(state.store().secrets().list_secrets().await?)
}

/// Deletes a secret.
pub async fn delete(state: &AppState, name: &str) -> OpsResult<()> {
    Ok(state.store().secrets().delete_secret(name).await?)
}

/// What a claimed run receives besides orch's own variables. Its `Debug`
/// names the secrets, never their values.
#[derive(Default)]
pub struct RunEnvironment {
    /// The deployment's plain variables.
    pub env: HashMap<String, String>,
    /// The values of its secrets, by name.
    pub secrets: HashMap<String, String>,
    /// Secrets it names that are not set (or cannot be opened).
    pub missing: Vec<String>,
}

impl std::fmt::Debug for RunEnvironment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut secrets: Vec<&String> = self.secrets.keys().collect();
        secrets.sort();
        f.debug_struct("RunEnvironment")
            .field("env", &self.env)
            .field("secrets", &secrets)
            .field("missing", &self.missing)
            .finish()
    }
}

/// The environment of `run`, for the worker that claimed it only.
pub async fn run_environment(state: &AppState, run: &FlowRun) -> OpsResult<RunEnvironment> {
    let Some(deployment_id) = &run.deployment_id else {
        return Ok(RunEnvironment::default());
    };
    let environment = state
        .store()
        .secrets()
        .deployment_environment(deployment_id)
        .await?;
    open_environment(state, &run.id, environment).await
}

/// `environment` (a deployment's, as read for run `run_id`) with its
/// secrets' values opened; secrets not set or that cannot be opened are
/// named in `missing`.
pub async fn open_environment(
    state: &AppState,
    run_id: &str,
    environment: FlowEnvironment,
) -> OpsResult<RunEnvironment> {
    let mut result = RunEnvironment {
        env: environment.env.into_iter().collect(),
        ..RunEnvironment::default()
    };
    if environment.secrets.is_empty() {
        return Ok(result);
    }
    let sealed = state
        .store()
        .secrets()
        .secret_ciphertexts(&environment.secrets)
        .await?;
    for name in environment.secrets {
        let value = sealed
            .iter()
            .find(|(found, _)| *found == name)
            .map(|(_, sealed)| state.keyring().open(&name, sealed));
        match value {
            Some(Ok(value)) => {
                result.secrets.insert(name, value);
            }
            Some(Err(error)) => {
                tracing::error!(run = %run_id, "{error}");
                result.missing.push(name);
            }
            None => result.missing.push(name),
        }
    }
    Ok(result)
}
