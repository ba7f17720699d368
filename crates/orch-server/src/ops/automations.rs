//! Automations: register (all or none), list, pause/resume, delete, read
//! their history; and a run's custom events, which may fire them.

use orch_core::automation::AutomationSpec;
use orch_store::{Automation, AutomationEntry, AutomationInput, StoreError};

use super::{OpsError, OpsResult};
use crate::state::AppState;

/// Registers automations given as spec JSON. Every spec is checked first
/// (shape, and that each deployment it names exists): when one is invalid
/// nothing is registered. Returns each name with `created`, `updated` or
/// `unchanged`.
pub async fn apply(state: &AppState, specs: &[String]) -> OpsResult<Vec<(String, &'static str)>> {
    let mut inputs = Vec::with_capacity(specs.len());
    for text in specs {
        let spec: AutomationSpec =
            serde_json::from_str(text).map_err(|error| unreadable(text, &error))?;
        orch_core::NameKind::Automation
            .check(&spec.name)
            .map_err(|e| StoreError::InvalidInput(e.to_string()))?;
        spec.check().map_err(OpsError::Invalid)?;
        check_sources(state, &spec).await?;
        for deployment in named_deployments(&spec) {
            state.store().deployments().deployment(deployment).await.map_err(|_| {
                StoreError::InvalidInput(format!(
                    "automation \"{}\" names deployment \"{deployment}\", which is not registered; \
                     declare it in the deploy file or fix the name (`orch deployment ls`)",
                    spec.name
                ))
            })?;
        }
        inputs.push(AutomationInput {
            name: spec.name.clone(),
            description: spec.description.clone(),
            spec: serde_json::to_string(&spec).expect("specs serialise"),
            paused: spec.paused,
        });
    }
    let changes = state
        .store()
        .automations()
        .apply_automations(&inputs)
        .await?;
    crate::automations::changed(state);
    Ok(changes)
}

/// Why a spec given as JSON cannot be read: the automation (when its name
/// can be read) and serde's reason without its place in the JSON text,
/// e.g. a duration out of range with the same message as the deploy file's.
fn unreadable(text: &str, error: &serde_json::Error) -> StoreError {
    let what = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|value| {
            value["name"]
                .as_str()
                .map(|name| format!("automation \"{name}\""))
        })
        .unwrap_or_else(|| "an automation".to_owned());
    let full = error.to_string();
    let place = format!(" at line {} column {}", error.line(), error.column());
    let reason = full.strip_suffix(&place).unwrap_or(&full);
    StoreError::InvalidInput(format!(
        "{what} is not valid: {reason}; write it in the deploy file and register it with `orch deploy`"
    ))
}

/// Refuses a spec whose placeholders name a variable of the server's
/// environment that automations may not read (neither a secret nor allowed).
async fn check_sources(state: &AppState, spec: &AutomationSpec) -> OpsResult<()> {
    let names = crate::automations::placeholders_of(spec);
    if names.is_empty() {
        return Ok(());
    }
    let secrets: Vec<String> = state
        .store()
        .secrets()
        .secret_ciphertexts(&names)
        .await?
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    orch_core::automation::check_placeholder_sources(
        &spec.name,
        &names,
        &|name| secrets.iter().any(|secret| secret == name),
        &state.config().automation_env,
        &|name| std::env::var_os(name).is_some(),
    )
    .map_err(OpsError::Invalid)
}

fn named_deployments(spec: &AutomationSpec) -> impl Iterator<Item = &str> {
    spec.trigger
        .deployments
        .iter()
        .map(String::as_str)
        .chain(spec.actions.iter().filter_map(|a| a.deployment.as_deref()))
}

/// Every automation, with the `${NAME}`s its actions use that have no value.
pub async fn list(state: &AppState) -> OpsResult<Vec<(Automation, Vec<String>)>> {
    let automations = state.store().automations().automations().await?;
    let mut listed = Vec::with_capacity(automations.len());
    for automation in automations {
        let unset = unset_variables(state, &automation.spec).await;
        listed.push((automation, unset));
    }
    Ok(listed)
}

/// One automation, with its unset `${NAME}`s.
pub async fn get(state: &AppState, name: &str) -> OpsResult<(Automation, Vec<String>)> {
    let automation = state.store().automations().automation(name).await?;
    let unset = unset_variables(state, &automation.spec).await;
    Ok((automation, unset))
}

/// Pauses or resumes an automation.
pub async fn set_paused(
    state: &AppState,
    name: &str,
    paused: bool,
) -> OpsResult<(Automation, Vec<String>)> {
    let automation = state
        .store()
        .automations()
        .set_automation_paused(name, paused)
        .await?;
    crate::automations::changed(state);
    let unset = unset_variables(state, &automation.spec).await;
    Ok((automation, unset))
}

/// Deletes an automation with its history.
pub async fn delete(state: &AppState, name: &str) -> OpsResult<()> {
    state.store().automations().delete_automation(name).await?;
    crate::automations::changed(state);
    Ok(())
}

/// An automation's latest history entries, newest first (50 by default, at most 1000).
pub async fn history(state: &AppState, name: &str, limit: i64) -> OpsResult<Vec<AutomationEntry>> {
    let limit = if limit <= 0 { 50 } else { limit.min(1000) };
    Ok(state
        .store()
        .automations()
        .automation_history(name, limit)
        .await?)
}

/// Records a run's custom event (`ctx.emit`) and wakes the engine.
pub async fn emit(
    state: &AppState,
    caller: &crate::caller::Caller,
    run_id: &str,
    name: &str,
    payload_json: &str,
) -> OpsResult<i64> {
    super::access::run(state, caller, run_id).await?;
    orch_core::automation::check_emitted_event_name(name).map_err(OpsError::Invalid)?;
    let payload = if payload_json.trim().is_empty() {
        "null".to_owned()
    } else {
        let value: serde_json::Value = serde_json::from_str(payload_json).map_err(|error| {
            StoreError::InvalidInput(format!("an event's payload must be JSON ({error})"))
        })?;
        value.to_string()
    };
    if payload.len() > orch_core::limits::MAX_PARAMETERS_BYTES {
        return Err(OpsError::Invalid(format!(
            "an event's payload is limited to {} bytes",
            orch_core::limits::MAX_PARAMETERS_BYTES
        )));
    }
    let run = state.store().flow_runs().flow_run(run_id).await?;
    let position = state
        .store()
        .automations()
        .emit_flow_run_event(&run.id, name, &payload)
        .await?;
    crate::automations::wake(state);
    Ok(position)
}

/// The `${NAME}`s of a spec's actions that resolve to nothing now.
async fn unset_variables(state: &AppState, spec: &str) -> Vec<String> {
    let Ok(spec) = serde_json::from_str::<AutomationSpec>(spec) else {
        return Vec::new();
    };
    let names = crate::automations::placeholders_of(&spec);
    let values = crate::automations::Placeholders::read(state, &names).await;
    let mut unset: Vec<String> = names
        .into_iter()
        .filter(|name| values.get(name).is_none())
        .collect();
    unset.sort();
    unset.dedup();
    unset
}
