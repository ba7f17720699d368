//! User calendars declared in a deploy file (`[[calendars]]`).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, NaiveDate, NaiveTime, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::DayStatus;
use crate::error::{Error, Result};

/// A user calendar's days as declared: every date `YYYY-MM-DD`, every time
/// `HH:MM`, in `timezone`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomDays {
    /// IANA zone its dates and times are read in; `"UTC"` when empty.
    #[serde(default)]
    pub timezone: String,
    /// Days of the week that are always closed, e.g. `["Sat", "Sun"]`.
    #[serde(default)]
    pub weekend: Vec<String>,
    /// Closed dates.
    #[serde(default)]
    pub closed: Vec<String>,
    /// Short days: date -> local close time.
    #[serde(default)]
    pub early_closes: BTreeMap<String, String>,
}

/// A validated user calendar; sessions run the whole day unless short.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Days {
    weekend: Vec<Weekday>,
    closed: BTreeSet<NaiveDate>,
    early_closes: BTreeMap<NaiveDate, NaiveTime>,
}

fn invalid(calendar: &str, message: String) -> Error {
    Error::InvalidCalendar {
        message: format!("calendar {calendar:?}: {message}"),
    }
}

/// Parses a `YYYY-MM-DD` date of calendar `calendar`.
///
/// # Errors
///
/// [`Error::InvalidCalendar`] saying what was expected.
pub fn parse_date(calendar: &str, text: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
        invalid(
            calendar,
            format!("{text:?} is not a date; write dates as YYYY-MM-DD, e.g. \"2026-12-24\""),
        )
    })
}

/// Parses an `HH:MM` time of calendar `calendar`.
///
/// # Errors
///
/// [`Error::InvalidCalendar`] saying what was expected.
pub fn parse_time(calendar: &str, text: &str) -> Result<NaiveTime> {
    NaiveTime::parse_from_str(text.trim(), "%H:%M").map_err(|_| {
        invalid(
            calendar,
            format!("{text:?} is not a time of day; write times as HH:MM, e.g. \"13:00\""),
        )
    })
}

impl CustomDays {
    pub(super) fn validate(&self, name: &str) -> Result<(Tz, Days)> {
        let zone = if self.timezone.trim().is_empty() {
            "UTC"
        } else {
            self.timezone.as_str()
        };
        let timezone = crate::schedule::parse_timezone(zone)
            .map_err(|error| invalid(name, error.to_string()))?;
        let weekend = self
            .weekend
            .iter()
            .map(|day| {
                day.trim().parse::<Weekday>().map_err(|_| {
                    invalid(
                        name,
                        format!(
                            "{day:?} in `weekend` is not a day of the week; \
                             use \"Mon\" ... \"Sun\", e.g. weekend = [\"Sat\", \"Sun\"]"
                        ),
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let closed = self
            .closed
            .iter()
            .map(|date| parse_date(name, date))
            .collect::<Result<BTreeSet<_>>>()?;
        let mut early_closes = BTreeMap::new();
        for (date, time) in &self.early_closes {
            let date = parse_date(name, date)?;
            if closed.contains(&date) {
                return Err(invalid(
                    name,
                    format!("{date} is both closed and an early close; keep one"),
                ));
            }
            early_closes.insert(date, parse_time(name, time)?);
        }
        Ok((
            timezone,
            Days {
                weekend,
                closed,
                early_closes,
            },
        ))
    }

    /// Adds the lines of a calendar file: `YYYY-MM-DD` closes the day,
    /// `YYYY-MM-DD HH:MM` closes it early at that time; `#` starts a
    /// comment, blank lines are ignored.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidCalendar`] naming the line of the first bad entry.
    pub fn add_file(&mut self, name: &str, file: &str, text: &str) -> Result<()> {
        for (number, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let at = |error: Error| invalid(name, format!("{file}:{}: {error}", number + 1));
            let mut fields = line.split_whitespace();
            let date = fields.next().unwrap_or_default();
            parse_date(name, date).map_err(at)?;
            match (fields.next(), fields.next()) {
                (None, _) => self.closed.push(date.to_owned()),
                (Some(time), None) => {
                    parse_time(name, time).map_err(at)?;
                    self.early_closes.insert(date.to_owned(), time.to_owned());
                }
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        name,
                        format!(
                            "{file}:{}: expected \"YYYY-MM-DD\" or \"YYYY-MM-DD HH:MM\", \
                             got {line:?}",
                            number + 1
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

impl Days {
    pub(super) fn status(&self, date: NaiveDate) -> DayStatus {
        let start = NaiveTime::MIN;
        if self.weekend.contains(&date.weekday()) {
            return DayStatus::Closed {
                reason: "weekend".into(),
            };
        }
        if self.closed.contains(&date) {
            return DayStatus::Closed {
                reason: "closed".into(),
            };
        }
        if let Some(close) = self.early_closes.get(&date) {
            return DayStatus::EarlyClose {
                open: start,
                close: *close,
                reason: "early close".into(),
            };
        }
        DayStatus::Open {
            open: start,
            close: NaiveTime::from_hms_nano_opt(23, 59, 59, 999_999_999).expect("a valid time"),
        }
    }
}
