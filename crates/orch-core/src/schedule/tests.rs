//! Parsing and fire times of the sentinel schedules, over real zone data.

use chrono::{DateTime, Datelike, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::America::New_York;

use super::*;

pub(super) fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .with_timezone(&Utc)
}

pub(super) fn cron(expr: &str, tz: &str) -> Schedule {
    Schedule::from_fields(Some(expr), None, None, None, tz).unwrap()
}

fn rfc3339(times: &[DateTime<Utc>]) -> Vec<String> {
    times
        .iter()
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .collect()
}

/// Friday 2026-03-06 15:10 in New York (EST, UTC-5): the weekend ahead
/// holds the spring-forward change (Sunday 2026-03-08).
const FRIDAY_AFTERNOON: &str = "2026-03-06T20:10:00Z";

#[test]
fn trading_fires_every_quarter_hour_in_market_hours_then_monday_after_the_change() {
    let trading = cron("*/15 9-15 * * 1-5", "America/New_York");
    let times = trading.next_fire_times(utc(FRIDAY_AFTERNOON), 10);
    assert_eq!(
        rfc3339(&times),
        [
            // Friday 15:15, 15:30, 15:45 EST (UTC-5).
            "2026-03-06T20:15:00Z",
            "2026-03-06T20:30:00Z",
            "2026-03-06T20:45:00Z",
            // Monday 09:00 EDT (UTC-4), after the weekend's change.
            "2026-03-09T13:00:00Z",
            "2026-03-09T13:15:00Z",
            "2026-03-09T13:30:00Z",
            "2026-03-09T13:45:00Z",
            "2026-03-09T14:00:00Z",
            "2026-03-09T14:15:00Z",
            "2026-03-09T14:30:00Z",
        ]
    );
}

#[test]
fn the_close_schedule_fires_at_16_00_new_york_on_weekdays() {
    let close = cron("0 16 * * 1-5", "America/New_York");
    let times = close.next_fire_times(utc(FRIDAY_AFTERNOON), 10);
    assert_eq!(
        rfc3339(&times),
        [
            "2026-03-06T21:00:00Z",
            "2026-03-09T20:00:00Z",
            "2026-03-10T20:00:00Z",
            "2026-03-11T20:00:00Z",
            "2026-03-12T20:00:00Z",
            "2026-03-13T20:00:00Z",
            "2026-03-16T20:00:00Z",
            "2026-03-17T20:00:00Z",
            "2026-03-18T20:00:00Z",
            "2026-03-19T20:00:00Z",
        ]
    );
}

#[test]
fn data_refresh_fires_every_four_minutes_on_the_anchor_grid() {
    let refresh = Schedule::from_fields(None, Some(240), None, None, "UTC").unwrap();
    let times = refresh.next_fire_times(utc("2026-03-06T20:10:30Z"), 10);
    let expected: Vec<String> = (0..10)
        .map(|i| {
            let t = utc("2026-03-06T20:12:00Z") + chrono::TimeDelta::minutes(4 * i);
            t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
        })
        .collect();
    assert_eq!(rfc3339(&times), expected);
}

#[test]
fn retraining_fires_daily_at_two_new_york_time_and_once_on_the_spring_forward_day() {
    let retraining = cron("0 2 * * *", "America/New_York");
    let times = retraining.next_fire_times(utc(FRIDAY_AFTERNOON), 10);
    assert_eq!(
        rfc3339(&times),
        [
            "2026-03-07T07:00:00Z", // Saturday 02:00 EST
            "2026-03-08T07:00:00Z", // Sunday: 02:00 does not exist, runs at 03:00 EDT
            "2026-03-09T06:00:00Z", // Monday 02:00 EDT
            "2026-03-10T06:00:00Z",
            "2026-03-11T06:00:00Z",
            "2026-03-12T06:00:00Z",
            "2026-03-13T06:00:00Z",
            "2026-03-14T06:00:00Z",
            "2026-03-15T06:00:00Z",
            "2026-03-16T06:00:00Z",
        ]
    );
}

#[test]
fn data_collection_rrule_fires_daily_at_its_hour() {
    let collection = Schedule::from_fields(
        None,
        None,
        None,
        Some("FREQ=DAILY;BYHOUR=0;BYMINUTE=5"),
        "UTC",
    )
    .unwrap();
    let times = collection.next_fire_times(utc(FRIDAY_AFTERNOON), 10);
    let expected: Vec<String> = (0..10)
        .map(|i| {
            let t = utc("2026-03-07T00:05:00Z") + chrono::TimeDelta::days(i);
            t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
        })
        .collect();
    assert_eq!(rfc3339(&times), expected);
}

#[test]
fn the_market_window_never_fires_on_a_weekend_or_after_15_45() {
    let trading = cron("*/15 9-15 * * 1-5", "America/New_York");
    // Four weeks, across the spring-forward change.
    let times = trading.fire_times_between(
        utc("2026-02-28T00:00:00Z"),
        utc("2026-03-28T00:00:00Z"),
        10_000,
    );
    assert_eq!(times.len(), 20 * 28, "28 slots on each of 20 weekdays");
    for time in &times {
        let local = time.with_timezone(&New_York);
        assert!(
            !matches!(local.weekday(), Weekday::Sat | Weekday::Sun),
            "fires on a weekend: {local}"
        );
        assert!((9..=15).contains(&local.hour()), "outside 09-15: {local}");
        assert!(local.minute() % 15 == 0 && local.second() == 0, "{local}");
        assert!(
            !(local.hour() == 16 && local.minute() == 15),
            "fires at 16:15: {local}"
        );
    }
    let saturday = New_York.with_ymd_and_hms(2026, 3, 7, 0, 0, 0).unwrap();
    let sunday_night = New_York.with_ymd_and_hms(2026, 3, 8, 23, 59, 59).unwrap();
    assert!(
        trading
            .fire_times_between(
                saturday.with_timezone(&Utc),
                sunday_night.with_timezone(&Utc),
                10
            )
            .is_empty()
    );
}

#[test]
fn six_field_crons_have_seconds_first() {
    let every_ten_seconds = cron("*/10 * * * * *", "UTC");
    let times = every_ten_seconds.next_fire_times(utc("2026-01-01T00:00:03Z"), 3);
    assert_eq!(
        rfc3339(&times),
        [
            "2026-01-01T00:00:10Z",
            "2026-01-01T00:00:20Z",
            "2026-01-01T00:00:30Z"
        ]
    );
}

#[test]
fn fire_times_are_strictly_after_a_sub_second_instant() {
    let minutely = cron("* * * * *", "UTC");
    let after = utc("2026-01-01T00:01:00.250Z");
    assert_eq!(
        minutely.next_after(after),
        Some(utc("2026-01-01T00:02:00Z"))
    );
    assert_eq!(
        minutely.next_after(utc("2026-01-01T00:00:59.999Z")),
        Some(utc("2026-01-01T00:01:00Z"))
    );
}

#[test]
fn fire_times_between_keeps_the_newest_when_capped() {
    let hourly = cron("0 * * * *", "UTC");
    let times =
        hourly.fire_times_between(utc("2026-01-01T00:00:00Z"), utc("2026-01-01T10:00:00Z"), 3);
    assert_eq!(
        rfc3339(&times),
        [
            "2026-01-01T08:00:00Z",
            "2026-01-01T09:00:00Z",
            "2026-01-01T10:00:00Z"
        ]
    );
}

#[test]
fn interval_anchors_may_carry_an_offset_or_be_local() {
    let local = Schedule::from_fields(
        None,
        Some(3600),
        Some("2026-01-01T00:30:00"),
        None,
        "America/New_York",
    )
    .unwrap();
    assert_eq!(
        local.next_after(utc("2026-01-10T12:00:00Z")),
        Some(utc("2026-01-10T12:30:00Z"))
    );
    let offset = Schedule::from_fields(
        None,
        Some(3600),
        Some("2026-01-01T00:10:00+01:00"),
        None,
        "UTC",
    )
    .unwrap();
    assert_eq!(
        offset.next_after(utc("2026-01-10T12:00:00Z")),
        Some(utc("2026-01-10T12:10:00Z"))
    );
}

fn error(result: Result<Schedule>) -> (&'static str, String) {
    match result {
        Err(Error::InvalidSchedule { field, message }) => (field, message),
        other => panic!("expected an InvalidSchedule error, got {other:?}"),
    }
}

#[test]
fn bad_crons_are_refused_with_the_expected_shape() {
    let (field, message) = error(Schedule::from_fields(
        Some("*/15 25 * * *"),
        None,
        None,
        None,
        "UTC",
    ));
    assert_eq!(field, "cron");
    assert!(
        message.starts_with("`cron` \"*/15 25 * * *\" is not a valid cron expression:"),
        "{message}"
    );
    assert!(message.contains("e.g. \"*/15 9-15 * * 1-5\""), "{message}");
    let (_, message) = error(Schedule::from_fields(
        Some("* * * *"),
        None,
        None,
        None,
        "UTC",
    ));
    assert!(message.contains("it has 4 fields"), "{message}");
    let (_, message) = error(Schedule::from_fields(
        Some("0 0 0 * * * 2030"),
        None,
        None,
        None,
        "UTC",
    ));
    assert!(message.contains("it has 7 fields"), "{message}");
}

#[test]
fn unknown_time_zones_are_refused_with_a_suggestion() {
    let (field, message) = error(Schedule::from_fields(
        Some("0 9 * * *"),
        None,
        None,
        None,
        "America/NewYork",
    ));
    assert_eq!(field, "timezone");
    assert!(
        message.starts_with(
            "`timezone` \"America/NewYork\" is not an IANA time zone \
             (did you mean \"America/New_York\""
        ),
        "{message}"
    );
}

#[test]
fn bad_rules_are_refused() {
    let (field, message) = error(Schedule::from_fields(
        None,
        None,
        None,
        Some("FREQ=FORTNIGHTLY"),
        "UTC",
    ));
    assert_eq!(field, "rrule");
    assert!(
        message.starts_with("`rrule` \"FREQ=FORTNIGHTLY\" is not a valid recurrence rule:"),
        "{message}"
    );
    let (_, message) = error(Schedule::from_fields(
        None,
        None,
        None,
        Some("FREQ=MINUTELY;INTERVAL=5"),
        "UTC",
    ));
    assert!(
        message.contains("use `interval_seconds` or `cron`"),
        "{message}"
    );
    let (_, message) = error(Schedule::from_fields(
        None,
        None,
        None,
        Some("DTSTART:20260101T000000Z\nRRULE:FREQ=DAILY"),
        "UTC",
    ));
    assert!(
        message.contains("DTSTART is given with `anchor`"),
        "{message}"
    );
}

#[test]
fn an_rrule_prefix_and_an_anchor_are_accepted() {
    let rule = Schedule::from_fields(
        None,
        None,
        Some("2026-01-05T09:30:00"),
        Some("RRULE:FREQ=WEEKLY;INTERVAL=2"),
        "Europe/London",
    )
    .unwrap();
    // Every other Monday from 2026-01-05 09:30 London (GMT).
    assert_eq!(
        rfc3339(&rule.next_fire_times(utc("2026-01-06T00:00:00Z"), 2)),
        ["2026-01-19T09:30:00Z", "2026-02-02T09:30:00Z"]
    );
    assert_eq!(
        rule.describe(),
        "rrule \"FREQ=WEEKLY;INTERVAL=2\" in Europe/London"
    );
}

#[test]
fn descriptions_name_the_kind_and_zone() {
    assert_eq!(
        cron("*/15 9-15 * * 1-5", "America/New_York").describe(),
        "cron \"*/15 9-15 * * 1-5\" in America/New_York"
    );
    let interval = Schedule::from_fields(None, Some(240), None, None, "UTC").unwrap();
    assert_eq!(
        interval.describe(),
        "every 240s from 2026-01-01T00:00:00 in UTC"
    );
}

#[test]
fn a_cron_that_can_never_fire_is_refused_with_the_reason() {
    let parse = |expr: &str| Schedule::from_fields(Some(expr), None, None, None, "UTC");
    let error = parse("0 0 30 2 *").unwrap_err().to_string();
    assert!(error.contains("never fires"), "{error}");
    assert!(error.contains("30 February"), "{error}");
    assert!(parse("0 0 31 4 *").is_err(), "31 April");
    // Rare but real dates are accepted.
    parse("0 0 29 2 *").unwrap();
    parse("0 0 31 * *").unwrap();
}
