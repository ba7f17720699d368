//! `orch deployment upcoming` says why no run is coming when a schedule
//! exists: which calendar closes every slot, and the window looked at.

use chrono::NaiveDate;
use orch_e2e::{TestServer, deployment_toml, flow_program, write_deploy_file};

/// The two dates after `from ` in `text` (`from YYYY-MM-DD to YYYY-MM-DD`).
fn window(text: &str) -> (NaiveDate, NaiveDate) {
    let rest = text
        .split("closes every slot from ")
        .nth(1)
        .unwrap_or_else(|| panic!("no window in {text}"));
    let date = |s: &str| NaiveDate::parse_from_str(&s[..10], "%Y-%m-%d").unwrap();
    (date(rest), date(&rest[14..]))
}

#[test]
fn upcoming_names_the_calendar_closing_every_slot_and_the_window_looked_at() {
    let server = TestServer::start();
    let toml = format!(
        "[[calendars]]\nname = \"shut\"\nweekend = [\"Mon\", \"Tue\", \"Wed\", \"Thu\", \"Fri\", \"Sat\", \"Sun\"]\n\n{}\
         [[deployments.schedules]]\nslug = \"hourly\"\ncron = \"0 * * * *\"\ncalendar = \"shut\"\n",
        deployment_toml("f", "n", "pool", &[&flow_program("echo.sh")], ""),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = write_deploy_file(dir.path(), "orch.toml", &toml);
    server.ok(&["work-pool", "create", "pool", "--type", "process"]);
    server.ok(&["deploy", path.to_str().unwrap()]);

    let table = server.ok(&["deployment", "upcoming", "f/n"]);
    assert!(
        table.contains("schedule \"hourly\": calendar \"shut\" closes every slot from ")
            && table.contains("shut closed")
            && table.contains("--show-skipped"),
        "{table}"
    );
    let (from, until) = window(&table);
    let today = chrono::Utc::now().date_naive();
    assert!((from - today).num_days().abs() <= 1, "{table}");
    assert!((400..=401).contains(&(until - from).num_days()), "{table}");

    let json = server.json(&["deployment", "upcoming", "f/n"]);
    let reason = json["empty_reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("calendar \"shut\" closes every slot from "),
        "{json}"
    );
}
