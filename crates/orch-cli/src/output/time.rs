//! Rendering of server timestamps (microseconds since the Unix epoch) and durations.

use std::time::Duration;

use chrono::{DateTime, Local, Utc};

/// The current time in microseconds since the Unix epoch.
pub fn now_micros() -> i64 {
    Utc::now().timestamp_micros()
}

/// The timestamp as a UTC date-time; `None` when it is unset (0) or out of range.
fn to_utc(micros: i64) -> Option<DateTime<Utc>> {
    (micros != 0)
        .then(|| DateTime::from_timestamp_micros(micros))
        .flatten()
}

/// Local `YYYY-MM-DD HH:MM:SS`, or `-` when unset.
pub fn timestamp(micros: i64) -> String {
    to_utc(micros).map_or_else(
        || "-".to_owned(),
        |at| {
            at.with_timezone(&Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        },
    )
}

/// Local `HH:MM:SS`, for lines of a live stream; `--:--:--` when unset.
pub fn clock(micros: i64) -> String {
    to_utc(micros).map_or_else(
        || "--:--:--".to_owned(),
        |at| at.with_timezone(&Local).format("%H:%M:%S").to_string(),
    )
}

/// Local `YYYY-MM-DD HH:MM:SS (3s ago)`, or `-` when unset.
pub fn timestamp_with_age(micros: i64) -> String {
    if to_utc(micros).is_none() {
        return "-".to_owned();
    }
    format!("{} ({})", timestamp(micros), relative(micros, now_micros()))
}

/// RFC 3339 in UTC with microseconds, for JSON; `None` when unset.
pub use orch_proto::json::rfc3339;

/// How far `micros` is from `now_micros`: `3s ago`, `in 5m`, or `just now`.
pub fn relative(micros: i64, now_micros: i64) -> String {
    let delta = now_micros - micros;
    let magnitude = Duration::from_micros(delta.unsigned_abs());
    if magnitude < Duration::from_secs(1) {
        return "just now".to_owned();
    }
    let amount = coarse_duration(magnitude);
    if delta >= 0 {
        format!("{amount} ago")
    } else {
        format!("in {amount}")
    }
}

/// A duration for people: `350ms`, `1.2s` (`2s` when whole), `3m 4s`, `2h 5m`, `3d 4h`.
pub fn duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if duration < Duration::from_secs(1) {
        format!("{}ms", duration.as_millis())
    } else if seconds < 60 && duration.subsec_nanos() == 0 {
        format!("{seconds}s")
    } else if seconds < 60 {
        // Tenths, truncated so that 59.99s never prints as "60.0s".
        let tenths = duration.as_millis() / 100;
        format!("{}.{}s", tenths / 10, tenths % 10)
    } else {
        two_units(seconds)
    }
}

/// Whole units only, for ages: `3s`, `5m`, `2h 5m`.
fn coarse_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if seconds < 60 {
        format!("{seconds}s")
    } else if seconds < 3600 {
        format!("{}m", seconds / 60)
    } else {
        two_units(seconds)
    }
}

/// The two largest non-trivial units of a duration of at least a minute.
fn two_units(seconds: u64) -> String {
    const MINUTE: u64 = 60;
    const HOUR: u64 = 60 * MINUTE;
    const DAY: u64 = 24 * HOUR;
    let (major, major_unit, minor, minor_unit) = if seconds >= DAY {
        (seconds / DAY, "d", seconds % DAY / HOUR, "h")
    } else if seconds >= HOUR {
        (seconds / HOUR, "h", seconds % HOUR / MINUTE, "m")
    } else {
        (seconds / MINUTE, "m", seconds % MINUTE, "s")
    };
    if minor == 0 {
        format!("{major}{major_unit}")
    } else {
        format!("{major}{major_unit} {minor}{minor_unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: i64 = 1_000_000;

    #[test]
    fn durations_use_the_two_largest_units() {
        assert_eq!(duration(Duration::from_millis(350)), "350ms");
        assert_eq!(duration(Duration::from_millis(1_250)), "1.2s");
        assert_eq!(duration(Duration::from_millis(59_999)), "59.9s");
        assert_eq!(duration(Duration::from_secs(2)), "2s");
        assert_eq!(duration(Duration::from_secs(60)), "1m");
        assert_eq!(duration(Duration::from_secs(184)), "3m 4s");
        assert_eq!(
            duration(Duration::from_secs(2 * 3600 + 5 * 60 + 9)),
            "2h 5m"
        );
        assert_eq!(
            duration(Duration::from_secs(3 * 86_400 + 4 * 3600)),
            "3d 4h"
        );
    }

    #[test]
    fn relative_times_read_naturally_both_ways() {
        let now = 1_700_000_000 * SECOND;
        assert_eq!(relative(now, now), "just now");
        assert_eq!(relative(now - 3 * SECOND, now), "3s ago");
        assert_eq!(relative(now - 125 * SECOND, now), "2m ago");
        assert_eq!(relative(now + 300 * SECOND, now), "in 5m");
        assert_eq!(relative(now - 3 * 3600 * SECOND, now), "3h ago");
    }

    #[test]
    fn unset_timestamps_render_as_placeholders() {
        assert_eq!(timestamp(0), "-");
        assert_eq!(clock(0), "--:--:--");
        assert_eq!(timestamp_with_age(0), "-");
        assert_eq!(rfc3339(0), None);
    }

    #[test]
    fn rfc3339_is_utc_with_microseconds() {
        assert_eq!(
            rfc3339(1_700_000_000 * SECOND + 42).as_deref(),
            Some("2023-11-14T22:13:20.000042Z")
        );
    }

    #[test]
    fn local_formats_have_fixed_shapes() {
        let at = 1_700_000_000 * SECOND;
        assert_eq!(timestamp(at).len(), "YYYY-MM-DD HH:MM:SS".len());
        assert_eq!(clock(at).len(), "HH:MM:SS".len());
    }
}
