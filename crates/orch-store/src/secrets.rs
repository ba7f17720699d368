//! Secrets (stored sealed: the store never sees a value in clear) and the
//! variables a deployment hands its runs.

use orch_core::FlowEnvironment;

use crate::Secrets;
use crate::error::{Result, StoreError};
use crate::rows::{from_json, to_json};

/// A stored secret, without its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretInfo {
    /// Its name, the variable its runs receive it as.
    pub name: String,
    /// When it was first set (micros).
    pub created_at: i64,
    /// When its value last changed (micros).
    pub updated_at: i64,
    /// `flow/name` of the deployments that name it.
    pub deployments: Vec<String>,
}

impl Secrets<'_> {
    /// Stores `ciphertext` (the value sealed by the server) under `name`,
    /// replacing any previous value. True when the secret is new.
    pub async fn set_secret(&self, name: &str, ciphertext: &str) -> Result<bool> {
        let now = self.now();
        let mut tx = self.writer.begin().await?;
        let updated =
            sqlx::query("UPDATE secrets SET ciphertext = $1, updated_at = $2 WHERE name = $3")
                .bind(ciphertext)
                .bind(now)
                .bind(name)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if updated == 0 {
            sqlx::query(
                "INSERT INTO secrets (name, ciphertext, created_at, updated_at) VALUES ($1, $2, $3, $3)",
            )
            .bind(name)
            .bind(ciphertext)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(updated == 0)
    }

    /// Every secret by name, with the deployments that use it; never values.
    pub async fn list_secrets(&self) -> Result<Vec<SecretInfo>> {
        let rows: Vec<(String, i64, i64)> =
            sqlx::query_as("SELECT name, created_at, updated_at FROM secrets ORDER BY name")
                .fetch_all(&self.reader)
                .await?;
        let users = self.secret_users().await?;
        Ok(rows
            .into_iter()
            .map(|(name, created_at, updated_at)| SecretInfo {
                deployments: users
                    .iter()
                    .filter(|(_, secrets)| secrets.contains(&name))
                    .map(|(deployment, _)| deployment.clone())
                    .collect(),
                name,
                created_at,
                updated_at,
            })
            .collect())
    }

    /// Deletes the secret `name`. Runs of deployments that still name it
    /// fail until it is set again or they are deployed without it.
    pub async fn delete_secret(&self, name: &str) -> Result<()> {
        let deleted = sqlx::query("DELETE FROM secrets WHERE name = $1")
            .bind(name)
            .execute(self.writer.pool())
            .await?
            .rows_affected();
        if deleted == 0 {
            let names: Vec<String> = self
                .list_secrets()
                .await?
                .into_iter()
                .map(|s| s.name)
                .collect();
            return Err(StoreError::NotFound {
                kind: "secret",
                name: name.to_owned(),
                hint: orch_core::did_you_mean(&orch_core::close_matches(
                    name,
                    names.iter().map(String::as_str),
                )),
            });
        }
        Ok(())
    }

    /// The sealed values of the secrets among `names` that exist, by name.
    pub async fn secret_ciphertexts(&self, names: &[String]) -> Result<Vec<(String, String)>> {
        let mut found = Vec::with_capacity(names.len());
        for name in names {
            let row: Option<(String,)> =
                sqlx::query_as("SELECT ciphertext FROM secrets WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&self.reader)
                    .await?;
            if let Some((ciphertext,)) = row {
                found.push((name.clone(), ciphertext));
            }
        }
        Ok(found)
    }

    /// The variables and secret names deployment `id` hands its runs
    /// (nothing for a deployment that no longer exists).
    pub async fn deployment_environment(&self, id: &str) -> Result<FlowEnvironment> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT env, secrets FROM deployments WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.reader)
                .await?;
        let Some((env, secrets)) = row else {
            return Ok(FlowEnvironment::default());
        };
        Ok(FlowEnvironment {
            env: from_json("deployments.env", &env)?,
            secrets: from_json("deployments.secrets", &secrets)?,
        })
    }

    /// Refuses a deployment naming secrets that are not set, saying how to set them.
    pub(crate) async fn check_secrets_exist(&self, label: &str, names: &[String]) -> Result<()> {
        if names.is_empty() {
            return Ok(());
        }
        let found = self.secret_ciphertexts(names).await?;
        let missing: Vec<&String> = names
            .iter()
            .filter(|name| !found.iter().any(|(found, _)| found == *name))
            .collect();
        match missing.as_slice() {
            [] => Ok(()),
            [name] => Err(StoreError::InvalidInput(format!(
                "deployment \"{label}\" uses secret \"{name}\", which is not set; set it with \
                 `orch secret set {name}` (value on stdin) and deploy again"
            ))),
            names => Err(StoreError::InvalidInput(format!(
                "deployment \"{label}\" uses secrets that are not set: {}; set each with \
                 `orch secret set NAME` (value on stdin) and deploy again",
                names
                    .iter()
                    .map(|n| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// `flow/name` and secret names of every deployment that uses secrets.
    async fn secret_users(&self) -> Result<Vec<(String, Vec<String>)>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT f.name || '/' || d.name, d.secrets FROM deployments d \
             JOIN flows f ON f.id = d.flow_id WHERE d.secrets <> '[]' ORDER BY f.name, d.name",
        )
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter()
            .map(|(deployment, secrets)| {
                Ok((deployment, from_json("deployments.secrets", &secrets)?))
            })
            .collect()
    }
}

/// Writes a deployment's `env` and `secrets` columns.
pub(crate) async fn set_deployment_environment(
    tx: &mut sqlx::AnyConnection,
    deployment_id: &str,
    environment: &FlowEnvironment,
) -> Result<()> {
    sqlx::query("UPDATE deployments SET env = $1, secrets = $2 WHERE id = $3")
        .bind(to_json(&environment.env))
        .bind(to_json(&environment.secrets))
        .bind(deployment_id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}
