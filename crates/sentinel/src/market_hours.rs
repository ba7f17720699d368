//! When the market is open: a time window on given weekdays in a time zone,
//! within the sessions of an exchange calendar (`XNYS` by default: no
//! session on exchange holidays, none after 13:00 on early-close days).

use chrono::{DateTime, Datelike, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;
use orch_core::calendar::{Calendar, DayStatus};

use crate::config::MarketHoursConfig;
use crate::error::{Result, SentinelError};

/// Validated market hours.
#[derive(Debug, Clone, PartialEq)]
pub struct MarketHours {
    /// The exchange's time zone.
    pub timezone: Tz,
    /// Opening time (inclusive), local.
    pub open: NaiveTime,
    /// Closing time (exclusive), local.
    pub close: NaiveTime,
    /// Trading days.
    pub days: Vec<Weekday>,
    /// The exchange calendar whose sessions also bound the hours, if any.
    pub calendar: Option<Calendar>,
}

impl MarketHours {
    /// Parses and checks the configuration.
    pub fn from_config(c: &MarketHoursConfig) -> Result<MarketHours> {
        let bad = |m: String| SentinelError::InvalidConfig(format!("market_hours: {m}"));
        let timezone: Tz = c.timezone.parse().map_err(|_| {
            bad(format!(
                "unknown time zone {:?}; use an IANA name like America/New_York",
                c.timezone
            ))
        })?;
        let time = |s: &str, what: &str| {
            NaiveTime::parse_from_str(s, "%H:%M")
                .map_err(|_| bad(format!("{what} = {s:?}: expected HH:MM")))
        };
        let open = time(&c.open, "open")?;
        let close = time(&c.close, "close")?;
        if close <= open {
            return Err(bad(format!(
                "close ({}) must be after open ({})",
                c.close, c.open
            )));
        }
        let days = c
            .days
            .iter()
            .map(|d| {
                d.parse::<Weekday>()
                    .map_err(|_| bad(format!("unknown day {d:?}; use Mon..Sun")))
            })
            .collect::<Result<Vec<_>>>()?;
        let calendar = match c.calendar.trim() {
            "" | "none" => None,
            name => Some(Calendar::built_in(name).map_err(|e| {
                bad(format!(
                    "calendar = {name:?}: {e} (or \"none\" for plain hours)"
                ))
            })?),
        };
        Ok(MarketHours {
            timezone,
            open,
            close,
            days,
            calendar,
        })
    }

    /// True when `now` falls on a trading day between open and close, local
    /// time, and inside a session of the calendar.
    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        let local = now.with_timezone(&self.timezone);
        let t = local.time();
        self.days.contains(&local.weekday())
            && t >= self.open
            && t < self.close
            && self.calendar.as_ref().is_none_or(|c| c.is_open_at(now))
    }

    /// Why the calendar has no session at `now` (a holiday, an early close), if so.
    pub fn calendar_note(&self, now: DateTime<Utc>) -> Option<String> {
        let c = self.calendar.as_ref()?;
        let date = now.with_timezone(&c.timezone()).date_naive();
        match c.status(date) {
            DayStatus::Closed { reason } if reason != "weekend" => {
                Some(format!("{} closed: {reason}", c.name()))
            }
            DayStatus::EarlyClose { close, reason, .. } => Some(format!(
                "{} closes early at {}: {reason}",
                c.name(),
                close.format("%H:%M")
            )),
            _ => None,
        }
    }

    /// A human description such as `09:30-16:00 America/New_York Mon-Fri`.
    pub fn describe(&self) -> String {
        let days: Vec<String> = self.days.iter().map(|d| d.to_string()).collect();
        format!(
            "{}-{} {} {}{}",
            self.open.format("%H:%M"),
            self.close.format("%H:%M"),
            self.timezone,
            days.join(","),
            self.calendar
                .as_ref()
                .map(|c| format!(", {} calendar", c.name()))
                .unwrap_or_default()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn new_york_hours_follow_daylight_saving() {
        let h = MarketHours::from_config(&MarketHoursConfig::default()).unwrap();
        // Winter: 09:30 EST = 14:30 UTC.
        assert!(!h.is_open(at("2024-01-10T14:29:00Z")));
        assert!(h.is_open(at("2024-01-10T14:30:00Z")));
        assert!(h.is_open(at("2024-01-10T20:59:00Z")));
        assert!(!h.is_open(at("2024-01-10T21:00:00Z")));
        // Summer: 09:30 EDT = 13:30 UTC.
        assert!(h.is_open(at("2024-07-10T13:30:00Z")));
        assert!(!h.is_open(at("2024-07-10T20:00:00Z")));
        // Saturday.
        assert!(!h.is_open(at("2024-07-13T15:00:00Z")));
    }

    #[test]
    fn the_xnys_calendar_closes_holidays_and_early_closes() {
        let h = MarketHours::from_config(&MarketHoursConfig::default()).unwrap();
        // Thanksgiving 2024 (Thursday 28 November), 11:00 New York.
        assert!(!h.is_open(at("2024-11-28T16:00:00Z")));
        let note = h.calendar_note(at("2024-11-28T16:00:00Z")).unwrap();
        assert!(note.contains("XNYS closed: Thanksgiving"), "{note}");
        // The day after: open at 12:00, closed at 13:30 (early close 13:00).
        assert!(h.is_open(at("2024-11-29T17:00:00Z")));
        assert!(!h.is_open(at("2024-11-29T18:30:00Z")));
        assert!(
            h.calendar_note(at("2024-11-29T18:30:00Z"))
                .unwrap()
                .contains("13:00")
        );
        // Without the calendar, plain hours.
        let plain = MarketHours::from_config(&MarketHoursConfig {
            calendar: "none".into(),
            ..Default::default()
        })
        .unwrap();
        assert!(plain.is_open(at("2024-11-28T16:00:00Z")));
        let err = MarketHours::from_config(&MarketHoursConfig {
            calendar: "XNYZ".into(),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("XNYZ") && err.contains("none"), "{err}");
    }

    #[test]
    fn bad_values_are_refused_clearly() {
        let mut c = MarketHoursConfig {
            timezone: "Mars/Olympus".into(),
            ..Default::default()
        };
        assert!(
            MarketHours::from_config(&c)
                .unwrap_err()
                .to_string()
                .contains("IANA")
        );
        c.timezone = "Europe/London".into();
        c.close = "08:00".into();
        assert!(
            MarketHours::from_config(&c)
                .unwrap_err()
                .to_string()
                .contains("after open")
        );
        c.close = "16:30".into();
        c.days = vec!["Funday".into()];
        assert!(
            MarketHours::from_config(&c)
                .unwrap_err()
                .to_string()
                .contains("Funday")
        );
    }
}
