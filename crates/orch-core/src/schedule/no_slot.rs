//! Why a schedule has no upcoming slot: its calendar closes every slot in
//! the window looked at, or it fires no more. `orch deployment upcoming`
//! says which, naming the calendar and the window, rather than "no active
//! schedule" for a schedule that exists.

use chrono::{DateTime, Utc};

use super::{MAX_SKIPPED_SPAN, Schedule};

/// Why an active schedule has no slot that gets a run after a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoSlot {
    /// The calendar skips every slot from `from` to `until` (the window
    /// looked at); `first` is the first skipped slot and `reason` why.
    ClosedByCalendar {
        /// The calendar's name.
        calendar: String,
        /// Start of the window looked at.
        from: DateTime<Utc>,
        /// End of the window looked at.
        until: DateTime<Utc>,
        /// The first slot skipped.
        first: DateTime<Utc>,
        /// Why it is skipped, e.g. "XNYS closed: Thanksgiving Day".
        reason: String,
    },
    /// The schedule has no fire time after the moment asked about (an
    /// `rrule` with an `UNTIL` or `COUNT` that has passed).
    FiresNoMore,
}

impl Schedule {
    /// Why no slot after `after` gets a run, or `None` when one does.
    pub fn why_no_slot(&self, after: DateTime<Utc>) -> Option<NoSlot> {
        let slots = match self.calendar() {
            None => {
                return self
                    .raw_next_after(after)
                    .is_none()
                    .then_some(NoSlot::FiresNoMore);
            }
            Some(_) => self.slots(after, None, 1, true),
        };
        if slots.iter().any(|slot| slot.skipped.is_none()) {
            return None;
        }
        let Some(first) = slots.first() else {
            return Some(NoSlot::FiresNoMore);
        };
        Some(NoSlot::ClosedByCalendar {
            calendar: self
                .calendar()
                .map(|c| c.name().to_owned())
                .unwrap_or_default(),
            from: after,
            until: first.time + MAX_SKIPPED_SPAN,
            first: first.time,
            reason: first.skipped.clone().unwrap_or_default(),
        })
    }
}

impl NoSlot {
    /// The reason in words for schedule `slug`, e.g. `schedule "hourly":
    /// calendar "shut" closes every slot from 2026-12-07 to 2028-01-11
    /// (the first at 2026-12-07 13:00 UTC: shut closed: weekend)`.
    pub fn describe(&self, slug: &str) -> String {
        match self {
            NoSlot::ClosedByCalendar {
                calendar,
                from,
                until,
                first,
                reason,
            } => format!(
                "schedule \"{slug}\": calendar \"{calendar}\" closes every slot from {} to {} \
                 (the first at {}: {reason})",
                from.format("%Y-%m-%d"),
                until.format("%Y-%m-%d"),
                first.format("%Y-%m-%d %H:%M UTC"),
            ),
            NoSlot::FiresNoMore => format!("schedule \"{slug}\" fires no more"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{cron, utc};
    use crate::calendar::{Calendar, CalendarSpec, CustomDays};

    fn closed_every_day() -> Calendar {
        let days = CustomDays {
            weekend: ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
                .map(String::from)
                .to_vec(),
            ..CustomDays::default()
        };
        Calendar::from_spec(&CalendarSpec {
            name: "shut".into(),
            custom: Some(days),
        })
        .unwrap()
    }

    #[test]
    fn a_calendar_closing_every_slot_is_named_with_the_window_looked_at() {
        let schedule = cron("0 * * * *", "UTC").with_calendar(closed_every_day(), true);
        let after = utc("2026-12-07T12:30:00Z");
        let why = schedule.why_no_slot(after).unwrap();
        assert_eq!(
            why.describe("hourly"),
            "schedule \"hourly\": calendar \"shut\" closes every slot from 2026-12-07 to \
             2028-01-11 (the first at 2026-12-07 13:00 UTC: shut closed: weekend)"
        );
    }

    #[test]
    fn a_schedule_with_a_coming_slot_has_no_reason() {
        let after = utc("2026-12-07T12:30:00Z");
        assert_eq!(cron("0 * * * *", "UTC").why_no_slot(after), None);
        let xnys = cron("0 10 * * *", "America/New_York").with_calendar(Calendar::xnys(), true);
        assert_eq!(xnys.why_no_slot(after), None);
    }
}
