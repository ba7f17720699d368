//! The rule for names of flows, deployments, work pools and schedules: they
//! appear in commands, URLs and file paths, so they are plain ASCII.

use crate::error::{Error, Result};
use crate::suggest::join_prose;

/// The characters a name may use, for messages.
pub const ALLOWED_NAME_CHARS: &str = "ASCII letters, digits, '-', '_' and '.'";

/// Whether `c` may appear in a name: an ASCII letter or digit, `-`, `_` or `.`.
pub fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// Checks that `name` is a valid name for a `kind` of thing ("flow",
/// "work pool", ...): non-empty and made only of [`ALLOWED_NAME_CHARS`].
///
/// # Errors
///
/// [`Error::InvalidName`] saying which rule `name` breaks.
pub fn validate_name(kind: &str, name: &str) -> Result<()> {
    name_problem(name).map_or(Ok(()), |reason| {
        Err(Error::InvalidName {
            kind: kind.to_owned(),
            name: name.to_owned(),
            reason,
        })
    })
}

/// What is wrong with `name`, as a phrase to follow "it" or the name itself
/// ("must not be empty", "contains ' '; use only ..."), or `None` if nothing.
pub(crate) fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("must not be empty".to_owned());
    }
    if name.chars().all(|c| c == '.') {
        return Some(format!(
            "is only dots, which name folders in paths and URLs; use {ALLOWED_NAME_CHARS}, \
             with at least one letter or digit"
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
        assert_eq!(validate_name("flow", "Trading-flow_2.v1"), Ok(()));
    }

    #[test]
    fn names_of_only_dots_are_refused() {
        for name in [".", "..", "..."] {
            let error = validate_name("artifact", name).unwrap_err().to_string();
            assert!(error.contains("is only dots"), "{error}");
            assert!(error.contains(ALLOWED_NAME_CHARS), "{error}");
        }
        assert_eq!(validate_name("work pool", ".hidden"), Ok(()));
    }

    #[test]
    fn empty_names_are_refused() {
        assert_eq!(
            validate_name("work pool", "").unwrap_err().to_string(),
            "invalid work pool name \"\": it must not be empty"
        );
    }

    #[test]
    fn other_characters_are_refused_and_listed_once() {
        assert_eq!(
            validate_name("work pool", "my pool/a b")
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
