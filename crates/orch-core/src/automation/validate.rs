//! The checks every automation passes when it is created, whatever the
//! way in (deploy file, CLI, REST, gRPC): durations in range, placeholders
//! well formed. The deploy file reports them at their line; the server runs
//! them again on every spec it is given.

use super::{Action, ActionKind, AutomationSpec, Trigger, check_seconds, parse_placeholders};

/// Checks the durations a trigger names: each at least 1 s and at most
/// [`super::MAX_AUTOMATION_SECONDS`].
///
/// # Errors
///
/// The first out of range, with the range.
pub fn check_trigger_durations(trigger: &Trigger) -> Result<(), String> {
    for (key, value) in [
        ("seconds", trigger.seconds),
        ("late_seconds", trigger.late_seconds),
        ("window_seconds", trigger.window_seconds),
    ] {
        if let Some(value) = value {
            check_seconds(key, i128::from(value), 1)?;
        }
    }
    Ok(())
}

/// The texts of an action that may hold `${NAME}` placeholders.
fn action_texts(action: &Action) -> impl Iterator<Item = &String> {
    [
        &action.webhook_url,
        &action.url,
        &action.secret,
        &action.smtp_url,
        &action.from,
    ]
    .into_iter()
    .flatten()
    .chain(action.to.iter())
}

/// Checks that every placeholder of an action is closed and well named.
///
/// # Errors
///
/// The first bad placeholder and how to write it.
pub fn check_action_placeholders(action: &Action) -> Result<(), String> {
    for text in action_texts(action) {
        parse_placeholders(text)?;
    }
    Ok(())
}

/// Every `${NAME}` an automation's actions will read, in order; an `email`
/// action without `smtp_url` or `from` reads `ORCH_SMTP_URL` and
/// `ORCH_SMTP_FROM`.
pub fn placeholder_names(spec: &AutomationSpec) -> Vec<String> {
    let mut names = Vec::new();
    for action in &spec.actions {
        for text in action_texts(action) {
            names.extend(super::placeholders(text));
        }
        if action.kind == ActionKind::Email {
            if action.smtp_url.is_none() {
                names.push("ORCH_SMTP_URL".to_owned());
            }
            if action.from.is_none() {
                names.push("ORCH_SMTP_FROM".to_owned());
            }
        }
    }
    names
}

impl AutomationSpec {
    /// The checks of every way in: durations and the cooldown in range,
    /// placeholders well formed.
    ///
    /// # Errors
    ///
    /// The first problem, prefixed by the automation's name.
    pub fn check(&self) -> Result<(), String> {
        let result = check_trigger_durations(&self.trigger)
            .and_then(|()| {
                check_seconds("cooldown_seconds", i128::from(self.cooldown_seconds), 0).map(drop)
            })
            .and_then(|()| self.actions.iter().try_for_each(check_action_placeholders));
        result.map_err(|problem| format!("automation \"{}\": {problem}", self.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::automation::TriggerKind;

    fn spec(json: serde_json::Value) -> AutomationSpec {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn specs_from_any_way_in_get_the_same_checks() {
        let good = spec(serde_json::json!({
            "name": "a",
            "trigger": { "type": "run-duration", "seconds": 60 },
            "actions": [{ "type": "webhook", "url": "http://h/${TOKEN}" }, { "type": "email", "to": ["${TO}"] }],
            "cooldown_seconds": 300,
        }));
        assert_eq!(good.check(), Ok(()));
        assert_eq!(good.trigger.kind, TriggerKind::RunDuration);
        assert_eq!(
            placeholder_names(&good),
            vec!["TOKEN", "TO", "ORCH_SMTP_URL", "ORCH_SMTP_FROM"]
        );

        let mut huge = good.clone();
        huge.cooldown_seconds = i64::MAX as u64;
        let error = huge.check().unwrap_err();
        assert!(
            error
                .starts_with("automation \"a\": `cooldown_seconds` must be between 0 and 31622400"),
            "{error}"
        );
        let mut long = good.clone();
        long.trigger.seconds = Some(u64::MAX);
        assert!(
            long.check()
                .unwrap_err()
                .contains("`seconds` must be between 1")
        );
        let mut unclosed = good.clone();
        unclosed.actions[0].url = Some("http://h/${TOKEN".into());
        assert!(unclosed.check().unwrap_err().contains("never closed"));
    }
}
