//! Schedules that follow a calendar: the trading schedules on XNYS around
//! Thanksgiving 2026.

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::America::New_York;

use super::tests::{cron, utc};
use super::*;
use crate::calendar::Calendar;
use crate::policy::RunPolicy;

fn local(times: &[DateTime<Utc>]) -> Vec<String> {
    times
        .iter()
        .map(|t| t.with_timezone(&New_York).format("%m-%d %H:%M").to_string())
        .collect()
}

fn trading() -> Schedule {
    cron("*/15 9-15 * * 1-5", "America/New_York").with_calendar(Calendar::xnys(), true)
}

fn close() -> Schedule {
    cron("0 16 * * 1-5", "America/New_York").with_calendar(Calendar::xnys(), true)
}

/// Wednesday 2026-11-25 15:30 New York (EST, UTC-5).
const BEFORE_THANKSGIVING: &str = "2026-11-25T20:30:00Z";

#[test]
fn the_trading_schedule_skips_thanksgiving_and_the_afternoon_after() {
    let times = trading().next_fire_times(utc(BEFORE_THANKSGIVING), 20);
    let shown = local(&times);
    assert_eq!(&shown[..3], ["11-25 15:45", "11-27 09:00", "11-27 09:15"]);
    assert!(!shown.iter().any(|t| t.starts_with("11-26")), "{shown:?}");
    // Friday 2026-11-27 closes at 13:00: 13:00 is the last slot, then Monday.
    let friday: Vec<&String> = shown.iter().filter(|t| t.starts_with("11-27")).collect();
    assert_eq!(friday.last().unwrap().as_str(), "11-27 13:00");
    assert_eq!(friday.len(), 17, "09:00 ... 13:00 every 15 minutes");
    assert_eq!(shown[18], "11-30 09:00");
}

#[test]
fn the_scheduler_creates_no_slot_on_thanksgiving_nor_after_the_early_close() {
    let horizon = Horizon {
        min_runs: 200,
        min_ahead: TimeDelta::days(7),
        max_runs: 1000,
        max_lookback: TimeDelta::days(7),
    };
    let mut slots = Vec::new();
    for schedule in [trading(), close()] {
        let plan = plan_slots(
            &schedule,
            &RunPolicy::default(),
            utc("2026-11-25T12:00:00Z"),
            None,
            TimeDelta::seconds(15),
            &horizon,
        );
        slots.extend(plan.slots);
    }
    let shown = local(&slots);
    assert!(!shown.iter().any(|t| t.starts_with("11-26")), "{shown:?}");
    let late_friday: Vec<&String> = shown
        .iter()
        .filter(|t| t.starts_with("11-27") && t.as_str() > "11-27 13:00")
        .collect();
    assert!(late_friday.is_empty(), "{late_friday:?}");
    assert!(
        shown.contains(&"11-25 16:00".to_owned()),
        "a regular close still runs"
    );
    assert!(shown.contains(&"11-30 16:00".to_owned()));
}

#[test]
fn missed_slots_on_closed_days_are_not_replayed() {
    let plan = plan_slots(
        &trading(),
        &RunPolicy {
            catch_up: crate::policy::CatchUp::All,
            ..RunPolicy::default()
        },
        utc("2026-11-27T14:05:00Z"),
        Some(utc("2026-11-25T20:00:00Z")),
        TimeDelta::hours(100),
        &Horizon::default(),
    );
    let shown = local(&plan.slots);
    assert_eq!(shown[0], "11-25 15:15");
    assert!(!shown.iter().any(|t| t.starts_with("11-26")), "{shown:?}");
}

#[test]
fn opting_out_keeps_the_slots_after_an_early_close() {
    let schedule =
        cron("*/15 9-15 * * 1-5", "America/New_York").with_calendar(Calendar::xnys(), false);
    let times = schedule.next_fire_times(utc("2026-11-27T17:50:00Z"), 12);
    assert_eq!(local(&times)[..2], ["11-27 13:00", "11-27 13:15"]);
}

#[test]
fn upcoming_lists_skipped_slots_with_their_reason() {
    let slots = trading().upcoming(utc(BEFORE_THANKSGIVING), 2, true);
    let shown: Vec<(String, Option<String>)> = slots
        .iter()
        .map(|slot| (local(&[slot.time])[0].clone(), slot.skipped.clone()))
        .collect();
    assert_eq!(shown[0], ("11-25 15:45".into(), None));
    assert_eq!(
        shown[1],
        (
            "11-26 09:00".into(),
            Some("XNYS closed: Thanksgiving Day".into())
        )
    );
    assert_eq!(
        shown.iter().filter(|(_, s)| s.is_some()).count(),
        2,
        "{shown:?}"
    );
    assert_eq!(shown.last().unwrap(), &("11-27 09:00".into(), None));
}

#[test]
fn a_schedule_on_closed_days_only_ends() {
    // Christmas Day, every year: XNYS is always closed.
    let schedule = cron("0 12 25 12 *", "America/New_York").with_calendar(Calendar::xnys(), true);
    assert_eq!(schedule.next_after(utc("2026-01-01T00:00:00Z")), None);
}

#[test]
fn interval_schedules_skip_weekends_and_holidays() {
    let schedule = Schedule::from_fields(
        None,
        Some(3600),
        Some("2026-01-01T00:00:00"),
        None,
        "America/New_York",
    )
    .unwrap()
    .with_calendar(Calendar::xnys(), true);
    // Saturday 2026-11-28 00:30 local: next is Monday 00:00.
    let next = schedule.next_after(utc("2026-11-28T05:30:00Z")).unwrap();
    assert_eq!(local(&[next]), ["11-30 00:00"]);
}
