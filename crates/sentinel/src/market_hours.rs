//! When the market is open: a time window on given weekdays in a time zone.

use chrono::{DateTime, Datelike, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;

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
        Ok(MarketHours {
            timezone,
            open,
            close,
            days,
        })
    }

    /// True when `now` falls on a trading day between open and close, local time.
    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        let local = now.with_timezone(&self.timezone);
        let t = local.time();
        self.days.contains(&local.weekday()) && t >= self.open && t < self.close
    }

    /// A human description such as `09:30-16:00 America/New_York Mon-Fri`.
    pub fn describe(&self) -> String {
        let days: Vec<String> = self.days.iter().map(|d| d.to_string()).collect();
        format!(
            "{}-{} {} {}",
            self.open.format("%H:%M"),
            self.close.format("%H:%M"),
            self.timezone,
            days.join(",")
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
