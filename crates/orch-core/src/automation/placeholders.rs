//! `${NAME}` placeholders in automation actions: one parser, strict when an
//! automation is created ([`parse_placeholders`]), and the rule of where a
//! value may come from ([`check_placeholder_sources`], [`env_allowed`]).
//!
//! A value comes from an orch secret of that name, else from the server's
//! environment when the variable is allowed (`orch server start
//! --automation-env NAME`, or one of [`ALWAYS_ALLOWED_ENV`]); nothing else
//! of the server's environment is within an automation's reach.

/// Variables of the server's environment every automation may read: orch's
/// own e-mail settings, the defaults of an `email` action.
pub const ALWAYS_ALLOWED_ENV: [&str; 2] = [crate::env_vars::SMTP_URL, crate::env_vars::SMTP_FROM];

/// One piece of a text with placeholders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece<'a> {
    /// Text kept as it is.
    Literal(&'a str),
    /// `${NAME}`: the name, and the byte offset of its `${`.
    Name(&'a str, usize),
    /// A `${` with no `}` after it: the rest of the text, from `${`, and
    /// the byte offset of that `${`.
    Unterminated(&'a str, usize),
}

/// Splits `text` into literals and placeholders: the one parser.
fn pieces(text: &str) -> Vec<Piece<'_>> {
    let mut pieces = Vec::new();
    let mut rest = text;
    let mut consumed = 0;
    while let Some(start) = rest.find("${") {
        if start > 0 {
            pieces.push(Piece::Literal(&rest[..start]));
        }
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                pieces.push(Piece::Name(&after[..end], consumed + start));
                rest = &after[end + 1..];
                consumed += start + 2 + end + 1;
            }
            None => {
                pieces.push(Piece::Unterminated(&rest[start..], consumed + start));
                rest = "";
            }
        }
    }
    if !rest.is_empty() {
        pieces.push(Piece::Literal(rest));
    }
    pieces
}

/// The offset of byte `at` of `text`, in characters from 0: what a person
/// counts.
fn char_offset(text: &str, at: usize) -> usize {
    text.get(..at).map_or(at, |before| before.chars().count())
}

/// Whether `name` may be a placeholder's name: a variable name
/// ([`crate::flow_env::is_variable_name`]).
pub fn is_placeholder_name(name: &str) -> bool {
    crate::flow_env::is_variable_name(name)
}

/// The names of the `${NAME}` placeholders in `text`, in order, checked:
/// every `${` is closed and every name is a variable name (not empty).
///
/// # Errors
///
/// What is wrong, at which offset of `text` (in characters from 0), and
/// how to write it instead.
pub fn parse_placeholders(text: &str) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    for piece in pieces(text) {
        match piece {
            Piece::Literal(_) => {}
            Piece::Name(name, _) if is_placeholder_name(name) => names.push(name.to_owned()),
            Piece::Name(name, at) => {
                let at = char_offset(text, at);
                let what = if name.is_empty() {
                    "has no name".to_owned()
                } else {
                    "is not a valid placeholder".to_owned()
                };
                return Err(format!(
                    "`${{{name}}}` at offset {at} {what}: a name uses ASCII letters, digits \
                     and '_' and does not start with a digit, e.g. `${{SLACK_WEBHOOK_URL}}`"
                ));
            }
            Piece::Unterminated(rest, at) => {
                let at = char_offset(text, at);
                let shown: String = rest.chars().take(40).collect();
                return Err(format!(
                    "`{shown}` at offset {at} opens a placeholder that is never closed; write \
                     `${{NAME}}`, with the closing `}}` (a `$` alone needs no escaping)"
                ));
            }
        }
    }
    Ok(names)
}

/// The names of the well-formed `${NAME}` placeholders in `text`, in order
/// (what [`resolve_placeholders`] will look up).
pub fn placeholders(text: &str) -> Vec<String> {
    pieces(text)
        .into_iter()
        .filter_map(|piece| match piece {
            Piece::Name(name, _) => Some(name.to_owned()),
            _ => None,
        })
        .collect()
}

/// `text` with each `${NAME}` replaced by `lookup(NAME)`. The one place
/// placeholders are resolved: `lookup` reads secrets, then the allowed
/// variables of the server's environment. An unclosed `${` (only in
/// automations created before placeholders were checked) is kept as text.
///
/// # Errors
///
/// The names `lookup` has no value for (the action is then skipped).
pub fn resolve_placeholders(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, Vec<String>> {
    let mut out = String::with_capacity(text.len());
    let mut missing = Vec::new();
    for piece in pieces(text) {
        match piece {
            Piece::Literal(literal) | Piece::Unterminated(literal, _) => out.push_str(literal),
            Piece::Name(name, _) => match lookup(name).filter(|value| !value.is_empty()) {
                Some(value) => out.push_str(&value),
                None => missing.push(name.to_owned()),
            },
        }
    }
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(missing)
    }
}

/// Whether the server's variable `name` may be read by automations, given
/// the variables the server allows (`--automation-env`).
pub fn env_allowed(name: &str, allowed: &[String]) -> bool {
    ALWAYS_ALLOWED_ENV.contains(&name) || allowed.iter().any(|a| a == name)
}

/// Checks that each placeholder of an automation named `automation` may
/// have a value: a name that is an orch secret (`is_secret`) or an allowed
/// variable passes; so does a name set nowhere (a secret to be set later:
/// the action is skipped until then). A name that is a variable of the
/// server's environment (`in_server_env`) not allowed is refused: its value
/// would never be read, and naming it is how a deploy file probes the
/// server's environment.
///
/// # Errors
///
/// The first refused name, and how to allow it.
pub fn check_placeholder_sources(
    automation: &str,
    names: &[String],
    is_secret: &dyn Fn(&str) -> bool,
    allowed: &[String],
    in_server_env: &dyn Fn(&str) -> bool,
) -> Result<(), String> {
    match names
        .iter()
        .find(|name| !is_secret(name) && !env_allowed(name, allowed) && in_server_env(name))
    {
        None => Ok(()),
        Some(name) => Err(format!(
            "automation \"{automation}\" reads `${{{name}}}`, a variable of the server's \
             environment that automations may not read; store the value as an orch secret \
             (`orch secret set {name}`), or allow the variable where the server starts \
             (`orch server start --automation-env {name}`, ORCH_AUTOMATION_ENV or \
             server.automation_env in the config file)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_resolved_or_reported_missing() {
        let lookup = |name: &str| (name == "HOOK").then(|| "http://h/1".to_string());
        assert_eq!(
            resolve_placeholders("${HOOK}", &lookup),
            Ok("http://h/1".into())
        );
        assert_eq!(
            resolve_placeholders("a ${HOOK} ${NOPE} ${ALSO}", &lookup),
            Err(vec!["NOPE".to_string(), "ALSO".to_string()])
        );
        assert_eq!(resolve_placeholders("plain", &lookup), Ok("plain".into()));
        assert_eq!(
            resolve_placeholders("x ${open", &lookup),
            Ok("x ${open".into())
        );
        assert_eq!(placeholders("${A}/${B}"), vec!["A", "B"]);
    }

    #[test]
    fn strict_parsing_refuses_unclosed_placeholders_and_bad_names() {
        assert_eq!(
            parse_placeholders("https://h/${A}?k=${B_2}"),
            Ok(vec!["A".to_string(), "B_2".to_string()])
        );
        assert_eq!(parse_placeholders("no placeholder $HOME {x} $"), Ok(vec![]));
        let unclosed = parse_placeholders("https://h/${NAME").unwrap_err();
        assert!(
            unclosed.starts_with("`${NAME` at offset 10 opens a placeholder that is never closed"),
            "{unclosed}"
        );
        assert!(unclosed.contains("closing `}`"), "{unclosed}");
        // The offset counts characters, after earlier placeholders.
        let later = parse_placeholders("é/${A}/${B").unwrap_err();
        assert!(later.starts_with("`${B` at offset 7 "), "{later}");
        let empty = parse_placeholders("x${}").unwrap_err();
        assert!(
            empty.starts_with("`${}` at offset 1 has no name"),
            "{empty}"
        );
        for bad in ["${1A}", "${A-B}", "${A B}", "${é}", "${A${B}"] {
            let error = parse_placeholders(bad).unwrap_err();
            assert!(
                error.contains("at offset 0 is not a valid placeholder"),
                "{bad}: {error}"
            );
            assert!(error.contains("letters, digits and '_'"), "{bad}: {error}");
        }
    }

    #[test]
    fn only_secrets_and_allowed_variables_are_read_from_the_server() {
        let secrets = |name: &str| name == "HOOK_SECRET";
        let env = |name: &str| matches!(name, "HOME" | "CANARY" | "ALERT_TO" | "HOOK_SECRET");
        let allowed = vec!["ALERT_TO".to_string()];
        let check = |names: &[&str]| {
            let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            check_placeholder_sources("a", &names, &secrets, &allowed, &env)
        };
        assert_eq!(check(&["HOOK_SECRET", "ALERT_TO", "SET_LATER"]), Ok(()));
        assert_eq!(check(&["ORCH_SMTP_URL"]), Ok(()));
        let error = check(&["ALERT_TO", "HOME"]).unwrap_err();
        assert!(error.contains("`${HOME}`"), "{error}");
        assert!(error.contains("--automation-env HOME"), "{error}");
        assert!(error.contains("orch secret set HOME"), "{error}");
        assert!(check(&["CANARY"]).is_err());
        assert!(env_allowed("ALERT_TO", &allowed));
        assert!(env_allowed("ORCH_SMTP_FROM", &[]));
        assert!(!env_allowed("HOME", &allowed));
    }
}
