//! When a schedule fires: cron expressions (5 fields, or 6 with seconds
//! first), fixed intervals from an anchor, and RFC 5545 recurrence rules,
//! each read in an IANA time zone.
//!
//! Nothing here reads a clock: every question takes the instant it is asked
//! about, and every answer is a list of UTC instants in increasing order.
//!
//! # Daylight saving time
//!
//! Slots are computed on the schedule's wall clock and then placed on the
//! real time line, so that a schedule never fires twice at the same instant
//! and never silently loses a day:
//!
//! - **cron** (via [`croner`], which follows the Open Cron Pattern
//!   Specification): a *fixed-time* job (one value each for second, minute
//!   and hour, e.g. `0 2 * * *`) whose time does not exist on a spring-forward
//!   day runs at the first valid time after the gap (03:00 in New York), and
//!   a fixed time that exists twice on a fall-back day runs once, at its first
//!   occurrence. An *interval* job (`*/15 9-15 * * 1-5`, `0 * * * *`) skips
//!   the wall-clock times that do not exist and runs at each real instant of
//!   a repeated hour: "every 15 minutes" stays 15 real minutes apart across
//!   both changes.
//! - **interval**: an interval that is a whole number of days keeps its
//!   wall-clock time (daily at 02:00 stays at 02:00 local across a change; a
//!   missing 02:30 runs at 03:30, a repeated 01:30 runs at its first
//!   occurrence); any other interval counts real elapsed time from the anchor,
//!   so 240 s is always 240 s.
//! - **rrule**: the [`rrule`] crate expands the rule in the zone; instants it
//!   yields twice are kept once.

mod interval;
mod no_slot;
mod plan;
mod recurrence;
mod zone;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_calendar;
#[cfg(test)]
mod tests_dst;

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::calendar::Calendar;
use crate::deploy_file::ScheduleSpec;
use crate::error::{Error, Result};
pub use no_slot::NoSlot;
pub use plan::{Horizon, SlotPlan, plan_slots};
pub use zone::parse_timezone;

/// Default start of an interval grid or a recurrence rule that names none,
/// on the schedule's wall clock.
pub const DEFAULT_ANCHOR: &str = "2026-01-01T00:00:00";

/// A validated schedule that can list its fire times.
#[derive(Debug, Clone)]
pub struct Schedule {
    timezone: Tz,
    kind: Kind,
    /// Slots on its closed days (and after its early closes, when the flag
    /// is set) are skipped.
    calendar: Option<Box<(Calendar, bool)>>,
}

/// A fire time, and why no run is made for it when the schedule's calendar
/// skips it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// When the schedule fires.
    pub time: DateTime<Utc>,
    /// Why the slot is skipped (e.g. "XNYS closed: Thanksgiving Day"), or
    /// `None` when a run is made for it.
    pub skipped: Option<String>,
}

/// How long a schedule may go without a slot its calendar keeps before it
/// is taken to never fire again (a calendar closed on every day it fires).
const MAX_SKIPPED_SPAN: chrono::TimeDelta = chrono::TimeDelta::days(400);

#[derive(Debug, Clone)]
enum Kind {
    Cron {
        cron: Box<croner::Cron>,
        text: String,
    },
    Interval(interval::Interval),
    Recurrence(Box<recurrence::Recurrence>),
}

impl Schedule {
    /// Validates a schedule declared in a deploy file or given to the API.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSchedule`] naming the offending field, when the cron
    /// expression, time zone, anchor or rule is invalid, or when not exactly
    /// one of `cron`, `interval_seconds` and `rrule` is set.
    pub fn parse(spec: &ScheduleSpec) -> Result<Schedule> {
        let schedule = Schedule::from_fields(
            spec.rule.cron.as_deref(),
            spec.rule.interval_seconds,
            spec.rule.anchor.as_deref(),
            spec.rule.rrule.as_deref(),
            &spec.rule.timezone,
        )?;
        match &spec.calendar {
            None => Ok(schedule),
            Some(calendar) => {
                let calendar =
                    Calendar::from_spec(calendar).map_err(|error| Error::InvalidSchedule {
                        field: "calendar",
                        message: error.to_string(),
                    })?;
                Ok(schedule.with_calendar(calendar, spec.skip_after_close))
            }
        }
    }

    /// The schedule, skipping the slots on `calendar`'s closed days and,
    /// when `skip_after_close`, those after its early closes.
    pub fn with_calendar(mut self, calendar: Calendar, skip_after_close: bool) -> Schedule {
        self.calendar = Some(Box::new((calendar, skip_after_close)));
        self
    }

    /// The calendar it follows, if any.
    pub fn calendar(&self) -> Option<&Calendar> {
        self.calendar.as_deref().map(|(calendar, _)| calendar)
    }

    /// Why the calendar skips a slot at `time`, if it does.
    pub fn skip_reason(&self, time: DateTime<Utc>) -> Option<String> {
        let (calendar, skip_after_close) = self.calendar.as_deref()?;
        calendar.skip_reason(time, *skip_after_close)
    }

    /// Validates a schedule from its fields; see [`Schedule::parse`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSchedule`], as for [`Schedule::parse`].
    pub fn from_fields(
        cron: Option<&str>,
        interval_seconds: Option<u64>,
        anchor: Option<&str>,
        rrule: Option<&str>,
        timezone: &str,
    ) -> Result<Schedule> {
        let timezone = parse_timezone(timezone)?;
        let kind = match (cron, interval_seconds, rrule) {
            (Some(cron), None, None) => {
                if anchor.is_some() {
                    return Err(Error::InvalidSchedule {
                        field: "anchor",
                        message: "`anchor` only applies to `interval_seconds` and `rrule` \
                                  schedules; remove it"
                            .into(),
                    });
                }
                let parsed = parse_cron(cron)?;
                never_fires_check(cron, &parsed, timezone)?;
                Kind::Cron {
                    cron: Box::new(parsed),
                    text: cron.trim().to_owned(),
                }
            }
            (None, Some(seconds), None) => {
                Kind::Interval(interval::Interval::new(seconds, anchor, timezone)?)
            }
            (None, None, Some(rule)) => Kind::Recurrence(Box::new(recurrence::Recurrence::new(
                rule, anchor, timezone,
            )?)),
            _ => {
                return Err(Error::InvalidSchedule {
                    field: "cron",
                    message: "a schedule needs exactly one of `cron`, `interval_seconds` \
                              or `rrule`"
                        .into(),
                });
            }
        };
        Ok(Schedule {
            timezone,
            kind,
            calendar: None,
        })
    }

    /// The zone the schedule is read in.
    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    /// The first fire time strictly after `after` that its calendar does
    /// not skip, if the schedule fires again.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.calendar.is_none() {
            return self.raw_next_after(after);
        }
        self.slots(after, None, 1, false)
            .into_iter()
            .next()
            .map(|slot| slot.time)
    }

    /// The next `n` slots strictly after `after` that get a run, oldest
    /// first; with `show_skipped`, the slots the calendar skips on the way
    /// are listed too (at most `n` of them in a row are listed).
    pub fn upcoming(&self, after: DateTime<Utc>, n: usize, show_skipped: bool) -> Vec<Slot> {
        if self.calendar.is_none() {
            return self
                .next_fire_times(after, n)
                .into_iter()
                .map(|time| Slot {
                    time,
                    skipped: None,
                })
                .collect();
        }
        self.slots(after, None, n, show_skipped)
    }

    /// Slots in `(after, until]`, at most `n` kept, skipping (and listing,
    /// when `list_skipped`, at most `n` in a row) those the calendar skips.
    /// Once a slot is skipped without being listed, the rest of its day is
    /// skipped at once: a closed day, or the hours after an early close.
    fn slots(
        &self,
        after: DateTime<Utc>,
        until: Option<DateTime<Utc>>,
        n: usize,
        list_skipped: bool,
    ) -> Vec<Slot> {
        let mut slots = Vec::new();
        let mut kept = 0;
        let mut listed_in_a_row = 0;
        let mut skipping_since: Option<DateTime<Utc>> = None;
        let mut cursor = after;
        'chunks: while kept < n {
            let chunk = self.raw_chunk(cursor, until, (n - kept).clamp(16, 1024));
            let Some(&last) = chunk.last() else { break };
            for time in chunk {
                let Some(reason) = self.skip_reason(time) else {
                    slots.push(Slot {
                        time,
                        skipped: None,
                    });
                    kept += 1;
                    listed_in_a_row = 0;
                    skipping_since = None;
                    if kept == n {
                        break 'chunks;
                    }
                    continue;
                };
                let since = *skipping_since.get_or_insert(time);
                if time - since > MAX_SKIPPED_SPAN {
                    break 'chunks;
                }
                if list_skipped && listed_in_a_row < n {
                    listed_in_a_row += 1;
                    slots.push(Slot {
                        time,
                        skipped: Some(reason),
                    });
                    continue;
                }
                cursor = self.end_of_calendar_day(time);
                continue 'chunks;
            }
            if last <= cursor {
                break;
            }
            cursor = last;
        }
        slots
    }

    /// The last instant of the calendar's local day holding `time`.
    fn end_of_calendar_day(&self, time: DateTime<Utc>) -> DateTime<Utc> {
        let Some(calendar) = self.calendar() else {
            return time;
        };
        let zone = calendar.timezone();
        let next_day = time.with_timezone(&zone).date_naive().succ_opt();
        let start = next_day
            .and_then(|day| day.and_hms_opt(0, 0, 0))
            .and_then(|midnight| midnight.and_local_timezone(zone).earliest())
            .map_or(time + chrono::TimeDelta::hours(24), |start| {
                start.with_timezone(&Utc)
            });
        (start - chrono::TimeDelta::nanoseconds(1)).max(time)
    }

    /// Up to `n` raw fire times (calendar not applied) in `(after, until]`.
    fn raw_chunk(
        &self,
        after: DateTime<Utc>,
        until: Option<DateTime<Utc>>,
        n: usize,
    ) -> Vec<DateTime<Utc>> {
        if let Kind::Recurrence(rule) = &self.kind {
            return rule.fire_times(after, until, n);
        }
        let mut times = Vec::with_capacity(n.min(1024));
        let mut cursor = after;
        while times.len() < n {
            match self.raw_next_after(cursor) {
                Some(next) if next > cursor && until.is_none_or(|until| next <= until) => {
                    times.push(next);
                    cursor = next;
                }
                _ => break,
            }
        }
        times
    }

    /// The first fire time strictly after `after`, calendar not applied.
    fn raw_next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.kind {
            Kind::Cron { cron, .. } => {
                // croner works in whole seconds: start from the second that
                // holds `after`, which is never later than `after`.
                let start = after.with_timezone(&self.timezone);
                let start = start
                    .checked_sub_signed(chrono::TimeDelta::nanoseconds(i64::from(
                        after.timestamp_subsec_nanos(),
                    )))
                    .unwrap_or(start);
                cron.find_next_occurrence(&start, false)
                    .ok()
                    .map(|next| next.with_timezone(&Utc))
            }
            Kind::Interval(interval) => interval.next_after(after),
            Kind::Recurrence(rule) => rule.next_after(after),
        }
    }

    /// The next `n` fire times strictly after `after`, oldest first.
    pub fn next_fire_times(&self, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        if self.calendar.is_some() {
            return self
                .slots(after, None, n, false)
                .into_iter()
                .map(|slot| slot.time)
                .collect();
        }
        if let Kind::Recurrence(rule) = &self.kind {
            return rule.fire_times(after, None, n);
        }
        let mut times = Vec::with_capacity(n.min(1024));
        let mut cursor = after;
        while times.len() < n {
            match self.next_after(cursor) {
                Some(next) if next > cursor => {
                    times.push(next);
                    cursor = next;
                }
                _ => break,
            }
        }
        times
    }

    /// Fire times in `(from, to]`, oldest first. When there are more than
    /// `max`, only the newest `max` are returned.
    pub fn fire_times_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        max: usize,
    ) -> Vec<DateTime<Utc>> {
        let mut newest: VecDeque<DateTime<Utc>> = VecDeque::new();
        if max == 0 || to <= from {
            return Vec::new();
        }
        if self.calendar.is_some() {
            for slot in self.slots(from, Some(to), usize::MAX, false) {
                if newest.len() == max {
                    newest.pop_front();
                }
                newest.push_back(slot.time);
            }
            return newest.into();
        }
        if let Kind::Recurrence(rule) = &self.kind {
            for time in rule.fire_times(from, Some(to), usize::MAX) {
                if newest.len() == max {
                    newest.pop_front();
                }
                newest.push_back(time);
            }
            return newest.into();
        }
        let mut cursor = from;
        while let Some(next) = self.next_after(cursor) {
            if next > to || next <= cursor {
                break;
            }
            if newest.len() == max {
                newest.pop_front();
            }
            newest.push_back(next);
            cursor = next;
        }
        newest.into()
    }

    /// A short description, e.g. `cron "*/15 9-15 * * 1-5" in America/New_York`.
    pub fn describe(&self) -> String {
        let what = match &self.kind {
            Kind::Cron { text, .. } => format!("cron \"{text}\""),
            Kind::Interval(interval) => interval.describe(),
            Kind::Recurrence(rule) => rule.describe(),
        };
        format!("{what} in {}", self.timezone.name())
    }
}

/// Refuses a cron expression no date can match (`0 0 30 2 *`): registered,
/// it would never run and its deployment would show no upcoming run.
/// Searched from a fixed instant over 9 years, which holds every calendar
/// case (29 February, every weekday on every date).
fn never_fires_check(text: &str, cron: &croner::Cron, timezone: Tz) -> Result<()> {
    use chrono::TimeZone;
    let start = timezone.from_utc_datetime(
        &chrono::NaiveDate::from_ymd_opt(2001, 1, 1)
            .and_then(|day| day.and_hms_opt(0, 0, 0))
            .expect("a valid date"),
    );
    let within = start + chrono::TimeDelta::days(9 * 366);
    match cron.find_next_occurrence(&start, true) {
        Ok(next) if next <= within => Ok(()),
        _ => Err(Error::InvalidSchedule {
            field: "cron",
            message: format!(
                "`cron` {:?} never fires: no date matches its day-of-month, month and \
                 day-of-week fields together (for example, 30 February does not exist); \
                 fix the day or the month",
                text.trim()
            ),
        }),
    }
}

/// A cron expression: 5 fields (minute hour day-of-month month day-of-week),
/// or 6 with seconds first.
fn parse_cron(text: &str) -> Result<croner::Cron> {
    let fields = text.split_whitespace().count();
    let invalid = |reason: String| Error::InvalidSchedule {
        field: "cron",
        message: format!(
            "`cron` {text:?} is not a valid cron expression: {reason}; expected 5 fields \
             (minute hour day-of-month month day-of-week) or 6 with seconds first, \
             e.g. \"*/15 9-15 * * 1-5\""
        ),
    };
    if !text.trim_start().starts_with('@') && !(5..=6).contains(&fields) {
        return Err(invalid(format!("it has {fields} fields")));
    }
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .year(croner::parser::Year::Disallowed)
        .build()
        .parse(text)
        .map_err(|error| invalid(error.to_string().trim_end_matches('.').to_owned()))
}
