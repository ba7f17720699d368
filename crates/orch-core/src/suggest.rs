//! "Did you mean ...?" suggestions for mistyped names.

use std::cmp::Ordering;

/// Most suggestions returned by [`close_matches`].
const MAX_MATCHES: usize = 3;
/// Lowest normalized Damerau-Levenshtein similarity (0..=1) that counts as close.
const MIN_EDIT_SIMILARITY: f64 = 0.6;
/// Lowest Jaro-Winkler similarity (0..=1) that counts as close.
const MIN_JARO_WINKLER: f64 = 0.88;
/// Shortest needle for which a prefix or substring relation counts as close;
/// shorter ones would match nearly anything.
const MIN_SUBSTRING_LEN: usize = 3;

/// Candidates within a small edit distance of `needle` (or sharing a
/// prefix/substring), closest first, at most 3. Used for "did you mean ...?"
/// hints.
///
/// Comparison ignores case. Ties are broken alphabetically, and duplicate
/// candidates are reported once.
pub fn close_matches<'a>(
    needle: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    let needle = needle.to_lowercase();
    let mut scored: Vec<(f64, &str)> = candidates
        .into_iter()
        .filter_map(|candidate| similarity(&needle, candidate).map(|score| (score, candidate)))
        .collect();
    scored.sort_by(|(a_score, a), (b_score, b)| {
        b_score
            .partial_cmp(a_score)
            .unwrap_or(Ordering::Equal)
            .then_with(|| a.cmp(b))
    });
    let mut matches: Vec<String> = Vec::with_capacity(MAX_MATCHES);
    for (_, candidate) in scored {
        if matches.len() == MAX_MATCHES {
            break;
        }
        if !matches.iter().any(|m| m == candidate) {
            matches.push(candidate.to_owned());
        }
    }
    matches
}

/// How close `candidate` is to the lower-cased `needle`, or `None` when it is
/// too far to suggest.
fn similarity(needle: &str, candidate: &str) -> Option<f64> {
    let candidate = candidate.to_lowercase();
    if needle.is_empty() || candidate.is_empty() {
        return None;
    }
    let edit = strsim::normalized_damerau_levenshtein(needle, &candidate);
    let jaro_winkler = strsim::jaro_winkler(needle, &candidate);
    let related = needle.chars().count() >= MIN_SUBSTRING_LEN
        && (candidate.contains(needle) || needle.contains(candidate.as_str()));
    let close = edit >= MIN_EDIT_SIMILARITY || jaro_winkler >= MIN_JARO_WINKLER || related;
    close.then_some(edit.max(jaro_winkler))
}

/// Formats a hint like ` (did you mean "a" or "b"?)`, empty when there are none.
pub fn did_you_mean(matches: &[String]) -> String {
    if matches.is_empty() {
        return String::new();
    }
    let quoted: Vec<String> = matches.iter().map(|m| format!("{m:?}")).collect();
    format!(" (did you mean {}?)", join_prose(&quoted, "or"))
}

/// Joins items as English prose with `conjunction` ("or", "and"):
/// `a`, `a or b`, `a, b or c`.
pub(crate) fn join_prose(items: &[String], conjunction: &str) -> String {
    match items {
        [] => String::new(),
        [only] => only.clone(),
        [init @ .., last] => format!("{} {conjunction} {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATES: [&str; 9] = [
        "Scheduled",
        "Pending",
        "Running",
        "Completed",
        "Failed",
        "Crashed",
        "Cancelling",
        "Cancelled",
        "Paused",
    ];

    #[test]
    fn a_typo_suggests_the_intended_name_first() {
        assert_eq!(close_matches("runing", STATES)[0], "Running");
        assert_eq!(close_matches("Schedlued", STATES), ["Scheduled"]);
    }

    #[test]
    fn case_is_ignored() {
        assert_eq!(close_matches("PAUSED", STATES), ["Paused"]);
    }

    #[test]
    fn similar_names_are_ranked_closest_first() {
        assert_eq!(
            close_matches("cancelled", STATES),
            ["Cancelled", "Cancelling"]
        );
    }

    #[test]
    fn prefixes_and_substrings_count_as_close() {
        let deployments = ["trading-production", "trading-staging", "reports-daily"];
        assert_eq!(
            close_matches("production", deployments),
            ["trading-production"]
        );
        assert_eq!(
            close_matches("trading", deployments),
            ["trading-staging", "trading-production"]
        );
    }

    #[test]
    fn unrelated_names_are_not_suggested() {
        assert!(close_matches("xyz", STATES).is_empty());
        assert!(close_matches("", STATES).is_empty());
        // A short needle does not match everything that contains it.
        assert!(close_matches("e", STATES).is_empty());
    }

    #[test]
    fn at_most_three_matches_without_duplicates() {
        let pools = ["pool-a", "pool-b", "pool-c", "pool-d", "pool-a"];
        let matches = close_matches("pool", pools);
        assert_eq!(matches, ["pool-a", "pool-b", "pool-c"]);
    }

    #[test]
    fn prose_lists_use_commas_and_the_conjunction() {
        let items = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(join_prose(&[], "and"), "");
        assert_eq!(join_prose(&items(&["a"]), "and"), "a");
        assert_eq!(join_prose(&items(&["a", "b"]), "and"), "a and b");
        assert_eq!(join_prose(&items(&["a", "b", "c"]), "or"), "a, b or c");
    }

    #[test]
    fn did_you_mean_formats_zero_one_two_and_three_matches() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(did_you_mean(&[]), "");
        assert_eq!(did_you_mean(&names(&["a"])), " (did you mean \"a\"?)");
        assert_eq!(
            did_you_mean(&names(&["a", "b"])),
            " (did you mean \"a\" or \"b\"?)"
        );
        assert_eq!(
            did_you_mean(&names(&["a", "b", "c"])),
            " (did you mean \"a\", \"b\" or \"c\"?)"
        );
    }
}
