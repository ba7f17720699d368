//! Fixed intervals from an anchor.

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use chrono_tz::Tz;

use super::DEFAULT_ANCHOR;
use super::zone::{Anchor, place};
use crate::error::{Error, Result};

/// Seconds in a day: intervals that are a multiple keep their wall-clock time.
const DAY: u64 = 86_400;
/// Longest interval accepted: 10 years.
const MAX_SECONDS: u64 = 10 * 366 * DAY;

/// Every `seconds` from an anchor, in both directions.
#[derive(Debug, Clone)]
pub(super) struct Interval {
    seconds: u64,
    tz: Tz,
    /// The anchor on the schedule's wall clock (used for whole days).
    anchor_local: NaiveDateTime,
    /// The anchor's instant (used for other intervals).
    anchor: DateTime<Utc>,
}

impl Interval {
    /// An interval of `seconds` (> 0) anchored at `anchor` (default
    /// [`DEFAULT_ANCHOR`] on the zone's wall clock).
    pub(super) fn new(seconds: u64, anchor: Option<&str>, tz: Tz) -> Result<Interval> {
        if seconds == 0 || seconds > MAX_SECONDS {
            return Err(Error::InvalidSchedule {
                field: "interval_seconds",
                message: format!(
                    "`interval_seconds` must be between 1 and {MAX_SECONDS} (10 years), not {seconds}"
                ),
            });
        }
        let anchor = Anchor::parse(anchor.unwrap_or(DEFAULT_ANCHOR))?;
        Ok(Interval {
            seconds,
            tz,
            anchor_local: anchor.local(tz),
            anchor: anchor.instant(tz),
        })
    }

    fn step_micros(&self) -> i64 {
        self.seconds as i64 * 1_000_000
    }

    /// The `k`-th slot (0 is the anchor; negative before it).
    fn slot(&self, k: i64) -> Option<DateTime<Utc>> {
        if self.seconds.is_multiple_of(DAY) {
            let days = k.checked_mul((self.seconds / DAY) as i64)?;
            let local = self
                .anchor_local
                .checked_add_signed(TimeDelta::try_days(days)?)?;
            Some(place(self.tz, local))
        } else {
            let offset = k.checked_mul(self.step_micros())?;
            DateTime::from_timestamp_micros(self.anchor.timestamp_micros().checked_add(offset)?)
        }
    }

    /// The first slot strictly after `after`.
    pub(super) fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let elapsed = after.timestamp_micros() - self.anchor.timestamp_micros();
        // Wall-clock slots sit within a few hours of the elapsed-time grid,
        // and a whole-day step is longer than that: two steps back is enough.
        let first = elapsed.div_euclid(self.step_micros()) - 1;
        (first..first + 5)
            .map_while(|k| self.slot(k))
            .find(|slot| *slot > after)
    }

    /// E.g. `every 240s from 2026-01-01T00:00:00`.
    pub(super) fn describe(&self) -> String {
        format!(
            "every {}s from {}",
            self.seconds,
            self.anchor_local.format("%Y-%m-%dT%H:%M:%S")
        )
    }
}
