//! Daylight saving changes in New York and Europe: no duplicate and no
//! missing slot, over real zone data.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;

use super::Schedule;
use super::tests::{cron, utc};

/// Slots of `schedule` from `from` to `to` (UTC).
fn slots(schedule: &Schedule, from: &str, to: &str) -> Vec<DateTime<Utc>> {
    schedule.fire_times_between(utc(from), utc(to), 100_000)
}

/// Each slot is exactly `step` after the one before: nothing repeats, nothing is lost.
fn assert_evenly_spaced(times: &[DateTime<Utc>], step: TimeDelta, expected_count: usize) {
    assert_eq!(times.len(), expected_count, "{times:?}");
    for pair in times.windows(2) {
        assert_eq!(pair[1] - pair[0], step, "{} -> {}", pair[0], pair[1]);
    }
}

/// Local dates of `times` in `tz`, one per slot.
fn local_dates(times: &[DateTime<Utc>], tz: Tz) -> Vec<NaiveDate> {
    times
        .iter()
        .map(|t| t.with_timezone(&tz).date_naive())
        .collect()
}

fn days(from: (i32, u32, u32), count: i64) -> Vec<NaiveDate> {
    let first = NaiveDate::from_ymd_opt(from.0, from.1, from.2).unwrap();
    (0..count).map(|i| first + TimeDelta::days(i)).collect()
}

/// The DST weekends checked, with a window around each change (UTC).
const WEEKENDS: [(&str, &str, &str); 6] = [
    // New York: 2026-03-08 02:00 EST -> 03:00 EDT.
    (
        "America/New_York",
        "2026-03-07T00:00:00Z",
        "2026-03-10T00:00:00Z",
    ),
    // New York: 2026-11-01 02:00 EDT -> 01:00 EST.
    (
        "America/New_York",
        "2026-10-31T00:00:00Z",
        "2026-11-03T00:00:00Z",
    ),
    // London: 2026-03-29 01:00 GMT -> 02:00 BST.
    (
        "Europe/London",
        "2026-03-28T00:00:00Z",
        "2026-03-31T00:00:00Z",
    ),
    // London: 2026-10-25 02:00 BST -> 01:00 GMT.
    (
        "Europe/London",
        "2026-10-24T00:00:00Z",
        "2026-10-27T00:00:00Z",
    ),
    // Berlin: 2026-03-29 02:00 CET -> 03:00 CEST.
    (
        "Europe/Berlin",
        "2026-03-28T00:00:00Z",
        "2026-03-31T00:00:00Z",
    ),
    // Berlin: 2026-10-25 03:00 CEST -> 02:00 CET.
    (
        "Europe/Berlin",
        "2026-10-24T00:00:00Z",
        "2026-10-27T00:00:00Z",
    ),
];

#[test]
fn quarter_hour_crons_stay_fifteen_real_minutes_apart_across_every_change() {
    for (zone, from, to) in WEEKENDS {
        let schedule = cron("*/15 * * * *", zone);
        let times = slots(&schedule, from, to);
        // 3 days of 96 quarter hours, the first at from + 15 min.
        assert_evenly_spaced(&times, TimeDelta::minutes(15), 3 * 96);
    }
}

#[test]
fn hourly_crons_fire_once_per_real_hour_across_every_change() {
    for (zone, from, to) in WEEKENDS {
        let times = slots(&cron("0 * * * *", zone), from, to);
        assert_evenly_spaced(&times, TimeDelta::hours(1), 72);
    }
}

#[test]
fn four_minute_intervals_are_unaffected_by_every_change() {
    for (zone, from, to) in WEEKENDS {
        let schedule = Schedule::from_fields(None, Some(240), None, None, zone).unwrap();
        let times = slots(&schedule, from, to);
        assert_evenly_spaced(&times, TimeDelta::minutes(4), 3 * 24 * 15);
    }
}

/// A daily job at a wall-clock time inside the changed hour fires exactly
/// once on each local day, including the change day.
fn assert_once_a_day(
    schedule: &Schedule,
    zone: &str,
    from: &str,
    to: &str,
    first_day: (i32, u32, u32),
) {
    let tz: Tz = zone.parse().unwrap();
    let times = slots(schedule, from, to);
    assert_eq!(
        local_dates(&times, tz),
        days(first_day, 3),
        "{zone}: {times:?}"
    );
}

#[test]
fn daily_crons_inside_the_changed_hour_fire_once_each_day() {
    // Times that are skipped in spring or repeated in autumn in each zone.
    let cases = [
        ("America/New_York", "30 2 * * *", 0),
        ("America/New_York", "30 1 * * *", 1),
        ("Europe/London", "30 1 * * *", 2),
        ("Europe/London", "30 1 * * *", 3),
        ("Europe/Berlin", "30 2 * * *", 4),
        ("Europe/Berlin", "30 2 * * *", 5),
    ];
    for (zone, expr, weekend) in cases {
        let (_, from, to) = WEEKENDS[weekend];
        let first_day = match weekend {
            0 => (2026, 3, 7),
            1 => (2026, 10, 31),
            2 | 4 => (2026, 3, 28),
            _ => (2026, 10, 24),
        };
        // Windows start at 00:00 UTC, which is the previous evening in New
        // York: start them at 04:00 UTC there (midnight EDT, 23:00 EST).
        let shift = |t: &str| {
            if zone == "America/New_York" {
                t.replace("T00:", "T04:")
            } else {
                t.to_owned()
            }
        };
        let (from, to) = (shift(from), shift(to));
        assert_once_a_day(&cron(expr, zone), zone, &from, &to, first_day);
    }
}

#[test]
fn a_skipped_fixed_time_runs_right_after_the_gap_and_a_repeated_one_runs_first() {
    // New York spring: 02:30 does not exist on 2026-03-08; it runs at 03:00 EDT.
    let spring = slots(
        &cron("30 2 * * *", "America/New_York"),
        "2026-03-08T05:00:00Z",
        "2026-03-08T12:00:00Z",
    );
    assert_eq!(spring, [utc("2026-03-08T07:00:00Z")]);
    // New York autumn: 01:30 happens twice on 2026-11-01; it runs at the first (EDT).
    let autumn = slots(
        &cron("30 1 * * *", "America/New_York"),
        "2026-11-01T04:00:00Z",
        "2026-11-01T12:00:00Z",
    );
    assert_eq!(autumn, [utc("2026-11-01T05:30:00Z")]);
}

#[test]
fn whole_day_intervals_keep_their_wall_clock_time_across_the_changes() {
    let daily = Schedule::from_fields(
        None,
        Some(86_400),
        Some("2026-01-01T02:30:00"),
        None,
        "America/New_York",
    )
    .unwrap();
    let spring = slots(&daily, "2026-03-07T00:00:00Z", "2026-03-10T00:00:00Z");
    assert_eq!(
        spring,
        [
            utc("2026-03-07T07:30:00Z"), // 02:30 EST
            utc("2026-03-08T07:30:00Z"), // 02:30 does not exist: 03:30 EDT
            utc("2026-03-09T06:30:00Z"), // 02:30 EDT
        ]
    );
    let repeated = Schedule::from_fields(
        None,
        Some(86_400),
        Some("2026-01-01T01:30:00"),
        None,
        "America/New_York",
    )
    .unwrap();
    let autumn = slots(&repeated, "2026-10-31T00:00:00Z", "2026-11-03T00:00:00Z");
    assert_eq!(
        autumn,
        [
            utc("2026-10-31T05:30:00Z"), // 01:30 EDT
            utc("2026-11-01T05:30:00Z"), // first 01:30 (EDT), not the second (EST)
            utc("2026-11-02T06:30:00Z"), // 01:30 EST
        ]
    );
}

#[test]
fn daily_rrules_fire_once_each_day_across_the_changes() {
    for (zone, weekend, first_day) in [
        ("America/New_York", 0, (2026, 3, 7)),
        ("America/New_York", 1, (2026, 10, 31)),
        ("Europe/Berlin", 4, (2026, 3, 28)),
        ("Europe/Berlin", 5, (2026, 10, 24)),
    ] {
        let (_, from, to) = WEEKENDS[weekend];
        let rule = Schedule::from_fields(
            None,
            None,
            None,
            Some("FREQ=DAILY;BYHOUR=2;BYMINUTE=30"),
            zone,
        )
        .unwrap();
        let shift = |t: &str| {
            if zone == "America/New_York" {
                t.replace("T00:", "T04:")
            } else {
                t.to_owned()
            }
        };
        assert_once_a_day(&rule, zone, &shift(from), &shift(to), first_day);
    }
}

#[test]
fn hourly_rrules_never_repeat_an_instant_across_the_changes() {
    for (zone, from, to) in WEEKENDS {
        let rule = Schedule::from_fields(None, None, None, Some("FREQ=HOURLY"), zone).unwrap();
        let times = slots(&rule, from, to);
        for pair in times.windows(2) {
            assert!(pair[0] < pair[1], "{zone}: {} then {}", pair[0], pair[1]);
        }
        assert!(
            times.len() >= 71 && times.len() <= 72,
            "{zone}: {}",
            times.len()
        );
    }
}
