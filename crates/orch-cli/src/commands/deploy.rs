//! `orch deploy [FILE]`: applies the deployments a deploy file declares.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use orch_proto::v1 as proto;

use super::Context;
use super::automation as automations;
use crate::cli::DeployArgs;
use crate::client::{Api, Reply};
use crate::output::{self, Format};
use crate::views::deploy::{self as view, DeployReportView, DeploymentChangeView};

/// Parses the file, then creates or updates its flows and deployments on the server.
pub async fn run(context: &Context, args: DeployArgs) -> anyhow::Result<()> {
    let specs = parse(&args.file)?;
    let api = context.connect().await?;
    let report = apply(&api, &args.file, &specs).await?;
    match args.output.output {
        Format::Table => view::print(&report)?,
        Format::Json => output::print_json(&report)?,
    }
    Ok(())
}

/// Reads and validates a deploy file, before anything is sent to the server.
pub fn parse(path: &Path) -> anyhow::Result<orch_core::DeployFile> {
    let file = path.display().to_string();
    let text = read_deploy_file(path)?;
    let parsed = parse_file(path, &file, &text)?;
    if parsed.deployments.is_empty() {
        anyhow::bail!("{file} declares no deployments");
    }
    Ok(parsed)
}

/// Parses a deploy file's text, reading the calendar files it names
/// relative to its folder.
pub fn parse_file(path: &Path, file: &str, text: &str) -> anyhow::Result<orch_core::DeployFile> {
    let folder = path
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let read = |name: &str| {
        orch_core::input_file::read_text(&folder.join(name)).map_err(|e| e.to_string())
    };
    orch_core::parse_deploy_file_with(file, text, &read)
        // The message already reads `FILE:LINE:COLUMN: what is wrong`.
        .map_err(|error| anyhow::anyhow!("{error}"))
}

/// Creates or updates the declared deployments, then the automations;
/// returns what changed. An automation naming a deployment that is neither
/// in the file nor on the server stops everything before anything is sent.
pub async fn apply(
    api: &Api,
    path: &Path,
    file: &orch_core::DeployFile,
) -> anyhow::Result<DeployReportView> {
    let specs = &file.deployments;
    automations::check_deployments(api, file).await?;
    let base_dir = base_dir(path)?;
    let request = proto::ApplyDeploymentsRequest {
        deployments: specs
            .iter()
            .map(|spec| orch_proto::deploy::deployment_spec(spec, &base_dir.display().to_string()))
            .collect(),
    };
    let reply = api
        .deployments()
        .apply_deployments(request)
        .await
        .reply(api)?;
    let mut changes: Vec<DeploymentChangeView> = reply
        .changes
        .iter()
        .map(DeploymentChangeView::from)
        .collect();
    for spec in specs.iter().filter(|spec| spec.paused) {
        pause_if_running(api, spec, &mut changes).await?;
    }
    let mut report = DeployReportView::new(&path.display().to_string(), changes);
    report.automations = automations::apply(api, &file.automations).await?;
    Ok(report)
}

/// The file's text, with a hint when the default file is missing.
pub(crate) fn read_deploy_file(path: &Path) -> anyhow::Result<String> {
    orch_core::input_file::read_text(path).map_err(|error| {
        if error.kind() == std::io::ErrorKind::NotFound {
            anyhow::anyhow!(
                "cannot read {}: no such file. Declare deployments there, or pass the deploy \
                 file: orch deploy PATH",
                path.display()
            )
        } else {
            anyhow::anyhow!("{error}")
        }
    })
}

/// The absolute folder of the deploy file, which relative entrypoints are resolved against.
fn base_dir(file: &Path) -> anyhow::Result<PathBuf> {
    let canonical = std::fs::canonicalize(file)
        .with_context(|| format!("cannot resolve the folder of {}", file.display()))?;
    Ok(canonical
        .parent()
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf))
}

/// Pauses a deployment the file declares `paused = true` unless it already is, and
/// records that in its change. (The apply request has no `paused` field; a deployment
/// paused by hand stays paused when the file does not say so.)
async fn pause_if_running(
    api: &Api,
    spec: &orch_core::DeploymentSpec,
    changes: &mut [DeploymentChangeView],
) -> anyhow::Result<()> {
    let reference = format!("{}/{}", spec.flow, spec.name);
    let current = api
        .deployments()
        .get_deployment(proto::GetDeploymentRequest {
            deployment: reference.clone(),
        })
        .await
        .reply(api)?;
    if current.paused {
        return Ok(());
    }
    api.deployments()
        .update_deployment(proto::UpdateDeploymentRequest {
            deployment: reference.clone(),
            paused: Some(true),
        })
        .await
        .reply(api)?;
    if let Some(change) = changes
        .iter_mut()
        .find(|change| change.deployment == reference)
    {
        change.add_changed_field("paused");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_dir_is_the_absolute_folder_of_the_file() {
        let folder = tempfile::tempdir().unwrap();
        let file = folder.path().join("orch.toml");
        std::fs::write(&file, "").unwrap();
        let expected = std::fs::canonicalize(folder.path()).unwrap();
        assert_eq!(base_dir(&file).unwrap(), expected);
    }

    #[test]
    fn a_missing_file_says_how_to_pass_one() {
        let error = read_deploy_file(Path::new("nowhere/orch.toml")).unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with("cannot read nowhere/orch.toml: no such file"),
            "{message}"
        );
        assert!(message.contains("orch deploy PATH"), "{message}");
    }
}
