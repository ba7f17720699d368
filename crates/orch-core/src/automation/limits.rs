//! The ranges of an automation's durations, its cooldown, and how long a
//! chain of automations creating runs may grow.

/// The longest duration an automation may name (cooldown, trigger
/// seconds, windows): 366 days. Longer values are refused at creation.
pub const MAX_AUTOMATION_SECONDS: u64 = 366 * 24 * 3600;

/// The most runs a chain of `run-deployment` actions may create one after
/// another (a run created by an automation whose triggering run was itself
/// created by an automation, ...). The next link is not created: the
/// delivery ends `failed` with the reason, on the automation's page.
pub const MAX_AUTOMATION_CHAIN: usize = 8;

/// Checks an automation's duration `key` (`cooldown_seconds`, `seconds`,
/// ...): at least `min` and at most [`MAX_AUTOMATION_SECONDS`].
///
/// # Errors
///
/// The key, the allowed range and the value given.
pub fn check_seconds(key: &str, value: i128, min: u64) -> Result<u64, String> {
    if value < i128::from(min) || value > i128::from(MAX_AUTOMATION_SECONDS) {
        return Err(format!(
            "`{key}` must be between {min} and {MAX_AUTOMATION_SECONDS} (366 days), not {value}"
        ));
    }
    Ok(value as u64)
}

/// Whether a firing at `now` passes the cooldown, given the last firing
/// delivered (not suppressed) at `last_fired` (microseconds). Computed
/// without overflow, whatever the cooldown.
pub fn cooldown_allows(last_fired: Option<i64>, now: i64, cooldown_seconds: u64) -> bool {
    match last_fired {
        None => true,
        Some(last) => {
            i128::from(now) - i128::from(last) >= i128::from(cooldown_seconds) * 1_000_000
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cooldown_suppresses_firings_within_its_window() {
        assert!(cooldown_allows(None, 10, 300));
        assert!(!cooldown_allows(Some(0), 299_999_999, 300));
        assert!(cooldown_allows(Some(0), 300_000_000, 300));
        assert!(cooldown_allows(Some(5), 5, 0));
    }

    #[test]
    fn a_huge_cooldown_suppresses_instead_of_overflowing() {
        assert!(!cooldown_allows(Some(0), i64::MAX, i64::MAX as u64));
        assert!(!cooldown_allows(Some(0), 1_000_000, u64::MAX));
    }

    #[test]
    fn durations_are_checked_for_range() {
        assert_eq!(check_seconds("cooldown_seconds", 0, 0), Ok(0));
        assert_eq!(check_seconds("seconds", 3600, 1), Ok(3600));
        let error = check_seconds("cooldown_seconds", i128::from(i64::MAX), 0).unwrap_err();
        assert_eq!(
            error,
            "`cooldown_seconds` must be between 0 and 31622400 (366 days), not 9223372036854775807"
        );
        assert!(check_seconds("cooldown_seconds", -1, 0).is_err());
        assert!(check_seconds("seconds", 0, 1).is_err());
    }
}
