//! What a flow process receives besides orch's own variables: a deployment's
//! `env` table and the names of the secrets it uses, the rule for variable
//! names, and the redaction of secret values in log lines.

use std::borrow::Cow;
use std::collections::BTreeMap;

/// What replaces a secret's value in a log line.
pub const REDACTED: &str = "***";

/// Prefix of the variables orch itself sets for a flow; a deployment may not
/// set them through `env` or `secrets`.
pub const RESERVED_PREFIX: &str = "ORCH_";

/// A deployment's additions to its runs' environment.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct FlowEnvironment {
    /// Plain variables (`env = { LOG_LEVEL = "info" }`): not secret, shown by
    /// `orch deployment inspect`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Names of the secrets (`orch secret set NAME`) its runs receive as
    /// variables of the same name; their values never leave the server but
    /// to the worker running the run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
}

impl FlowEnvironment {
    /// Whether it adds nothing.
    pub fn is_empty(&self) -> bool {
        self.env.is_empty() && self.secrets.is_empty()
    }
}

/// Whether `name` is a variable name: `[A-Za-z_][A-Za-z0-9_]*` (what every
/// shell accepts). The one rule for variables and `${NAME}` placeholders.
pub fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Why `name` cannot be an environment variable a deployment sets, or `None`.
///
/// Names are `[A-Za-z_][A-Za-z0-9_]*` (what every shell accepts), and the
/// `ORCH_` prefix is orch's own.
pub fn variable_name_problem(name: &str) -> Option<String> {
    if !is_variable_name(name) {
        return Some(format!(
            "\"{name}\" is not a valid environment variable name: use letters, digits and \
             underscores, not starting with a digit (e.g. NEWSAPI_KEY)"
        ));
    }
    if name.to_ascii_uppercase().starts_with(RESERVED_PREFIX) {
        return Some(format!(
            "\"{name}\" starts with {RESERVED_PREFIX}, which is reserved for the variables orch \
             sets itself; pick another name"
        ));
    }
    None
}

/// The prefix of every orch API key: `orch_<16 hex id>_<hex secret>` (see
/// orch-store's tokens).
pub const KEY_PREFIX: &str = "orch_";
/// Hex digits of a key's id.
const KEY_ID_LEN: usize = 16;
/// Fewest hex digits of a key's secret for a word to count as a key.
const KEY_SECRET_MIN: usize = 32;

/// Replaces every occurrence of a secret value in `line` with [`REDACTED`],
/// and every word shaped like an orch API key (`orch_<id>_<secret>`), whoever's.
///
/// Longer values are replaced first, so a value that contains another is
/// hidden whole. Empty values are ignored (they would match everywhere).
pub fn redact<'a>(line: &'a str, secrets: &[String]) -> Cow<'a, str> {
    let mut found: Vec<&str> = secrets
        .iter()
        .map(String::as_str)
        .filter(|value| !value.is_empty() && line.contains(*value))
        .collect();
    if found.is_empty() {
        return redact_keys(line);
    }
    found.sort_by_key(|value| std::cmp::Reverse(value.len()));
    let mut text = line.to_owned();
    for value in found {
        text = text.replace(value, REDACTED);
    }
    Cow::Owned(redact_keys(&text).into_owned())
}

/// Replaces every orch API key in `line` (`orch_`, 16 hex digits, `_`, at
/// least 32 hex digits) with `orch_***`.
///
/// Hand-written rather than a regular expression: the shape is fixed and
/// this runs on every log line without adding a dependency to the core.
pub fn redact_keys(line: &str) -> Cow<'_, str> {
    let mut text = String::new();
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = line[from..].find(KEY_PREFIX) {
        let start = from + found;
        let rest = &line.as_bytes()[start + KEY_PREFIX.len()..];
        let id = rest.iter().take_while(|b| b.is_ascii_hexdigit()).count();
        let secret = rest.get(id + 1..).map_or(0, |tail| {
            tail.iter().take_while(|b| b.is_ascii_hexdigit()).count()
        });
        if id == KEY_ID_LEN && rest.get(id) == Some(&b'_') && secret >= KEY_SECRET_MIN {
            let end = start + KEY_PREFIX.len() + id + 1 + secret;
            text.push_str(&line[copied..start]);
            text.push_str(KEY_PREFIX);
            text.push_str(REDACTED);
            copied = end;
            from = end;
        } else {
            from = start + KEY_PREFIX.len();
        }
    }
    if copied == 0 {
        return Cow::Borrowed(line);
    }
    text.push_str(&line[copied..]);
    Cow::Owned(text)
}

/// Lines of a multi-line secret shorter than this are not hidden on their
/// own (a line such as `}` would hide every brace); the whole value, and
/// every longer line, is.
pub const MIN_REDACTED_LINE: usize = 4;

/// The values to hide in a run's log lines, given its secrets: each whole
/// value and, as a flow's output is stored line by line, each line of a
/// multi-line value (a PEM key, say) of at least [`MIN_REDACTED_LINE`]
/// characters, without its line ending or surrounding blanks.
pub fn redaction_values(secrets: &[String]) -> Vec<String> {
    let mut values: Vec<String> = Vec::with_capacity(secrets.len());
    for secret in secrets {
        let mut push = |value: &str| {
            if !value.is_empty() && !values.iter().any(|known| known == value) {
                values.push(value.to_owned());
            }
        };
        push(secret);
        let trimmed = secret.trim();
        if trimmed.contains(['\n', '\r']) {
            push(trimmed);
            for line in trimmed.lines().map(str::trim) {
                if line.chars().count() >= MIN_REDACTED_LINE {
                    push(line);
                }
            }
        }
    }
    values
}

/// `json` (a JSON document, such as a task's result) with `secrets` hidden
/// in its strings and keys, so that it stays JSON; text that is not JSON is
/// redacted as text.
pub fn redact_json_text(json: &str, secrets: &[String]) -> String {
    fn walk(value: &mut serde_json::Value, secrets: &[String]) {
        match value {
            serde_json::Value::String(text) => {
                if let Cow::Owned(hidden) = redact(text, secrets) {
                    *text = hidden;
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| walk(v, secrets)),
            serde_json::Value::Object(map) => {
                let entries = std::mem::take(map);
                for (key, mut item) in entries {
                    walk(&mut item, secrets);
                    map.insert(redact(&key, secrets).into_owned(), item);
                }
            }
            _ => {}
        }
    }
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(mut value) => {
            walk(&mut value, secrets);
            value.to_string()
        }
        Err(_) => redact(json, secrets).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_shell_variables_outside_orchs_prefix() {
        assert_eq!(variable_name_problem("NEWSAPI_KEY"), None);
        assert_eq!(variable_name_problem("_private2"), None);
        for bad in ["", "2FA", "MY-KEY", "A B", "KEY="] {
            let problem = variable_name_problem(bad).unwrap();
            assert!(
                problem.contains("not a valid environment variable name"),
                "{problem}"
            );
        }
        let reserved = variable_name_problem("ORCH_API_URL").unwrap();
        assert!(reserved.contains("reserved"), "{reserved}");
        assert!(variable_name_problem("orch_x").is_some());
    }

    #[test]
    fn anything_shaped_like_an_orch_key_is_hidden() {
        let key = format!("orch_0123456789abcdef_{}", "ab12".repeat(16));
        let line = format!("key={key}; again:{key}.");
        assert_eq!(redact_keys(&line), "key=orch_***; again:orch_***.");
        assert_eq!(redact(&line, &[]), "key=orch_***; again:orch_***.");
        // A run's own key is a secret too, and hides whole.
        assert_eq!(redact(&key, std::slice::from_ref(&key)), "***");
        for not_a_key in [
            "orch_short_abc",
            "orch_0123456789abcdef_123",
            "orch_0123456789abcdeg_0123456789abcdef0123456789abcdef",
            "see orch_ docs, orch_",
        ] {
            assert_eq!(redact_keys(not_a_key), not_a_key);
        }
        let mixed = format!("é orch_0123456789ABCDEF_{} ü", "f".repeat(64));
        assert_eq!(redact_keys(&mixed), "é orch_*** ü");
    }

    #[test]
    fn secret_values_are_replaced_longest_first() {
        let secrets = vec!["abc".to_owned(), "abcdef".to_owned(), String::new()];
        assert_eq!(redact("key=abcdef and abc", &secrets), "key=*** and ***");
        assert!(matches!(redact("nothing here", &secrets), Cow::Borrowed(_)));
        assert_eq!(redact("abcabc", &secrets), "******");
    }

    #[test]
    fn every_line_of_a_multi_line_secret_is_hidden() {
        let pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nAbc\n-----END PRIVATE KEY-----\n";
        let values = redaction_values(&[pem.to_owned(), "one-line-key".to_owned()]);
        for line in pem.lines().chain(["one-line-key"]) {
            let shown = redact(line, &values);
            if line == "Abc" {
                assert_eq!(shown, "Abc", "a short line alone is kept");
            } else {
                assert_eq!(shown, REDACTED, "{line}");
            }
        }
        assert_eq!(redact(pem, &values), REDACTED);
        assert_eq!(redaction_values(&["x".into(), "x".into()]), vec!["x"]);
        // A result holding the key (its newlines escaped in JSON) stays JSON.
        let result = serde_json::json!({ "pem": pem, "n": 1234 }).to_string();
        let hidden: serde_json::Value =
            serde_json::from_str(&redact_json_text(&result, &values)).unwrap();
        assert_eq!(hidden, serde_json::json!({ "pem": "***", "n": 1234 }));
        assert_eq!(
            redact_json_text("not json Abc MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", &values),
            "not json Abc ***"
        );
    }
}
