//! Calendars: on which days a market (or a plant, or a team) is open, and
//! until when. Schedules that name a calendar create no slot on its closed
//! days, nor after the close on its short days (see [`crate::Schedule`]).
//!
//! - Built in: `XNYS`, the New York Stock Exchange, computed for any year
//!   from the exchange's rules (see [`Calendar::xnys`]).
//! - Declared in a deploy file (`[[calendars]]`): closed dates, early
//!   closes and closed days of the week ([`CalendarSpec`]).
//!
//! Everything here is pure: dates in, answers out.

mod custom;
#[cfg(test)]
mod tests;
mod xnys;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

pub use custom::{CustomDays, parse_date, parse_time};

use crate::error::{Error, Result};
use crate::suggest::{close_matches, did_you_mean};

/// Names of the calendars built into orch.
pub const BUILT_IN: &[&str] = &["XNYS"];

/// What a calendar says about one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum DayStatus {
    /// A regular session.
    Open {
        /// Local time the session opens.
        open: NaiveTime,
        /// Local time the session closes.
        close: NaiveTime,
    },
    /// A short session.
    EarlyClose {
        /// Local time the session opens.
        open: NaiveTime,
        /// Local time the session closes early.
        close: NaiveTime,
        /// Why, e.g. "Day after Thanksgiving".
        reason: String,
    },
    /// No session.
    Closed {
        /// Why, e.g. "Thanksgiving Day" or "weekend".
        reason: String,
    },
}

impl DayStatus {
    /// The session's local open and close times; `None` when closed.
    pub fn session(&self) -> Option<(NaiveTime, NaiveTime)> {
        match self {
            DayStatus::Open { open, close } | DayStatus::EarlyClose { open, close, .. } => {
                Some((*open, *close))
            }
            DayStatus::Closed { .. } => None,
        }
    }
}

/// A calendar as declared: the name of a built-in one, or a user calendar's
/// days. This is what schedules store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarSpec {
    /// `"XNYS"`, or the name of a `[[calendars]]` table.
    pub name: String,
    /// A user calendar's days; `None` for a built-in calendar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<CustomDays>,
}

impl CalendarSpec {
    /// The built-in calendar `name`.
    pub fn built_in(name: &str) -> CalendarSpec {
        CalendarSpec {
            name: name.to_owned(),
            custom: None,
        }
    }
}

/// A validated calendar.
#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    name: String,
    timezone: Tz,
    rules: Rules,
}

#[derive(Debug, Clone, PartialEq)]
enum Rules {
    Xnys,
    Custom(custom::Days),
}

impl Calendar {
    /// The New York Stock Exchange: regular session 09:30-16:00
    /// America/New_York, its holidays and its 13:00 early closes, for any year.
    pub fn xnys() -> Calendar {
        Calendar {
            name: "XNYS".into(),
            timezone: chrono_tz::America::New_York,
            rules: Rules::Xnys,
        }
    }

    /// A built-in calendar by name (case-insensitive), e.g. `"XNYS"`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidCalendar`] for a name orch does not know, suggesting
    /// close names.
    pub fn built_in(name: &str) -> Result<Calendar> {
        match name.trim().to_ascii_uppercase().as_str() {
            "XNYS" => Ok(Calendar::xnys()),
            _ => Err(unknown_calendar(name, BUILT_IN.iter().copied())),
        }
    }

    /// Validates a declared calendar.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidCalendar`] for an unknown built-in name or a
    /// malformed date, time, zone or day of the week.
    pub fn from_spec(spec: &CalendarSpec) -> Result<Calendar> {
        match &spec.custom {
            None => Calendar::built_in(&spec.name),
            Some(days) => {
                let (timezone, days) = days.validate(&spec.name)?;
                Ok(Calendar {
                    name: spec.name.clone(),
                    timezone,
                    rules: Rules::Custom(days),
                })
            }
        }
    }

    /// The calendar's name, e.g. `"XNYS"`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The zone its dates and times are read in.
    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    /// What the calendar says about `date`.
    pub fn status(&self, date: NaiveDate) -> DayStatus {
        match &self.rules {
            Rules::Xnys => xnys::status(date),
            Rules::Custom(days) => days.status(date),
        }
    }

    /// Whether there is a session on `date`.
    pub fn is_open_day(&self, date: NaiveDate) -> bool {
        !matches!(self.status(date), DayStatus::Closed { .. })
    }

    /// The local open and close of `date`'s session; `None` when closed.
    pub fn session(&self, date: NaiveDate) -> Option<(NaiveTime, NaiveTime)> {
        self.status(date).session()
    }

    /// The local close of `date`'s session (13:00 on an XNYS short day);
    /// `None` when closed.
    pub fn close_time(&self, date: NaiveDate) -> Option<NaiveTime> {
        self.session(date).map(|(_, close)| close)
    }

    /// The local open of `date`'s session; `None` when closed.
    pub fn open_time(&self, date: NaiveDate) -> Option<NaiveTime> {
        self.session(date).map(|(open, _)| open)
    }

    /// Whether a session is in progress at `instant` (open inclusive,
    /// close exclusive).
    pub fn is_open_at(&self, instant: DateTime<Utc>) -> bool {
        let local = instant.with_timezone(&self.timezone);
        self.session(local.date_naive())
            .is_some_and(|(open, close)| local.time() >= open && local.time() < close)
    }

    /// The days of `year` that are closed or short, other than closed days
    /// of the week (weekends), oldest first.
    pub fn special_days(&self, year: i32) -> Vec<(NaiveDate, DayStatus)> {
        let Some(mut date) = NaiveDate::from_ymd_opt(year, 1, 1) else {
            return Vec::new();
        };
        let mut days = Vec::new();
        while date.year() == year {
            let status = self.status(date);
            let weekly = matches!(&status, DayStatus::Closed { reason } if reason == "weekend");
            if !weekly && !matches!(status, DayStatus::Open { .. }) {
                days.push((date, status));
            }
            let Some(next) = date.succ_opt() else { break };
            date = next;
        }
        days
    }

    /// Why a schedule slot at `instant` is not created, if it is not: the
    /// day is closed, or (when `skip_after_close`) the slot is after an
    /// early close. A slot at the close itself is kept.
    pub fn skip_reason(&self, instant: DateTime<Utc>, skip_after_close: bool) -> Option<String> {
        let local = instant.with_timezone(&self.timezone);
        match self.status(local.date_naive()) {
            DayStatus::Closed { reason } => Some(format!("{} closed: {reason}", self.name)),
            DayStatus::EarlyClose { close, reason, .. }
                if skip_after_close && local.time() > close =>
            {
                Some(format!(
                    "{} closes early at {}: {reason}",
                    self.name,
                    close.format("%H:%M")
                ))
            }
            _ => None,
        }
    }
}

/// The error for a calendar name that is neither built in nor declared.
pub fn unknown_calendar<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Error {
    let known: Vec<&str> = known.into_iter().collect();
    let hint = did_you_mean(&close_matches(name, known.iter().copied()));
    Error::InvalidCalendar {
        message: format!(
            "unknown calendar {name:?}{hint}; use a built-in calendar ({}) or declare it \
             in the deploy file with a [[calendars]] table named {name:?}",
            known.join(", ")
        ),
    }
}
