//! Time zones, anchors, and placing wall-clock times on the real time line.

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::error::{Error, Result};
use crate::suggest::{close_matches, did_you_mean};

/// Parses an IANA time zone name such as `"America/New_York"` or `"UTC"`.
///
/// # Errors
///
/// [`Error::InvalidSchedule`] for `timezone`, suggesting close names.
pub fn parse_timezone(name: &str) -> Result<Tz> {
    name.trim().parse::<Tz>().map_err(|_| {
        let hint = did_you_mean(&close_matches(
            name,
            chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()),
        ));
        Error::InvalidSchedule {
            field: "timezone",
            message: format!(
                "`timezone` {name:?} is not an IANA time zone{hint}; \
                 use a name such as \"America/New_York\", \"Europe/London\" or \"UTC\""
            ),
        }
    })
}

/// An anchor as written: a wall-clock time in the schedule's zone, or an
/// instant when it carries a UTC offset.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Anchor {
    /// `2026-01-01T00:00:00`: read in the schedule's zone.
    Local(NaiveDateTime),
    /// `2026-01-01T00:00:00+01:00`: an exact instant.
    Instant(DateTime<Utc>),
}

impl Anchor {
    /// Parses an ISO 8601 date and time, with or without a UTC offset.
    pub(super) fn parse(text: &str) -> Result<Anchor> {
        let text = text.trim();
        if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
            return Ok(Anchor::Instant(instant.with_timezone(&Utc)));
        }
        text.parse::<NaiveDateTime>()
            .map(Anchor::Local)
            .map_err(|_| Error::InvalidSchedule {
                field: "anchor",
                message: format!(
                    "`anchor` must be a date and time such as \"2026-01-01T00:00:00\" \
                     or \"2026-01-01T00:00:00+01:00\", not {text:?}"
                ),
            })
    }

    /// The anchor's wall-clock time in `tz`.
    pub(super) fn local(self, tz: Tz) -> NaiveDateTime {
        match self {
            Anchor::Local(local) => local,
            Anchor::Instant(instant) => instant.with_timezone(&tz).naive_local(),
        }
    }

    /// The anchor's instant; a local anchor is placed with [`place`].
    pub(super) fn instant(self, tz: Tz) -> DateTime<Utc> {
        match self {
            Anchor::Local(local) => place(tz, local),
            Anchor::Instant(instant) => instant,
        }
    }
}

/// The instant of a wall-clock time in `tz`. A time repeated by a fall-back
/// change is its first occurrence; a time skipped by a spring-forward change
/// is moved forward by the length of the gap (02:30 becomes 03:30 in New York).
pub(super) fn place(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(time) => time.with_timezone(&Utc),
        LocalResult::Ambiguous(earlier, _) => earlier.with_timezone(&Utc),
        LocalResult::None => {
            // Read the time with the offset in force just before the gap.
            let before = local - chrono::TimeDelta::hours(6);
            let offset = match tz.from_local_datetime(&before) {
                LocalResult::Single(time) | LocalResult::Ambiguous(_, time) => *time.offset(),
                LocalResult::None => return tz.from_utc_datetime(&local).with_timezone(&Utc),
            };
            use chrono::Offset;
            let seconds = offset.fix().local_minus_utc();
            DateTime::<Utc>::from_naive_utc_and_offset(
                local - chrono::TimeDelta::seconds(i64::from(seconds)),
                Utc,
            )
        }
    }
}
