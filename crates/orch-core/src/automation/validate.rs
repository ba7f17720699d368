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

/// The texts of an action that may hold `${NAME}` placeholders, each with
/// its key (`url`, `to[1]`, ...).
fn action_fields(action: &Action) -> Vec<(String, &String)> {
    let mut fields: Vec<(String, &String)> = [
        ("webhook_url", &action.webhook_url),
        ("url", &action.url),
        ("secret", &action.secret),
        ("smtp_url", &action.smtp_url),
        ("from", &action.from),
    ]
    .into_iter()
    .filter_map(|(key, text)| text.as_ref().map(|text| (key.to_owned(), text)))
    .collect();
    fields.extend(
        action
            .to
            .iter()
            .enumerate()
            .map(|(i, text)| (format!("to[{i}]"), text)),
    );
    fields
}

/// The texts of an action that may hold `${NAME}` placeholders.
fn action_texts(action: &Action) -> impl Iterator<Item = &String> {
    action_fields(action).into_iter().map(|(_, text)| text)
}

/// Checks that every placeholder of action number `index` (from 1) is
/// closed and well named.
///
/// # Errors
///
/// The first bad placeholder: the action, its key, the offset in the value
/// (in characters from 0) and how to write it.
pub fn check_action_placeholders(index: usize, action: &Action) -> Result<(), String> {
    for (key, text) in action_fields(action) {
        parse_placeholders(text).map_err(|problem| {
            format!(
                "action {index} ({}), `{key}`: {problem}",
                action.kind.as_str()
            )
        })?;
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
                names.push(crate::env_vars::SMTP_URL.to_owned());
            }
            if action.from.is_none() {
                names.push(crate::env_vars::SMTP_FROM.to_owned());
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
            .and_then(|()| {
                self.actions
                    .iter()
                    .enumerate()
                    .try_for_each(|(i, action)| check_action_placeholders(i + 1, action))
            });
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
        assert_eq!(
            unclosed.check().unwrap_err(),
            "automation \"a\": action 1 (webhook), `url`: `${TOKEN` at offset 9 opens a \
             placeholder that is never closed; write `${NAME}`, with the closing `}` (a `$` \
             alone needs no escaping)"
        );
        let mut empty = good.clone();
        empty.actions[1].to = vec!["ops@example.com".into(), "${}".into()];
        assert!(empty.check().unwrap_err().starts_with(
            "automation \"a\": action 2 (email), `to[1]`: `${}` at offset 0 has no name"
        ),);
    }
}
