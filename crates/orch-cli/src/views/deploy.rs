//! What `orch deploy` changed.

use orch_proto::v1 as proto;
use serde::Serialize;

use crate::output::{self, colour};

/// What happened to one deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// It is new.
    Created,
    /// Some fields changed.
    Updated,
    /// It was already as declared.
    Unchanged,
}

/// The outcome of applying one deployment.
#[derive(Debug, Clone, Serialize)]
pub struct DeploymentChangeView {
    /// `flow/name`.
    pub deployment: String,
    /// The flow's name.
    pub flow: String,
    /// The deployment's name.
    pub name: String,
    /// What happened.
    pub change: ChangeKind,
    /// The fields that changed, for `updated`.
    pub changed_fields: Vec<String>,
    /// Whether the flow itself was created.
    pub flow_created: bool,
}

impl From<&proto::DeploymentChange> for DeploymentChangeView {
    fn from(change: &proto::DeploymentChange) -> Self {
        let kind = match proto::ChangeKind::try_from(change.kind) {
            Ok(proto::ChangeKind::Created) => ChangeKind::Created,
            Ok(proto::ChangeKind::Updated) => ChangeKind::Updated,
            _ => ChangeKind::Unchanged,
        };
        Self {
            deployment: format!("{}/{}", change.flow, change.name),
            flow: change.flow.clone(),
            name: change.name.clone(),
            change: kind,
            changed_fields: change.changed_fields.clone(),
            flow_created: change.flow_created,
        }
    }
}

impl DeploymentChangeView {
    /// Records a field changed after the apply itself (e.g. pausing).
    pub fn add_changed_field(&mut self, field: &str) {
        if self.change == ChangeKind::Unchanged {
            self.change = ChangeKind::Updated;
        }
        if self.change == ChangeKind::Updated {
            self.changed_fields.push(field.to_owned());
        }
    }

    /// `created`, `updated (tags, schedules)` or `unchanged`.
    pub fn summary(&self) -> String {
        match self.change {
            ChangeKind::Created => "created".to_owned(),
            ChangeKind::Updated if self.changed_fields.is_empty() => "updated".to_owned(),
            ChangeKind::Updated => format!("updated ({})", self.changed_fields.join(", ")),
            ChangeKind::Unchanged => "unchanged".to_owned(),
        }
    }
}

/// Everything `orch deploy` did.
#[derive(Debug, Clone, Serialize)]
pub struct DeployReportView {
    /// The deploy file.
    pub file: String,
    /// Flows created by this deploy.
    pub flows_created: Vec<String>,
    /// One entry per declared deployment, in file order.
    pub deployments: Vec<DeploymentChangeView>,
    /// One entry per declared automation, in file order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub automations: Vec<AutomationChangeView>,
}

/// What `orch deploy` did to one automation.
#[derive(Debug, Clone, Serialize)]
pub struct AutomationChangeView {
    /// Its name.
    pub automation: String,
    /// `created`, `updated` or `unchanged`.
    pub change: String,
}

impl DeployReportView {
    /// The report for `changes`, applied from `file`.
    pub fn new(file: &str, deployments: Vec<DeploymentChangeView>) -> Self {
        let mut flows_created: Vec<String> = Vec::new();
        for change in deployments.iter().filter(|change| change.flow_created) {
            if !flows_created.contains(&change.flow) {
                flows_created.push(change.flow.clone());
            }
        }
        Self {
            file: file.to_owned(),
            flows_created,
            deployments,
            automations: Vec::new(),
        }
    }

    /// How many deployments had `kind`.
    fn count(&self, kind: ChangeKind) -> usize {
        self.deployments
            .iter()
            .filter(|change| change.change == kind)
            .count()
    }
}

/// Writes one line per created flow and per deployment, then a total.
pub fn print(report: &DeployReportView) -> std::io::Result<()> {
    for flow in &report.flows_created {
        output::write_line(format_args!("Created flow {flow}"))?;
    }
    let width = report
        .deployments
        .iter()
        .map(|change| change.deployment.len())
        .max()
        .unwrap_or(0);
    for change in &report.deployments {
        let colour = match change.change {
            ChangeKind::Created => Some(colour::Colour::Green),
            ChangeKind::Updated => Some(colour::Colour::Yellow),
            ChangeKind::Unchanged => None,
        };
        output::write_line(format_args!(
            "{:width$}  {}",
            change.deployment,
            colour::paint(&change.summary(), colour)
        ))?;
    }
    output::write_line(format_args!(
        "Applied {} deployment{} from {}: {} created, {} updated, {} unchanged.",
        report.deployments.len(),
        if report.deployments.len() == 1 {
            ""
        } else {
            "s"
        },
        report.file,
        report.count(ChangeKind::Created),
        report.count(ChangeKind::Updated),
        report.count(ChangeKind::Unchanged),
    ))?;
    if report.automations.is_empty() {
        return Ok(());
    }
    for change in &report.automations {
        output::write_line(format_args!(
            "automation {}  {}",
            change.automation, change.change
        ))?;
    }
    output::write_line(format_args!(
        "Registered {} automation{}; see them with 'orch automation ls'.",
        report.automations.len(),
        if report.automations.len() == 1 {
            ""
        } else {
            "s"
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(kind: ChangeKind, fields: &[&str]) -> DeploymentChangeView {
        DeploymentChangeView {
            deployment: "etl/daily".to_owned(),
            flow: "etl".to_owned(),
            name: "daily".to_owned(),
            change: kind,
            changed_fields: fields.iter().map(|field| field.to_string()).collect(),
            flow_created: false,
        }
    }

    #[test]
    fn summaries_name_the_changed_fields() {
        assert_eq!(change(ChangeKind::Created, &[]).summary(), "created");
        assert_eq!(
            change(ChangeKind::Updated, &["tags", "schedules"]).summary(),
            "updated (tags, schedules)"
        );
        assert_eq!(change(ChangeKind::Unchanged, &[]).summary(), "unchanged");
    }

    #[test]
    fn pausing_an_unchanged_deployment_updates_it() {
        let mut unchanged = change(ChangeKind::Unchanged, &[]);
        unchanged.add_changed_field("paused");
        assert_eq!(unchanged.summary(), "updated (paused)");
        let mut created = change(ChangeKind::Created, &[]);
        created.add_changed_field("paused");
        assert_eq!(created.summary(), "created");
    }
}
