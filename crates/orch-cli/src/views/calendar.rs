//! Calendars and their closed and short days.

use comfy_table::Cell;
use orch_core::{Calendar, CalendarSpec, DayStatus};
use serde::Serialize;

use crate::output::table;

/// One calendar, as `orch calendar ls` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct CalendarView {
    /// Its name, e.g. `XNYS`.
    pub name: String,
    /// `built-in` or `deploy file`.
    pub source: &'static str,
    /// The IANA zone its days are read in.
    pub timezone: String,
}

impl CalendarView {
    /// The view of a validated calendar declared by `spec`.
    pub fn new(calendar: &Calendar, spec: &CalendarSpec) -> Self {
        Self {
            name: calendar.name().to_owned(),
            source: if spec.custom.is_some() {
                "deploy file"
            } else {
                "built-in"
            },
            timezone: calendar.timezone().name().to_owned(),
        }
    }
}

/// One closed or short day.
#[derive(Debug, Clone, Serialize)]
pub struct DayView {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Day of the week, e.g. `Thu`.
    pub weekday: String,
    /// `closed` or `early_close`.
    pub status: &'static str,
    /// The early close (`HH:MM`, local); none on closed days.
    pub close: Option<String>,
    /// Why, e.g. "Thanksgiving Day".
    pub reason: String,
}

/// A calendar's closed and short days in one year.
#[derive(Debug, Clone, Serialize)]
pub struct CalendarDaysView {
    /// The calendar's name.
    pub calendar: String,
    /// Its zone.
    pub timezone: String,
    /// The year listed.
    pub year: i32,
    /// Oldest first; weekends are not listed.
    pub days: Vec<DayView>,
}

impl CalendarDaysView {
    /// The special days of `calendar` in `year`.
    pub fn new(calendar: &Calendar, year: i32) -> Self {
        let days = calendar
            .special_days(year)
            .into_iter()
            .map(|(date, status)| {
                let (status, close, reason) = match status {
                    DayStatus::Closed { reason } => ("closed", None, reason),
                    DayStatus::EarlyClose { close, reason, .. } => (
                        "early_close",
                        Some(close.format("%H:%M").to_string()),
                        reason,
                    ),
                    DayStatus::Open { .. } => ("open", None, String::new()),
                };
                DayView {
                    date: date.to_string(),
                    weekday: date.format("%a").to_string(),
                    status,
                    close,
                    reason,
                }
            })
            .collect();
        Self {
            calendar: calendar.name().to_owned(),
            timezone: calendar.timezone().name().to_owned(),
            year,
            days,
        }
    }
}

/// Writes calendars as a table.
pub fn print_calendars(calendars: &[CalendarView]) -> std::io::Result<()> {
    let mut rows = table::new(&["NAME", "SOURCE", "TIME ZONE"]);
    for calendar in calendars {
        rows.add_row([
            Cell::new(&calendar.name),
            Cell::new(calendar.source),
            Cell::new(&calendar.timezone),
        ]);
    }
    table::print(rows, "No calendars.")
}

/// Writes a year's closed and short days as a table.
pub fn print_days(days: &CalendarDaysView) -> std::io::Result<()> {
    crate::output::write_line(format!(
        "{} ({}), {}: closed and short days (weekends not listed)",
        days.calendar, days.timezone, days.year
    ))?;
    let mut rows = table::new(&["DATE", "DAY", "STATUS", "REASON"]);
    for day in &days.days {
        let status = match &day.close {
            Some(close) => format!("closes at {close}"),
            None => day.status.to_owned(),
        };
        rows.add_row([
            Cell::new(&day.date),
            Cell::new(&day.weekday),
            Cell::new(status),
            Cell::new(&day.reason),
        ]);
    }
    table::print(rows, "No closed or short days that year.")
}
