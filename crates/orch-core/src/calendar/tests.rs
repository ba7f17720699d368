use chrono::{NaiveDate, NaiveTime};

use super::*;

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn closed(year: i32) -> Vec<String> {
    Calendar::xnys()
        .special_days(year)
        .into_iter()
        .filter(|(_, status)| matches!(status, DayStatus::Closed { .. }))
        .map(|(day, _)| day.to_string())
        .collect()
}

fn short(year: i32) -> Vec<String> {
    Calendar::xnys()
        .special_days(year)
        .into_iter()
        .filter(|(_, status)| matches!(status, DayStatus::EarlyClose { .. }))
        .map(|(day, _)| day.to_string())
        .collect()
}

/// The exchange's published 2025 holidays (with the National Day of
/// Mourning for President Carter it announced) and early closes.
#[test]
fn xnys_2025_matches_the_published_list() {
    assert_eq!(
        closed(2025),
        [
            "2025-01-01", // New Year's Day
            "2025-01-09", // National Day of Mourning, Jimmy Carter
            "2025-01-20", // Martin Luther King Jr. Day
            "2025-02-17", // Washington's Birthday
            "2025-04-18", // Good Friday
            "2025-05-26", // Memorial Day
            "2025-06-19", // Juneteenth
            "2025-07-04", // Independence Day
            "2025-09-01", // Labor Day
            "2025-11-27", // Thanksgiving Day
            "2025-12-25", // Christmas Day
        ]
    );
    assert_eq!(short(2025), ["2025-07-03", "2025-11-28", "2025-12-24"]);
}

/// The exchange's published 2026 list: Independence Day falls on a
/// Saturday and is observed on Friday July 3, so July 2 is a full day.
#[test]
fn xnys_2026_matches_the_published_list() {
    assert_eq!(
        closed(2026),
        [
            "2026-01-01",
            "2026-01-19",
            "2026-02-16",
            "2026-04-03",
            "2026-05-25",
            "2026-06-19",
            "2026-07-03",
            "2026-09-07",
            "2026-11-26",
            "2026-12-25",
        ]
    );
    assert_eq!(short(2026), ["2026-11-27", "2026-12-24"]);
}

/// 2027: Juneteenth and Christmas fall on Saturdays (observed on the
/// Fridays before), Independence Day on a Sunday (observed Monday).
#[test]
fn xnys_2027_observes_weekend_holidays() {
    assert_eq!(
        closed(2027),
        [
            "2027-01-01",
            "2027-01-18",
            "2027-02-15",
            "2027-03-26",
            "2027-05-31",
            "2027-06-18",
            "2027-07-05",
            "2027-09-06",
            "2027-11-25",
            "2027-12-24",
        ]
    );
    // Christmas Eve is the observed holiday, so only the day after Thanksgiving is short.
    assert_eq!(short(2027), ["2027-11-26"]);
}

/// 2028: New Year's Day is a Saturday and is not observed (the exchange
/// does not close on the last trading day of 2027).
#[test]
fn xnys_2028_does_not_observe_a_saturday_new_year() {
    assert!(Calendar::xnys().is_open_day(date("2027-12-31")));
    assert_eq!(
        closed(2028),
        [
            "2028-01-17",
            "2028-02-21",
            "2028-04-14",
            "2028-05-29",
            "2028-06-19",
            "2028-07-04",
            "2028-09-04",
            "2028-11-23",
            "2028-12-25",
        ]
    );
    assert_eq!(short(2028), ["2028-07-03", "2028-11-24"]);
}

#[test]
fn juneteenth_is_a_holiday_from_2022_only() {
    let xnys = Calendar::xnys();
    assert!(xnys.is_open_day(date("2021-06-18")));
    assert!(
        !xnys.is_open_day(date("2022-06-20")),
        "Sunday June 19, 2022 observed Monday"
    );
    assert!(!xnys.is_open_day(date("2023-06-19")));
}

#[test]
fn easter_is_computed_for_any_year() {
    for (year, easter) in [
        (2024, "2024-03-31"),
        (2025, "2025-04-20"),
        (2026, "2026-04-05"),
        (2027, "2027-03-28"),
        (2038, "2038-04-25"),
        (2285, "2285-03-22"),
    ] {
        assert_eq!(xnys::easter_sunday(year), date(easter), "{year}");
    }
}

#[test]
fn sessions_and_close_times() {
    let xnys = Calendar::xnys();
    let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
    assert_eq!(xnys.session(date("2026-11-25")), Some((t(9, 30), t(16, 0))));
    assert_eq!(xnys.close_time(date("2026-11-27")), Some(t(13, 0)));
    assert_eq!(xnys.close_time(date("2026-11-26")), None);
    assert_eq!(xnys.close_time(date("2026-11-28")), None, "a Saturday");
    let at = |text: &str| text.parse::<DateTime<Utc>>().unwrap();
    // 2026-11-27 is EST (UTC-5): 12:59 local is open, 13:00 is closed.
    assert!(xnys.is_open_at(at("2026-11-27T17:59:00Z")));
    assert!(!xnys.is_open_at(at("2026-11-27T18:00:00Z")));
    assert!(!xnys.is_open_at(at("2026-11-26T15:00:00Z")));
}

#[test]
fn skip_reasons_name_the_calendar_and_the_day() {
    let xnys = Calendar::xnys();
    let at = |text: &str| text.parse::<DateTime<Utc>>().unwrap();
    assert_eq!(
        xnys.skip_reason(at("2026-11-26T15:00:00Z"), true)
            .as_deref(),
        Some("XNYS closed: Thanksgiving Day")
    );
    assert_eq!(
        xnys.skip_reason(at("2026-11-27T18:15:00Z"), true)
            .as_deref(),
        Some("XNYS closes early at 13:00: Day after Thanksgiving")
    );
    assert_eq!(
        xnys.skip_reason(at("2026-11-27T18:00:00Z"), true),
        None,
        "at the close"
    );
    assert_eq!(
        xnys.skip_reason(at("2026-11-27T18:15:00Z"), false),
        None,
        "opted out"
    );
}

#[test]
fn unknown_calendars_are_refused_with_a_suggestion() {
    let error = Calendar::built_in("XNSY").unwrap_err().to_string();
    assert!(
        error.starts_with("unknown calendar \"XNSY\" (did you mean \"XNYS\"?)"),
        "{error}"
    );
    assert!(Calendar::built_in("xnys").is_ok());
}

#[test]
fn custom_calendars_close_their_dates_and_weekend() {
    let spec = CalendarSpec {
        name: "plant".into(),
        custom: Some(CustomDays {
            timezone: "Europe/London".into(),
            weekend: vec!["Sat".into(), "Sun".into()],
            closed: vec!["2026-12-25".into()],
            early_closes: [("2026-12-24".to_owned(), "12:00".to_owned())].into(),
        }),
    };
    let plant = Calendar::from_spec(&spec).unwrap();
    assert!(!plant.is_open_day(date("2026-12-25")));
    assert!(!plant.is_open_day(date("2026-12-26")));
    assert_eq!(
        plant.close_time(date("2026-12-24")),
        NaiveTime::from_hms_opt(12, 0, 0)
    );
    assert_eq!(plant.special_days(2026).len(), 2);
}

#[test]
fn malformed_custom_days_are_refused_saying_how_to_write_them() {
    let mut days = CustomDays {
        closed: vec!["2026-13-01".into()],
        ..CustomDays::default()
    };
    let spec = |days: &CustomDays| CalendarSpec {
        name: "plant".into(),
        custom: Some(days.clone()),
    };
    let error = Calendar::from_spec(&spec(&days)).unwrap_err().to_string();
    assert_eq!(
        error,
        "calendar \"plant\": \"2026-13-01\" is not a date; write dates as YYYY-MM-DD, \
         e.g. \"2026-12-24\""
    );
    days.closed.clear();
    days.early_closes.insert("2026-12-24".into(), "1pm".into());
    let error = Calendar::from_spec(&spec(&days)).unwrap_err().to_string();
    assert!(error.contains("\"1pm\" is not a time of day"), "{error}");
    let mut file = CustomDays::default();
    let error = file
        .add_file("plant", "plant.txt", "# holidays\n2026-12-25\n2026-12-32\n")
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("calendar \"plant\": plant.txt:3: "),
        "{error}"
    );
    file.add_file("plant", "plant.txt", "2026-12-24 12:30  # short\n")
        .unwrap();
    assert_eq!(file.closed, ["2026-12-25"]);
    assert_eq!(file.early_closes["2026-12-24"], "12:30");
}
