//! Test fixtures shared by the store's unit tests.

use crate::{DeploymentInput, Store};

/// A SQLite store in a temporary folder with pool `default` and deployment
/// `etl/nightly`; returns the deployment's id (keep the folder alive).
pub(crate) async fn store_with_deployment() -> (Store, String, tempfile::TempDir) {
    let dir = tempfile::TempDir::new().unwrap();
    let store = Store::connect(&format!("sqlite://{}/orch.db", dir.path().display()))
        .await
        .unwrap();
    store
        .work_pools()
        .create_work_pool("default", "process", "", None)
        .await
        .unwrap();
    let specs = orch_core::parse_deploy_file(
        "orch.toml",
        "[[deployments]]\nflow = \"etl\"\nname = \"nightly\"\nentrypoint = [\"etl\"]\nwork_pool = \"default\"\n",
    )
    .unwrap();
    store
        .deployments()
        .apply_deployments(&[DeploymentInput {
            spec: specs.into_iter().next().unwrap(),
            base_dir: "/srv".into(),
        }])
        .await
        .unwrap();
    let id = store
        .deployments()
        .deployment("etl/nightly")
        .await
        .unwrap()
        .id;
    (store, id, dir)
}
