//! The New York Stock Exchange (ISO 10383 MIC `XNYS`): its holidays and
//! early closes, computed for any year from the exchange's rules (NYSE Rule
//! 7.2 and the holiday notices it publishes every year).
//!
//! - Regular session 09:30-16:00 America/New_York, Monday to Friday.
//! - Closed: New Year's Day, Martin Luther King Jr. Day (third Monday of
//!   January, from 1998), Washington's Birthday (third Monday of February),
//!   Good Friday, Memorial Day (last Monday of May), Juneteenth (June 19,
//!   from 2022), Independence Day, Labor Day (first Monday of September),
//!   Thanksgiving (fourth Thursday of November) and Christmas Day.
//! - A holiday on a Sunday is observed the Monday after; one on a Saturday
//!   the Friday before, except New Year's Day: the exchange does not close
//!   on the last trading day of the year (Rule 7.2), so a Saturday
//!   January 1 is not observed.
//! - Early close at 13:00: the day before Independence Day (July 3, when it
//!   is a Monday to Thursday), the day after Thanksgiving, and Christmas Eve
//!   (when it is a Monday to Thursday).
//! - Unscheduled closings the exchange announced (national days of
//!   mourning, Hurricane Sandy, September 11) are listed in
//!   [`UNSCHEDULED`].

use chrono::{Datelike, Duration, NaiveDate, NaiveTime, Weekday};

use super::DayStatus;

/// The exchange's unscheduled full-day closings.
const UNSCHEDULED: &[((i32, u32, u32), &str)] = &[
    ((2001, 9, 11), "September 11 attacks"),
    ((2001, 9, 12), "September 11 attacks"),
    ((2001, 9, 13), "September 11 attacks"),
    ((2001, 9, 14), "September 11 attacks"),
    ((2004, 6, 11), "National Day of Mourning for Ronald Reagan"),
    ((2007, 1, 2), "National Day of Mourning for Gerald Ford"),
    ((2012, 10, 29), "Hurricane Sandy"),
    ((2012, 10, 30), "Hurricane Sandy"),
    (
        (2018, 12, 5),
        "National Day of Mourning for George H. W. Bush",
    ),
    ((2025, 1, 9), "National Day of Mourning for Jimmy Carter"),
];

pub(super) fn open() -> NaiveTime {
    NaiveTime::from_hms_opt(9, 30, 0).expect("a valid time")
}

pub(super) fn close() -> NaiveTime {
    NaiveTime::from_hms_opt(16, 0, 0).expect("a valid time")
}

fn early_close() -> NaiveTime {
    NaiveTime::from_hms_opt(13, 0, 0).expect("a valid time")
}

/// Whether the exchange trades on `date`, and until when.
pub(super) fn status(date: NaiveDate) -> DayStatus {
    if matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
        return DayStatus::Closed {
            reason: "weekend".into(),
        };
    }
    if let Some(name) = holiday(date) {
        return DayStatus::Closed {
            reason: name.into(),
        };
    }
    if let Some(name) = short_day(date) {
        return DayStatus::EarlyClose {
            open: open(),
            close: early_close(),
            reason: name.into(),
        };
    }
    DayStatus::Open {
        open: open(),
        close: close(),
    }
}

/// The holiday `date` (a weekday) is closed for, if any.
fn holiday(date: NaiveDate) -> Option<&'static str> {
    let year = date.year();
    let key = (year, date.month(), date.day());
    if let Some((_, name)) = UNSCHEDULED.iter().find(|(day, _)| *day == key) {
        return Some(name);
    }
    // New Year's Day: a Sunday one moves to Monday; a Saturday one is not observed.
    let new_year = ymd(year, 1, 1);
    let new_year = if new_year.weekday() == Weekday::Sun {
        new_year + Duration::days(1)
    } else {
        new_year
    };
    let mut fixed = vec![
        (new_year, "New Year's Day"),
        (observed(ymd(year, 7, 4)), "Independence Day"),
        (observed(ymd(year, 12, 25)), "Christmas Day"),
        (
            nth_weekday(year, 2, Weekday::Mon, 3),
            "Washington's Birthday",
        ),
        (easter_sunday(year) - Duration::days(2), "Good Friday"),
        (last_weekday(year, 5, Weekday::Mon), "Memorial Day"),
        (nth_weekday(year, 9, Weekday::Mon, 1), "Labor Day"),
        (nth_weekday(year, 11, Weekday::Thu, 4), "Thanksgiving Day"),
    ];
    if year >= 1998 {
        fixed.push((
            nth_weekday(year, 1, Weekday::Mon, 3),
            "Martin Luther King Jr. Day",
        ));
    }
    if year >= 2022 {
        fixed.push((
            observed(ymd(year, 6, 19)),
            "Juneteenth National Independence Day",
        ));
    }
    fixed
        .into_iter()
        .find(|(day, _)| *day == date)
        .map(|(_, name)| name)
}

/// The early close `date` (an open weekday) has, if any.
fn short_day(date: NaiveDate) -> Option<&'static str> {
    let year = date.year();
    let mon_to_thu =
        |d: NaiveDate| !matches!(d.weekday(), Weekday::Fri | Weekday::Sat | Weekday::Sun);
    let july_3 = ymd(year, 7, 3);
    if date == july_3 && mon_to_thu(july_3) {
        return Some("Independence Day eve");
    }
    if date == nth_weekday(year, 11, Weekday::Thu, 4) + Duration::days(1) {
        return Some("Day after Thanksgiving");
    }
    let christmas_eve = ymd(year, 12, 24);
    if date == christmas_eve && mon_to_thu(christmas_eve) {
        return Some("Christmas Eve");
    }
    None
}

fn ymd(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).expect("a valid calendar date")
}

/// A fixed-date holiday's observed day: Saturday -> Friday, Sunday -> Monday.
fn observed(date: NaiveDate) -> NaiveDate {
    match date.weekday() {
        Weekday::Sat => date - Duration::days(1),
        Weekday::Sun => date + Duration::days(1),
        _ => date,
    }
}

/// The `n`th (1-based) `weekday` of `month`.
fn nth_weekday(year: i32, month: u32, weekday: Weekday, n: u8) -> NaiveDate {
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, n).expect("a valid weekday")
}

/// The last `weekday` of `month`.
fn last_weekday(year: i32, month: u32, weekday: Weekday) -> NaiveDate {
    let first_next = if month == 12 {
        ymd(year + 1, 1, 1)
    } else {
        ymd(year, month + 1, 1)
    };
    let mut day = first_next - Duration::days(1);
    while day.weekday() != weekday {
        day -= Duration::days(1);
    }
    day
}

/// Western (Gregorian) Easter Sunday: the anonymous Gregorian algorithm
/// (Meeus/Jones/Butcher).
pub(super) fn easter_sunday(year: i32) -> NaiveDate {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    ymd(year, month as u32, day as u32)
}
