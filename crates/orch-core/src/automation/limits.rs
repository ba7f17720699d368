//! The ranges of an automation's durations and its cooldown: one check,
//! whatever the way in. The deploy file and the JSON spec the server is
//! given read every duration through [`de`], so a negative, fractional or
//! huge value gets the same message everywhere, with the key and the range.

/// The longest duration an automation may name (cooldown, trigger
/// seconds, windows): 366 days. Longer values are refused at creation.
pub const MAX_AUTOMATION_SECONDS: u64 = 366 * 24 * 3600;

/// Checks an automation's duration `key` (`cooldown_seconds`, `seconds`,
/// ...): at least `min` and at most [`MAX_AUTOMATION_SECONDS`].
///
/// # Errors
///
/// The key, the allowed range and the value given.
pub fn check_seconds(key: &str, value: i128, min: u64) -> Result<u64, String> {
    if value < i128::from(min) || value > i128::from(MAX_AUTOMATION_SECONDS) {
        return Err(range_error(key, min, &value.to_string()));
    }
    Ok(value as u64)
}

fn range_error(key: &str, min: u64, given: &str) -> String {
    format!("`{key}` must be between {min} and {MAX_AUTOMATION_SECONDS} (366 days), not {given}")
}

/// [`check_seconds`] for a number with a fraction: refused unless whole.
///
/// # Errors
///
/// As [`check_seconds`]; a fraction is asked to be a whole number of seconds.
pub fn check_float_seconds(key: &str, value: f64, min: u64) -> Result<u64, String> {
    if value.is_finite() && value.fract() == 0.0 && value.abs() < 1e30 {
        return check_seconds(key, value as i128, min);
    }
    Err(format!(
        "`{key}` must be a whole number of seconds between {min} and {MAX_AUTOMATION_SECONDS} \
         (366 days), not {value}"
    ))
}

/// Microseconds in `seconds`, saturating instead of overflowing.
pub fn seconds_to_micros(seconds: u64) -> i64 {
    i64::try_from(seconds)
        .unwrap_or(i64::MAX)
        .saturating_mul(1_000_000)
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

/// Serde readers of the duration keys: any number is read (negative,
/// fractional, beyond `u64`) and checked with [`check_seconds`], so the
/// message names the key and the range instead of a type.
pub mod de {
    use std::fmt;

    use serde::Deserializer;
    use serde::de::{Error, Visitor};

    struct Seconds {
        key: &'static str,
        min: u64,
    }

    impl<'de> Visitor<'de> for Seconds {
        type Value = Option<u64>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(
                f,
                "`{}`: a whole number of seconds between {} and {}",
                self.key,
                self.min,
                super::MAX_AUTOMATION_SECONDS
            )
        }

        fn visit_i64<E: Error>(self, value: i64) -> Result<Self::Value, E> {
            self.visit_i128(i128::from(value))
        }

        fn visit_u64<E: Error>(self, value: u64) -> Result<Self::Value, E> {
            self.visit_i128(i128::from(value))
        }

        fn visit_i128<E: Error>(self, value: i128) -> Result<Self::Value, E> {
            super::check_seconds(self.key, value, self.min)
                .map(Some)
                .map_err(E::custom)
        }

        fn visit_u128<E: Error>(self, value: u128) -> Result<Self::Value, E> {
            self.visit_i128(i128::try_from(value).unwrap_or(i128::MAX))
        }

        fn visit_f64<E: Error>(self, value: f64) -> Result<Self::Value, E> {
            super::check_float_seconds(self.key, value, self.min)
                .map(Some)
                .map_err(E::custom)
        }

        fn visit_str<E: Error>(self, value: &str) -> Result<Self::Value, E> {
            Err(E::custom(format!(
                "`{}` must be a number of seconds between {} and {} (366 days), not the text {value:?}",
                self.key,
                self.min,
                super::MAX_AUTOMATION_SECONDS
            )))
        }

        fn visit_none<E: Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }

    fn read<'de, D: Deserializer<'de>>(
        deserializer: D,
        key: &'static str,
        min: u64,
    ) -> Result<Option<u64>, D::Error> {
        deserializer.deserialize_any(Seconds { key, min })
    }

    /// `cooldown_seconds`: 0 (none) to 366 days.
    pub fn cooldown_seconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        Ok(read(deserializer, "cooldown_seconds", 0)?.unwrap_or(0))
    }

    /// A trigger's `seconds`: 1 s to 366 days.
    pub fn seconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
        read(deserializer, "seconds", 1)
    }

    /// A trigger's `late_seconds`: 1 s to 366 days.
    pub fn late_seconds<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<u64>, D::Error> {
        read(deserializer, "late_seconds", 1)
    }

    /// A trigger's `window_seconds`: 1 s to 366 days.
    pub fn window_seconds<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<u64>, D::Error> {
        read(deserializer, "window_seconds", 1)
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
        assert_eq!(check_float_seconds("seconds", 60.0, 1), Ok(60));
        let error = check_float_seconds("seconds", 1.5, 1).unwrap_err();
        assert!(error.contains("whole number of seconds"), "{error}");
        assert!(check_float_seconds("seconds", f64::NAN, 1).is_err());
        assert!(check_float_seconds("seconds", 1e300, 1).is_err());
    }

    #[test]
    fn microseconds_saturate() {
        assert_eq!(seconds_to_micros(2), 2_000_000);
        assert_eq!(seconds_to_micros(u64::MAX), i64::MAX);
        assert_eq!(seconds_to_micros(i64::MAX as u64 / 10), i64::MAX);
    }

    #[derive(Debug, serde::Deserialize)]
    struct Durations {
        #[serde(default, deserialize_with = "de::cooldown_seconds")]
        cooldown_seconds: u64,
        #[serde(default, deserialize_with = "de::seconds")]
        seconds: Option<u64>,
    }

    fn read(json: &str) -> Result<Durations, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn any_number_written_gets_the_range_message() {
        let ok = read(r#"{"cooldown_seconds": 300, "seconds": 60.0}"#).unwrap();
        assert_eq!((ok.cooldown_seconds, ok.seconds), (300, Some(60)));
        let empty = read(r#"{"seconds": null}"#).unwrap();
        assert_eq!((empty.cooldown_seconds, empty.seconds), (0, None));
        for (json, wanted) in [
            (
                r#"{"cooldown_seconds": -1}"#,
                "`cooldown_seconds` must be between 0 and 31622400 (366 days), not -1",
            ),
            (
                r#"{"cooldown_seconds": 18446744073709551615}"#,
                "`cooldown_seconds` must be between 0 and 31622400 (366 days), not 18446744073709551615",
            ),
            (
                r#"{"cooldown_seconds": 1e30}"#,
                "`cooldown_seconds` must be a whole number of seconds",
            ),
            (
                r#"{"seconds": 0}"#,
                "`seconds` must be between 1 and 31622400 (366 days), not 0",
            ),
            (
                r#"{"seconds": 2.5}"#,
                "`seconds` must be a whole number of seconds between 1",
            ),
            (
                r#"{"seconds": "60"}"#,
                "`seconds` must be a number of seconds between 1 and 31622400 (366 days), not the text \"60\"",
            ),
        ] {
            let error = read(json).unwrap_err();
            assert!(error.starts_with(wanted), "{json}: {error}");
        }
        let toml: Result<Durations, _> = toml::from_str("seconds = -5");
        let error = toml.unwrap_err().message().to_owned();
        assert_eq!(
            error,
            "`seconds` must be between 1 and 31622400 (366 days), not -5"
        );
    }
}
