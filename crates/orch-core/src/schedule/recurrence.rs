//! RFC 5545 recurrence rules, expanded by the `rrule` crate.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use rrule::{Frequency, RRule, RRuleSet, Unvalidated};

use super::DEFAULT_ANCHOR;
use super::zone::Anchor;
use crate::error::{Error, Result};

/// A recurrence rule with its start (DTSTART) in the schedule's zone.
#[derive(Debug, Clone)]
pub(super) struct Recurrence {
    text: String,
    set: RRuleSet,
}

fn invalid(text: &str, reason: impl std::fmt::Display) -> Error {
    Error::InvalidSchedule {
        field: "rrule",
        message: format!(
            "`rrule` {text:?} is not a valid recurrence rule: {reason}; \
             write the RRULE value only, e.g. \"FREQ=WEEKLY;BYDAY=MO,WE,FR;BYHOUR=9;BYMINUTE=0\", \
             and set its start with `anchor` and its zone with `timezone`"
        ),
    }
}

impl Recurrence {
    /// Parses the RRULE value `text` (an `RRULE:` prefix is allowed), starting
    /// at `anchor` (default [`DEFAULT_ANCHOR`]) on the zone's wall clock.
    pub(super) fn new(text: &str, anchor: Option<&str>, tz: Tz) -> Result<Recurrence> {
        let trimmed = text.trim();
        let value = trimmed.strip_prefix("RRULE:").unwrap_or(trimmed);
        if value.contains("DTSTART") || value.contains('\n') {
            return Err(invalid(
                text,
                "it holds more than one RRULE value (DTSTART is given with `anchor`)",
            ));
        }
        let rule: RRule<Unvalidated> = value.parse().map_err(|e| invalid(text, e))?;
        if matches!(rule.get_freq(), Frequency::Secondly | Frequency::Minutely) {
            return Err(invalid(
                text,
                "FREQ=SECONDLY and FREQ=MINUTELY are not supported; \
                 use `interval_seconds` or `cron` for schedules more frequent than hourly",
            ));
        }
        let anchor = Anchor::parse(anchor.unwrap_or(DEFAULT_ANCHOR))?;
        let zone = rrule::Tz::Tz(tz);
        let start = zone.from_utc_datetime(&anchor.instant(tz).naive_utc());
        let set = rule.build(start).map_err(|e| invalid(text, e))?.limit();
        Ok(Recurrence {
            text: value.to_owned(),
            set,
        })
    }

    /// Up to `n` occurrences in `(after, until]` (no upper bound when
    /// `until` is `None`), oldest first, each instant once.
    pub(super) fn fire_times(
        &self,
        after: DateTime<Utc>,
        until: Option<DateTime<Utc>>,
        n: usize,
    ) -> Vec<DateTime<Utc>> {
        let mut times: Vec<DateTime<Utc>> = Vec::new();
        if n == 0 {
            return times;
        }
        for occurrence in &self.set {
            let time = occurrence.with_timezone(&Utc);
            if time <= after || times.last() == Some(&time) {
                continue;
            }
            if until.is_some_and(|until| time > until) {
                break;
            }
            times.push(time);
            if times.len() >= n {
                break;
            }
        }
        times
    }

    /// The first occurrence strictly after `after`.
    pub(super) fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.fire_times(after, None, 1).pop()
    }

    /// E.g. `rrule "FREQ=DAILY;BYHOUR=18"`.
    pub(super) fn describe(&self) -> String {
        format!("rrule \"{}\"", self.text)
    }
}
