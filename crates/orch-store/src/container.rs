//! Container settings of `docker` pools and of their deployments (see
//! [`orch_core::container`]), stored as JSON text (`''` for none).

use orch_core::ContainerSettings;

use crate::error::{Result, StoreError};

/// Reads a `container` column.
pub(crate) fn from_column(column: &str, text: &str) -> Result<ContainerSettings> {
    ContainerSettings::from_json(text).map_err(|error| {
        StoreError::Conflict(format!(
            "corrupt {column} {text:?} in the database: {error}"
        ))
    })
}

/// Writes a deployment's `container` column.
pub(crate) async fn set_deployment_container(
    tx: &mut sqlx::AnyConnection,
    deployment_id: &str,
    settings: &ContainerSettings,
) -> Result<()> {
    sqlx::query("UPDATE deployments SET container = $1 WHERE id = $2")
        .bind(settings.to_json())
        .bind(deployment_id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// The settings a claimed run starts with: its deployment's over its pool's,
/// for a pool that runs containers; `None` for any other pool.
pub(crate) fn for_claim(
    pool_type: &str,
    pool: &str,
    deployment: &str,
) -> Result<Option<ContainerSettings>> {
    if pool_type != "docker" {
        return Ok(None);
    }
    let pool = from_column("work_pools.container", pool)?;
    let deployment = from_column("deployments.container", deployment)?;
    Ok(Some(deployment.over(&pool)))
}
