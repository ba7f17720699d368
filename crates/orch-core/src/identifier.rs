//! The rule for names: flows, deployments, work pools, schedules, calendars,
//! automations, API tokens, workers and artifact keys. They appear in
//! commands, URLs and file paths, so they are plain ASCII, never only dots
//! (`.` and `..` name folders), and at most [`MAX_NAME_CHARS`] long.
//!
//! One function checks each kind, [`NameKind::check`] (or
//! [`validate_name`]): every entry point (deploy file, command line, gRPC,
//! REST, the store) calls it, so a name refused in one place is refused in
//! all of them with the same message, which lists the allowed characters.

use crate::error::{Error, Result};
use crate::suggest::join_prose;

/// The characters a name may use, for messages.
pub const ALLOWED_NAME_CHARS: &str = "ASCII letters, digits, '-', '_' and '.'";

/// The longest name, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// What a name names; each kind is checked by [`NameKind::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// A flow (`flow = "..."`).
    Flow,
    /// A deployment of a flow (`name = "..."`).
    Deployment,
    /// A work pool (`orch work-pool create NAME`, `--pool NAME`).
    WorkPool,
    /// A schedule's slug.
    Schedule,
    /// A user calendar (`[[calendars]] name`).
    Calendar,
    /// An automation.
    Automation,
    /// An API token (`orch token create NAME`).
    Token,
    /// A worker (`orch worker start --name NAME`).
    Worker,
    /// An artifact key (a series across runs).
    ArtifactKey,
}

impl NameKind {
    /// The kind in words, for messages: `"work pool"`.
    pub fn label(self) -> &'static str {
        match self {
            NameKind::Flow => "flow",
            NameKind::Deployment => "deployment",
            NameKind::WorkPool => "work pool",
            NameKind::Schedule => "schedule",
            NameKind::Calendar => "calendar",
            NameKind::Automation => "automation",
            NameKind::Token => "token",
            NameKind::Worker => "worker",
            NameKind::ArtifactKey => "artifact key",
        }
    }

    /// Checks `name`: not empty, not only dots, at most [`MAX_NAME_CHARS`]
    /// characters, each one of [`ALLOWED_NAME_CHARS`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] saying which rule `name` breaks and what is allowed.
    pub fn check(self, name: &str) -> Result<()> {
        name_problem(name).map_or(Ok(()), |reason| {
            Err(Error::InvalidName {
                kind: self.label().to_owned(),
                name: shown(name),
                reason,
            })
        })
    }
}

/// Checks that `name` is a valid name of `kind` ([`NameKind::check`]).
///
/// # Errors
///
/// [`Error::InvalidName`] saying which rule `name` breaks.
pub fn validate_name(kind: NameKind, name: &str) -> Result<()> {
    kind.check(name)
}

/// Whether `c` may appear in a name: an ASCII letter or digit, `-`, `_` or `.`.
pub fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// A name as shown in a message: cut when very long.
fn shown(name: &str) -> String {
    if name.chars().count() <= MAX_NAME_CHARS {
        return name.to_owned();
    }
    let head: String = name.chars().take(40).collect();
    format!("{head}...")
}

/// What is wrong with `name`, as a phrase to follow "it" or the name itself
/// ("must not be empty", "contains ' '; use only ..."), or `None` if nothing.
pub(crate) fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some(format!("must not be empty; use {ALLOWED_NAME_CHARS}"));
    }
    if name.chars().all(|c| c == '.') {
        return Some(format!(
            "is only dots, which name folders in paths and URLs; use {ALLOWED_NAME_CHARS}, \
             with at least one letter or digit"
        ));
    }
    let length = name.chars().count();
    if length > MAX_NAME_CHARS {
        return Some(format!(
            "is {length} characters long; the limit is {MAX_NAME_CHARS}"
        ));
    }
    let mut bad: Vec<String> = Vec::new();
    for c in name.chars().filter(|&c| !is_name_char(c)) {
        let quoted = format!("{c:?}");
        if !bad.contains(&quoted) {
            bad.push(quoted);
        }
    }
    (!bad.is_empty()).then(|| {
        format!(
            "contains {}; use only {ALLOWED_NAME_CHARS}",
            join_prose(&bad, "and")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_letters_digits_dashes_underscores_and_dots_are_valid() {
        assert_eq!(validate_name(NameKind::Flow, "Trading-flow_2.v1"), Ok(()));
    }

    #[test]
    fn names_of_only_dots_are_refused() {
        for name in [".", "..", "..."] {
            let error = validate_name(NameKind::ArtifactKey, name)
                .unwrap_err()
                .to_string();
            assert!(error.contains("is only dots"), "{error}");
            assert!(error.contains(ALLOWED_NAME_CHARS), "{error}");
        }
        assert_eq!(validate_name(NameKind::WorkPool, ".hidden"), Ok(()));
    }

    #[test]
    fn empty_names_are_refused() {
        assert_eq!(
            validate_name(NameKind::WorkPool, "")
                .unwrap_err()
                .to_string(),
            "invalid work pool name \"\": it must not be empty; use ASCII letters, digits, \
             '-', '_' and '.'"
        );
    }

    #[test]
    fn long_names_are_refused_and_shown_cut() {
        let long = "a".repeat(MAX_NAME_CHARS + 1);
        assert_eq!(NameKind::Token.check(&"a".repeat(MAX_NAME_CHARS)), Ok(()));
        let error = NameKind::Token.check(&long).unwrap_err().to_string();
        assert!(
            error.contains("is 201 characters long; the limit is 200"),
            "{error}"
        );
        assert!(
            error.contains(&format!("\"{}...\"", "a".repeat(40))),
            "{error}"
        );
    }

    #[test]
    fn every_kind_says_what_it_names() {
        let error = NameKind::Worker
            .check("../evil pool")
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "invalid worker name \"../evil pool\": it contains '/' and ' '; use only ASCII \
             letters, digits, '-', '_' and '.'"
        );
        assert!(NameKind::Calendar.check("..").is_err());
    }

    #[test]
    fn other_characters_are_refused_and_listed_once() {
        assert_eq!(
            NameKind::WorkPool
                .check("my pool/a b")
                .unwrap_err()
                .to_string(),
            "invalid work pool name \"my pool/a b\": it contains ' ' and '/'; \
             use only ASCII letters, digits, '-', '_' and '.'"
        );
        assert_eq!(
            name_problem("café").as_deref(),
            Some("contains 'é'; use only ASCII letters, digits, '-', '_' and '.'")
        );
    }
}
