//! `[[automations]]`: checked against the rules TOML types cannot express,
//! each problem reported at its line and column.

use std::collections::HashMap;

use serde::Deserialize;
use toml::Spanned;

use super::convert::identifier;
use super::source::Source;
use crate::automation::{Action, ActionKind, AutomationSpec, Trigger, TriggerKind};
use crate::error::Result;
use crate::state::state_type_of_name;

/// One `[[automations]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAutomation {
    pub name: Spanned<String>,
    pub description: Option<String>,
    pub trigger: Spanned<toml::Value>,
    pub actions: Spanned<Vec<Spanned<toml::Value>>>,
    /// Any value, so that a negative, fractional or huge one gets the
    /// range message of every way in, not serde's.
    pub cooldown_seconds: Option<Spanned<toml::Value>>,
    pub paused: Option<bool>,
}

/// `cooldown_seconds`, read as every way in reads it.
#[derive(Deserialize)]
struct Cooldown(#[serde(deserialize_with = "crate::automation::de_cooldown_seconds")] u64);

/// A deployment an automation names, and where, so that a name that is
/// neither in the file nor on the server is reported at its place.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentReference {
    /// The automation naming it.
    pub automation: String,
    /// `flow/name`.
    pub deployment: String,
    /// The error to give when it is unknown (carries file, line, column).
    pub unknown: crate::Error,
}

/// Validates every automation, in order; returns them with the deployments
/// they name.
pub(super) fn automations(
    source: &Source<'_>,
    raw: Vec<Spanned<RawAutomation>>,
) -> Result<(Vec<AutomationSpec>, Vec<DeploymentReference>)> {
    let mut first_seen: HashMap<String, usize> = HashMap::new();
    let mut specs = Vec::with_capacity(raw.len());
    let mut references = Vec::new();
    for raw in raw {
        let raw = raw.into_inner();
        let offset = raw.name.span().start;
        let spec = automation(source, raw, &mut references)?;
        if let Some(&first) = first_seen.get(&spec.name) {
            return Err(source.error(
                Some(offset),
                format!(
                    "automation \"{}\" is declared twice (first at line {}); give each automation its own name",
                    spec.name,
                    source.line(first)
                ),
            ));
        }
        first_seen.insert(spec.name.clone(), offset);
        specs.push(spec);
    }
    Ok((specs, references))
}

fn automation(
    source: &Source<'_>,
    raw: RawAutomation,
    references: &mut Vec<DeploymentReference>,
) -> Result<AutomationSpec> {
    let name = identifier(source, "name", raw.name)?;
    let trigger_at = raw.trigger.span().start;
    let trigger: Trigger = typed(source, "trigger", raw.trigger)?;
    check_trigger(source, trigger_at, &trigger)?;
    for deployment in &trigger.deployments {
        references.push(reference(source, &name, deployment, trigger_at)?);
    }
    let actions_at = raw.actions.span().start;
    let raw_actions = raw.actions.into_inner();
    if raw_actions.is_empty() {
        return Err(source.error(
            Some(actions_at),
            format!("automation \"{name}\" has no actions; add e.g. {{ type = \"webhook\", url = \"https://...\" }}"),
        ));
    }
    let mut actions = Vec::with_capacity(raw_actions.len());
    for (index, raw_action) in raw_actions.into_iter().enumerate() {
        let at = raw_action.span().start;
        let action: Action = typed(source, "action", raw_action)?;
        crate::automation::check_action_placeholders(index + 1, &action).map_err(|problem| {
            source.error(Some(at), format!("automation \"{name}\": {problem}"))
        })?;
        check_action(source, at, &trigger, &action)?;
        if let Some(deployment) = &action.deployment {
            references.push(reference(source, &name, deployment, at)?);
        }
        actions.push(action);
    }
    let cooldown_seconds = match raw.cooldown_seconds {
        None => 0,
        Some(value) => {
            let at = value.span().start;
            value
                .into_inner()
                .try_into::<Cooldown>()
                .map_err(|error| source.error(Some(at), error.message().to_owned()))?
                .0
        }
    };
    Ok(AutomationSpec {
        name,
        description: raw.description.unwrap_or_default(),
        trigger,
        actions,
        cooldown_seconds,
        paused: raw.paused.unwrap_or(false),
    })
}

/// Reads a trigger or action table into its type; unknown `type`s and keys
/// are refused with the accepted ones listed.
fn typed<T: serde::de::DeserializeOwned>(
    source: &Source<'_>,
    what: &str,
    value: Spanned<toml::Value>,
) -> Result<T> {
    let at = value.span().start;
    value
        .into_inner()
        .try_into()
        .map_err(|error: toml::de::Error| {
            let message = error
                .message()
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned();
            let hint = match (what, message.starts_with("unknown variant")) {
                ("trigger", true) => " (see docs/automations.md for what each trigger takes)",
                ("action", true) => " (see docs/automations.md for what each action takes)",
                _ => "",
            };
            source.error(Some(at), format!("{what}: {message}{hint}"))
        })
}

fn check_trigger(source: &Source<'_>, at: usize, trigger: &Trigger) -> Result<()> {
    let fail = |message: String| Err(source.error(Some(at), format!("trigger: {message}")));
    let kind = trigger.kind;
    let own = |key: &str| {
        matches!(
            (kind, key),
            (TriggerKind::RunState, "states" | "after_retries")
                | (TriggerKind::RunDuration, "seconds")
                | (TriggerKind::Deadline, "late_seconds")
                | (TriggerKind::NoSuccess, "window_seconds")
                | (TriggerKind::Event, "name")
        )
    };
    let given = [
        ("states", !trigger.states.is_empty()),
        ("after_retries", trigger.after_retries),
        ("seconds", trigger.seconds.is_some()),
        ("late_seconds", trigger.late_seconds.is_some()),
        ("window_seconds", trigger.window_seconds.is_some()),
        ("name", trigger.name.is_some()),
    ];
    if let Some((key, _)) = given.iter().find(|(key, set)| *set && !own(key)) {
        return fail(format!(
            "`{key}` does not apply to a {} trigger",
            kind.as_str()
        ));
    }
    crate::automation::check_trigger_durations(trigger).or_else(fail)?;
    let positive = |key: &str, value: Option<u64>| match value {
        Some(v) if v > 0 => Ok(()),
        _ => fail(format!("a {} trigger needs `{key}` > 0", kind.as_str())),
    };
    match kind {
        TriggerKind::RunState => {
            if trigger.states.is_empty() {
                return fail(
                    "a run-state trigger needs `states`, e.g. [\"Failed\", \"Crashed\"]".into(),
                );
            }
            if let Some(bad) = trigger
                .states
                .iter()
                .find(|s| state_type_of_name(s).is_none())
            {
                return fail(format!(
                    "unknown state {bad:?}; use a state such as Completed, Failed, Crashed, Cancelled, Running or Late"
                ));
            }
            Ok(())
        }
        TriggerKind::RunDuration => positive("seconds", trigger.seconds),
        TriggerKind::Deadline => positive("late_seconds", trigger.late_seconds),
        TriggerKind::NoSuccess => {
            positive("window_seconds", trigger.window_seconds)?;
            if trigger.deployments.is_empty() {
                return fail("a no-success trigger needs `deployments` to watch".into());
            }
            Ok(())
        }
        TriggerKind::Event => match &trigger.name {
            Some(name) if !name.is_empty() => Ok(()),
            _ => fail("an event trigger needs the event's `name`, e.g. \"no-data\"".into()),
        },
        TriggerKind::WorkerOffline | TriggerKind::PoolUnattended => Ok(()),
    }
}

fn check_action(source: &Source<'_>, at: usize, trigger: &Trigger, action: &Action) -> Result<()> {
    let fail = |message: String| {
        Err(source.error(
            Some(at),
            format!("{} action: {message}", action.kind.as_str()),
        ))
    };
    let need = |key: &str, present: bool| {
        if present {
            Ok(())
        } else {
            fail(format!("needs `{key}`"))
        }
    };
    match action.kind {
        ActionKind::Slack => {
            need("webhook_url", action.webhook_url.is_some())?;
            check_url(action.webhook_url.as_deref().unwrap_or_default()).or_else(fail)
        }
        ActionKind::Webhook => {
            need("url", action.url.is_some())?;
            check_url(action.url.as_deref().unwrap_or_default()).or_else(fail)
        }
        ActionKind::Email => {
            need("to", !action.to.is_empty())?;
            match action
                .to
                .iter()
                .find(|to| !to.contains('@') && !to.starts_with("${"))
            {
                Some(bad) => fail(format!("{bad:?} is not an e-mail address")),
                None => Ok(()),
            }
        }
        ActionKind::RunDeployment | ActionKind::PauseDeployment | ActionKind::ResumeDeployment => {
            need("deployment", action.deployment.is_some())
        }
        ActionKind::CancelRun => match trigger.kind {
            TriggerKind::RunState
            | TriggerKind::RunDuration
            | TriggerKind::Deadline
            | TriggerKind::Event => Ok(()),
            other => fail(format!("a {} trigger has no run to cancel", other.as_str())),
        },
    }
}

/// An `http`/`https` URL with a host; `${NAME}` parts are checked when the
/// action runs, with their values.
pub(crate) fn check_url(text: &str) -> std::result::Result<(), String> {
    let trimmed = text.trim();
    if trimmed.starts_with("${")
        && trimmed.ends_with('}')
        && crate::automation::placeholders(trimmed).len() == 1
    {
        return Ok(());
    }
    let probe = crate::automation::resolve_placeholders(trimmed, &|_| Some("x".into()))
        .unwrap_or_else(|_| trimmed.to_owned());
    match url::Url::parse(&probe) {
        Ok(url)
            if matches!(url.scheme(), "http" | "https")
                && url.host_str().is_some_and(|h| !h.is_empty()) =>
        {
            Ok(())
        }
        Ok(url) => Err(format!(
            "{text:?} is not an http(s) URL (scheme {:?})",
            url.scheme()
        )),
        Err(error) => Err(format!("{text:?} is not a valid URL ({error})")),
    }
}

fn reference(
    source: &Source<'_>,
    automation: &str,
    deployment: &str,
    at: usize,
) -> Result<DeploymentReference> {
    match deployment.split_once('/') {
        Some((flow, name)) if !flow.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok(DeploymentReference {
                automation: automation.to_owned(),
                deployment: deployment.to_owned(),
                unknown: source.error(
                    Some(at),
                    format!(
                        "automation \"{automation}\" names deployment \"{deployment}\", which is \
                         neither declared in this file nor registered on the server; check the name \
                         (`orch deployment ls`)"
                    ),
                ),
            })
        }
        _ => Err(source.error(
            Some(at),
            format!("automation \"{automation}\": deployment {deployment:?} must be written flow/name"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use crate::automation::{ActionKind, TriggerKind};
    use crate::{Error, parse_deploy_file_with};

    const DEPLOYMENT: &str =
        "[[deployments]]\nflow = \"f\"\nname = \"n\"\nentrypoint = [\"x\"]\nwork_pool = \"p\"\n\n";

    fn parse(automations: &str) -> crate::Result<crate::DeployFile> {
        let text = format!("{DEPLOYMENT}{automations}");
        parse_deploy_file_with("f.toml", &text, &|_: &str| Err("no files".to_string()))
    }

    fn error(automations: &str) -> (usize, String) {
        match parse(automations) {
            Err(Error::DeployFile { line, message, .. }) => (line.unwrap_or(0), message),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn the_contract_example_parses() {
        let file = parse(
            r#"[[automations]]
name = "trading-failures"
description = "a trading run failed after its retries"
trigger = { type = "run-state", states = ["Failed", "Crashed"], after_retries = true, deployments = ["f/n"] }
actions = [ { type = "slack", webhook_url = "${SLACK_WEBHOOK_URL}" }, { type = "webhook", url = "http://127.0.0.1:9000/hook" } ]
cooldown_seconds = 300

[[automations]]
name = "retrain-after-collection"
trigger = { type = "run-state", states = ["Completed"], deployments = ["data/crypto"] }
actions = [ { type = "run-deployment", deployment = "f/n", parameters = { symbol = "BTC-USD" } } ]
"#,
        )
        .unwrap();
        assert_eq!(file.automations.len(), 2);
        let first = &file.automations[0];
        assert_eq!(first.trigger.kind, TriggerKind::RunState);
        assert!(first.trigger.after_retries);
        assert_eq!(first.cooldown_seconds, 300);
        assert_eq!(first.actions[0].kind, ActionKind::Slack);
        assert_eq!(
            file.automations[1].actions[0].parameters.as_ref().unwrap()["symbol"],
            "BTC-USD"
        );
        // "data/crypto" is not in the file: known only if the server has it.
        let unknown = file.unknown_deployment(&|_| false).unwrap();
        assert_eq!(
            unknown.to_string().split(": ").next().unwrap(),
            "f.toml:16:11"
        );
        assert!(unknown.to_string().contains("\"data/crypto\""), "{unknown}");
        assert!(file.unknown_deployment(&|d| d == "data/crypto").is_none());
    }

    #[test]
    fn an_unknown_trigger_type_is_refused_at_its_line() {
        let (line, message) = error(
            "[[automations]]\nname = \"a\"\ntrigger = { type = \"run-stat\" }\nactions = [{ type = \"webhook\", url = \"http://h/\" }]\n",
        );
        assert_eq!(line, 9);
        assert!(
            message.starts_with("trigger: unknown variant `run-stat`"),
            "{message}"
        );
    }

    #[test]
    fn an_unknown_action_type_or_key_is_refused() {
        let (line, message) = error(
            "[[automations]]\nname = \"a\"\ntrigger = { type = \"event\", name = \"no-data\" }\nactions = [\n  { type = \"sms\", to = [\"x\"] },\n]\n",
        );
        assert_eq!(line, 11);
        assert!(
            message.starts_with("action: unknown variant `sms`"),
            "{message}"
        );
        let (_, message) = error(
            "[[automations]]\nname = \"a\"\ntrigger = { type = \"event\", name = \"e\", seconds = 3 }\nactions = [{ type = \"webhook\", url = \"http://h/\" }]\n",
        );
        assert_eq!(
            message,
            "trigger: `seconds` does not apply to a event trigger"
        );
    }

    #[test]
    fn a_malformed_url_is_refused() {
        let (line, message) = error(
            "[[automations]]\nname = \"a\"\ntrigger = { type = \"run-state\", states = [\"Failed\"] }\nactions = [{ type = \"webhook\", url = \"htp:/nowhere\" }]\n",
        );
        assert_eq!(line, 10);
        assert!(
            message.starts_with("webhook action: \"htp:/nowhere\""),
            "{message}"
        );
        assert!(super::check_url("${HOOK}").is_ok());
        assert!(super::check_url("https://hooks.slack.com/${TOKEN}").is_ok());
        assert!(super::check_url("not a url").is_err());
    }

    #[test]
    fn unknown_states_and_missing_settings_are_refused() {
        let (_, message) = error(
            "[[automations]]\nname = \"a\"\ntrigger = { type = \"run-state\", states = [\"Exploded\"] }\nactions = [{ type = \"cancel-run\" }]\n",
        );
        assert!(
            message.starts_with("trigger: unknown state \"Exploded\""),
            "{message}"
        );
        let (_, message) = error(
            "[[automations]]\nname = \"a\"\ntrigger = { type = \"run-duration\" }\nactions = [{ type = \"cancel-run\" }]\n",
        );
        assert_eq!(
            message,
            "trigger: a run-duration trigger needs `seconds` > 0"
        );
        let (_, message) = error(
            "[[automations]]\nname = \"a\"\ntrigger = { type = \"worker-offline\" }\nactions = [{ type = \"cancel-run\" }]\n",
        );
        assert_eq!(
            message,
            "cancel-run action: a worker-offline trigger has no run to cancel"
        );
    }

    #[test]
    fn huge_durations_and_unclosed_placeholders_are_refused_at_their_line() {
        let (line, message) = error(
            "[[automations]]\nname = \"a\"\ntrigger = { type = \"event\", name = \"e\" }\nactions = [{ type = \"cancel-run\" }]\ncooldown_seconds = 9223372036854775807\n",
        );
        assert_eq!(line, 11);
        assert!(
            message.starts_with("`cooldown_seconds` must be between 0 and 31622400 (366 days)"),
            "{message}"
        );
        let (_, message) = error(
            "[[automations]]\nname = \"a\"\ntrigger = { type = \"run-duration\", seconds = 999999999999 }\nactions = [{ type = \"cancel-run\" }]\n",
        );
        assert!(
            message.starts_with("trigger: `seconds` must be between 1 and 31622400"),
            "{message}"
        );
        let (line, message) = error(
            "[[automations]]\nname = \"a\"\ntrigger = { type = \"event\", name = \"e\" }\nactions = [{ type = \"webhook\", url = \"https://h/${NAME\" }]\n",
        );
        assert_eq!(line, 10);
        assert!(
            message.starts_with(
                "automation \"a\": action 1 (webhook), `url`: `${NAME` at offset 10 opens a \
                 placeholder that is never closed"
            ),
            "{message}"
        );
        for (written, wanted) in [
            (
                "seconds = -5",
                "trigger: `seconds` must be between 1 and 31622400 (366 days), not -5",
            ),
            (
                "seconds = 1.5",
                "trigger: `seconds` must be a whole number of seconds between 1",
            ),
            (
                "seconds = \"60\"",
                "trigger: `seconds` must be a number of seconds",
            ),
        ] {
            let (_, message) = error(&format!(
                "[[automations]]\nname = \"a\"\ntrigger = {{ type = \"run-duration\", {written} }}\nactions = [{{ type = \"cancel-run\" }}]\n"
            ));
            assert!(message.starts_with(wanted), "{written}: {message}");
        }
        for (written, wanted) in [
            (
                "-1",
                "`cooldown_seconds` must be between 0 and 31622400 (366 days), not -1",
            ),
            (
                "2.5",
                "`cooldown_seconds` must be a whole number of seconds between 0",
            ),
        ] {
            let (line, message) = error(&format!(
                "[[automations]]\nname = \"a\"\ntrigger = {{ type = \"event\", name = \"e\" }}\nactions = [{{ type = \"cancel-run\" }}]\ncooldown_seconds = {written}\n"
            ));
            assert_eq!(line, 11);
            assert!(message.starts_with(wanted), "{written}: {message}");
        }
    }

    #[test]
    fn duplicate_names_are_refused() {
        let one = "[[automations]]\nname = \"a\"\ntrigger = { type = \"worker-offline\" }\nactions = [{ type = \"webhook\", url = \"http://h/\" }]\n";
        let (line, message) = error(&format!("{one}{one}"));
        assert_eq!(line, 12);
        assert!(
            message.starts_with("automation \"a\" is declared twice (first at line 8)"),
            "{message}"
        );
    }
}
