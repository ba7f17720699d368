//! The range of every numeric setting, checked by one function whatever the
//! setting's source: a command-line flag, an `ORCH_*` variable, the config
//! file, a deploy file or the API. A value out of range gets the same
//! message everywhere, naming where it came from:
//!
//! ```text
//! `--worker-lease-seconds` must be a number of seconds (2 to 86400), not 0
//! `ORCH_WORKER_LEASE_SECONDS` must be a number of seconds (2 to 86400), not "soon"
//! ```
//!
//! Upper bounds exist so that no value overflows into its opposite (a lease
//! so long that its expiry wraps into the past, a retry delay that wraps
//! into "retry at once") and so that a typo of a few extra digits is caught.

use std::time::Duration;

/// What a setting counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Seconds (a duration).
    Seconds,
    /// Days.
    Days,
    /// Things (streams, backups, retries...).
    Count,
}

/// The values a numeric setting accepts: from `min` to `max` inclusive,
/// whole numbers only when `whole`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    /// Smallest accepted value.
    pub min: f64,
    /// Largest accepted value.
    pub max: f64,
    /// Whether only whole numbers are accepted.
    pub whole: bool,
    /// What it counts.
    pub unit: Unit,
    /// Said after the range in errors, e.g. `; to keep runs forever, leave it unset`.
    pub hint: &'static str,
}

const fn seconds(min: f64, max: f64) -> Range {
    Range {
        min,
        max,
        whole: false,
        unit: Unit::Seconds,
        hint: "",
    }
}

const fn whole(min: f64, max: f64, unit: Unit) -> Range {
    Range {
        min,
        max,
        whole: true,
        unit,
        hint: "",
    }
}

/// One hour, in seconds.
const HOUR: f64 = 3_600.0;
/// One day, in seconds.
const DAY: f64 = 86_400.0;
/// One year, in seconds.
const YEAR: f64 = 365.0 * DAY;

/// `server.late_after_seconds`: a Scheduled run not started this long after
/// its slot is Late.
pub const LATE_AFTER_SECONDS: Range = seconds(1.0, DAY);
/// `server.worker_lease_seconds`: a silent worker keeps its runs this long.
pub const WORKER_LEASE_SECONDS: Range = seconds(2.0, DAY);
/// `server.token_cache_seconds`: how long a checked API key is reused.
pub const TOKEN_CACHE_SECONDS: Range = Range {
    hint: "; 0 turns the token cache off",
    ..seconds(0.0, HOUR)
};
/// `server.max_streams_per_client`: streams one client address may hold open.
pub const MAX_STREAMS_PER_CLIENT: Range = whole(1.0, 100_000.0, Unit::Count);
/// `worker.heartbeat_seconds`.
pub const HEARTBEAT_SECONDS: Range = seconds(0.1, HOUR);
/// `worker.poll_seconds`.
pub const POLL_SECONDS: Range = seconds(0.1, HOUR);
/// `worker.kill_grace_seconds`: between SIGTERM and SIGKILL on cancel.
pub const KILL_GRACE_SECONDS: Range = seconds(0.1, HOUR);
/// `worker.shutdown_grace_seconds`: running flows' time to finish at shutdown.
pub const SHUTDOWN_GRACE_SECONDS: Range = seconds(0.1, DAY);
/// `client.request_timeout_seconds`.
pub const REQUEST_TIMEOUT_SECONDS: Range = seconds(0.1, HOUR);
/// `backup.every` (a duration such as `6h`), in seconds.
pub const BACKUP_EVERY_SECONDS: Range = seconds(1.0, YEAR);
/// `backup.keep`: automatic backups kept.
pub const BACKUP_KEEP: Range = whole(1.0, 100_000.0, Unit::Count);
/// `--prune-every` (a duration such as `10m`), in seconds.
pub const PRUNE_EVERY_SECONDS: Range = seconds(1.0, DAY);
/// Retention in days (`retention.runs_days`, `logs_days`, per state, per
/// deployment). 0 would prune every finished run at once.
pub const RETENTION_DAYS: Range = Range {
    hint: "; to keep runs forever, leave it unset",
    ..whole(1.0, crate::retention::MAX_RETENTION_DAYS as f64, Unit::Days)
};
/// A deployment's `retries`.
pub const RETRIES: Range = whole(0.0, 1_000.0, Unit::Count);
/// A deployment's `retry_delay_seconds`.
pub const RETRY_DELAY_SECONDS: Range = whole(0.0, YEAR, Unit::Seconds);
/// A deployment's `max_lateness_seconds`.
pub const MAX_LATENESS_SECONDS: Range = whole(1.0, YEAR, Unit::Seconds);
/// A deployment's `concurrency_limit`.
pub const CONCURRENCY_LIMIT: Range = Range {
    hint: " (to stop runs, pause the deployment)",
    ..whole(1.0, 100_000.0, Unit::Count)
};

impl Range {
    /// The accepted values in words: `a positive whole number of days (1 to 36500)`.
    pub fn describe(&self) -> String {
        let unit = match self.unit {
            Unit::Seconds => " of seconds",
            Unit::Days => " of days",
            Unit::Count => "",
        };
        let noun = match (self.whole, self.min >= 1.0) {
            (true, true) => "a positive whole number",
            (true, false) => "a whole number",
            (false, _) => "a number",
        };
        format!("{noun}{unit} ({} to {})", self.min, self.max)
    }

    fn error(&self, origin: &str, given: &str) -> String {
        format!(
            "`{origin}` must be {}, not {given}{}",
            self.describe(),
            self.hint
        )
    }

    /// Checks `value`, given by `origin` (`--poll-seconds`,
    /// `ORCH_WORKER_POLL_SECONDS`, `worker.poll_seconds`...).
    ///
    /// # Errors
    ///
    /// The origin, the accepted values and the value given.
    pub fn check(&self, origin: &str, value: f64) -> Result<f64, String> {
        let fits = value.is_finite()
            && (self.min..=self.max).contains(&value)
            && (!self.whole || value.fract() == 0.0);
        if fits {
            Ok(value)
        } else {
            Err(self.error(origin, &value.to_string()))
        }
    }

    /// Checks a whole number (from a deploy file, an API field or a
    /// command-line integer).
    ///
    /// # Errors
    ///
    /// As [`Range::check`].
    pub fn check_whole(&self, origin: &str, value: i128) -> Result<u64, String> {
        u64::try_from(value)
            .ok()
            .filter(|&v| (self.min..=self.max).contains(&(v as f64)))
            .ok_or_else(|| self.error(origin, &value.to_string()))
    }

    /// Parses and checks the text of an environment variable (or any text).
    ///
    /// # Errors
    ///
    /// As [`Range::check`]; text that is not a number is quoted.
    pub fn parse(&self, origin: &str, text: &str) -> Result<f64, String> {
        match text.trim().parse::<f64>() {
            // Out of range: the value as written, not as a float shows it.
            Ok(value) => self
                .check(origin, value)
                .map_err(|_| self.error(origin, text.trim())),
            Err(_) => Err(self.error(origin, &format!("{text:?}"))),
        }
    }

    /// [`Range::check`] of a number of seconds, as a duration.
    ///
    /// # Errors
    ///
    /// As [`Range::check`].
    pub fn duration(&self, origin: &str, seconds: f64) -> Result<Duration, String> {
        self.check(origin, seconds).map(Duration::from_secs_f64)
    }

    /// Checks a duration (e.g. parsed from `6h`) against a range of seconds.
    ///
    /// # Errors
    ///
    /// As [`Range::check`], the value shown as given (`text`).
    pub fn check_duration(
        &self,
        origin: &str,
        duration: Duration,
        text: &str,
    ) -> Result<Duration, String> {
        let seconds = duration.as_secs_f64();
        if (self.min..=self.max).contains(&seconds) {
            Ok(duration)
        } else {
            Err(self.error(origin, &format!("{text:?}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_in_range_pass_whatever_their_form() {
        assert_eq!(WORKER_LEASE_SECONDS.check("x", 30.0), Ok(30.0));
        assert_eq!(WORKER_LEASE_SECONDS.parse("x", " 30 "), Ok(30.0));
        assert_eq!(HEARTBEAT_SECONDS.parse("x", "0.5"), Ok(0.5));
        assert_eq!(
            HEARTBEAT_SECONDS.duration("x", 1.5),
            Ok(Duration::from_millis(1500))
        );
        assert_eq!(RETRIES.check_whole("retries", 0), Ok(0));
        assert_eq!(RETENTION_DAYS.check_whole("d", 36_500), Ok(36_500));
    }

    #[test]
    fn out_of_range_values_name_their_origin_and_the_range() {
        assert_eq!(
            WORKER_LEASE_SECONDS.check("--worker-lease-seconds", 0.0),
            Err("`--worker-lease-seconds` must be a number of seconds (2 to 86400), not 0".into())
        );
        assert_eq!(
            WORKER_LEASE_SECONDS.parse("ORCH_WORKER_LEASE_SECONDS", "soon"),
            Err(
                "`ORCH_WORKER_LEASE_SECONDS` must be a number of seconds (2 to 86400), \
                 not \"soon\""
                    .into()
            )
        );
        assert_eq!(
            RETENTION_DAYS.check_whole("retention.runs_days", 0),
            Err(
                "`retention.runs_days` must be a positive whole number of days (1 to 36500), \
                 not 0; to keep runs forever, leave it unset"
                    .into()
            )
        );
        assert_eq!(
            RETRY_DELAY_SECONDS.check_whole("retry_delay_seconds", i128::from(i64::MAX)),
            Err(
                "`retry_delay_seconds` must be a whole number of seconds (0 to 31536000), \
                 not 9223372036854775807"
                    .into()
            )
        );
        assert_eq!(
            TOKEN_CACHE_SECONDS.parse("--token-cache-seconds", "-1"),
            Err(
                "`--token-cache-seconds` must be a number of seconds (0 to 3600), not -1; \
                 0 turns the token cache off"
                    .into()
            )
        );
        assert_eq!(
            TOKEN_CACHE_SECONDS.parse("x", "0"),
            Ok(0.0),
            "0 is accepted: the cache is off"
        );
        assert_eq!(
            MAX_STREAMS_PER_CLIENT.describe(),
            "a positive whole number (1 to 100000)"
        );
    }

    #[test]
    fn huge_negative_fractional_and_non_finite_values_are_refused() {
        for value in [f64::NAN, f64::INFINITY, -1.0, 1e300, 86_400.5] {
            assert!(WORKER_LEASE_SECONDS.check("x", value).is_err(), "{value}");
        }
        assert!(BACKUP_KEEP.check("x", 2.5).is_err());
        assert!(RETRIES.check_whole("x", -1).is_err());
        assert!(RETRIES.parse("x", "1e3").is_ok());
        assert!(
            WORKER_LEASE_SECONDS
                .parse("E", "9223372036854775807")
                .unwrap_err()
                .ends_with("not 9223372036854775807")
        );
        assert!(
            BACKUP_EVERY_SECONDS
                .check_duration("backup.every", Duration::from_secs(400 * 86_400), "400d")
                .unwrap_err()
                .ends_with("(1 to 31536000), not \"400d\"")
        );
    }
}
