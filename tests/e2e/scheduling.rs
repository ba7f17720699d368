//! Schedules as a user drives them: deploy/orch.toml's sentinel schedules,
//! `orch deployment upcoming` in New York time, the scheduler making runs,
//! schedule commands, and tag concurrency limits.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use orch_e2e::{TestServer, deployment_toml, flow_program};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);

fn repo_deploy_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/orch.toml")
}

/// Waits (bounded) until `deployment` has at least `count` runs; returns them.
fn wait_for_runs(server: &TestServer, deployment: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let runs = server.json(&[
            "flow-run",
            "ls",
            "--deployment",
            deployment,
            "--limit",
            "500",
        ]);
        let runs = runs.as_array().cloned().unwrap_or_default();
        if runs.len() >= count {
            return runs;
        }
        assert!(
            Instant::now() < deadline,
            "{deployment} has {} runs after {WAIT:?}, expected {count}",
            runs.len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_sentinel_deployments_show_their_upcoming_runs_in_new_york_time() {
    let server = TestServer::start();
    server.ok(&["work-pool", "create", "sentinel-pool"]);
    server.ok(&["deploy", repo_deploy_file().to_str().unwrap()]);

    let upcoming = server.json(&[
        "deployment",
        "upcoming",
        "trading-flow/trading-production",
        "-n",
        "40",
    ]);
    let runs = upcoming["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 40);
    for run in runs {
        assert_eq!(run["timezone"], "America/New_York");
        let local = chrono_like(run["local"].as_str().unwrap());
        let utc = chrono_like(run["utc"].as_str().unwrap());
        assert_eq!(local.instant, utc.instant, "{run}");
        assert!(
            local.offset == "-05:00" || local.offset == "-04:00",
            "New York offsets only: {run}"
        );
        assert!(
            (1..=5).contains(&local.weekday),
            "Monday to Friday only: {run}"
        );
        let minutes = local.hour * 60 + local.minute;
        assert!(
            (9 * 60..=16 * 60).contains(&minutes) && local.minute.is_multiple_of(15),
            "09:00 to 16:00 every 15 minutes: {run}"
        );
        let slug = run["schedule"].as_str().unwrap();
        assert_eq!(slug == "close", minutes == 16 * 60, "{run}");
    }
    let times: Vec<&str> = runs.iter().map(|r| r["utc"].as_str().unwrap()).collect();
    assert!(
        times.windows(2).all(|w| w[0] < w[1]),
        "soonest first: {times:?}"
    );

    let table = server.ok(&["deployment", "upcoming", "trading-flow/trading-production"]);
    assert!(table.contains("America/New_York"), "{table}");
    assert!(
        table.contains(" EST") || table.contains(" EDT"),
        "local times carry the zone: {table}"
    );
    assert!(table.contains(" UTC"), "{table}");

    // The scheduler has filled the schedules ahead: 3 runs each at least.
    let trading = wait_for_runs(&server, "trading-flow/trading-production", 6);
    assert!(trading.iter().all(|r| r["state"]["type"] == "SCHEDULED"));
    let refresh = wait_for_runs(&server, "data-refresh-flow/data-refresh-production", 15);
    assert!(
        refresh.len() <= 16,
        "an hour of 4-minute slots: {}",
        refresh.len()
    );
    let manual = server.json(&[
        "flow-run",
        "ls",
        "--deployment",
        "full-system-flow/full-system-production",
    ]);
    assert_eq!(manual.as_array().unwrap().len(), 0, "no schedule, no runs");

    assert!(trading.iter().all(|r| r["schedule"].is_string()));

    // A restart and deploying the same file again make no second run of any slot.
    let mut server = server;
    server.restart();
    server.ok(&["deploy", repo_deploy_file().to_str().unwrap()]);
    let again = wait_for_runs(&server, "trading-flow/trading-production", trading.len());
    let mut slots: Vec<(String, String)> = again
        .iter()
        .map(|r| {
            (
                r["schedule"].as_str().unwrap().to_owned(),
                r["expected_start"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let count = slots.len();
    slots.sort();
    slots.dedup();
    assert_eq!(slots.len(), count, "one run per slot: {again:#?}");
}

/// The parts of an RFC 3339 time this test looks at.
struct Parsed {
    instant: i64,
    offset: String,
    weekday: u32,
    hour: u32,
    minute: u32,
}

/// Parses `YYYY-MM-DDTHH:MM:SS(Z|±HH:MM)` without a date library.
fn chrono_like(text: &str) -> Parsed {
    let (date, rest) = text.split_once('T').unwrap();
    let mut date = date.split('-').map(|p| p.parse::<i64>().unwrap());
    let (y, m, d) = (
        date.next().unwrap(),
        date.next().unwrap(),
        date.next().unwrap(),
    );
    let (time, offset) = if let Some(time) = rest.strip_suffix('Z') {
        (time, "+00:00".to_owned())
    } else {
        let at = rest.rfind(['+', '-']).unwrap();
        (&rest[..at], rest[at..].to_owned())
    };
    let mut hms = time.split(':').map(|p| p.parse::<i64>().unwrap());
    let (hour, minute, second) = (
        hms.next().unwrap(),
        hms.next().unwrap(),
        hms.next().unwrap(),
    );
    // Days since 1970-01-01 (civil from days, Howard Hinnant's algorithm).
    let (y2, m2) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * m2 + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let sign = if offset.starts_with('-') { -1 } else { 1 };
    let offset_minutes =
        sign * (offset[1..3].parse::<i64>().unwrap() * 60 + offset[4..6].parse::<i64>().unwrap());
    let local_seconds = days * 86_400 + hour * 3600 + minute * 60 + second;
    Parsed {
        instant: local_seconds - offset_minutes * 60,
        offset,
        // 1970-01-01 was a Thursday (4); Monday is 1 .. Sunday 7.
        weekday: ((days + 3).rem_euclid(7) + 1) as u32,
        hour: hour as u32,
        minute: minute as u32,
    }
}

#[test]
fn schedules_can_be_listed_created_paused_resumed_and_deleted() {
    let server = TestServer::start();
    let toml = deployment_toml("f", "n", "pool", &[&flow_program("echo.sh")], "");
    let _dir = server.deploy("pool", &toml);

    let bad = server.run(&[
        "deployment",
        "schedule",
        "create",
        "f/n",
        "--cron",
        "*/15 25 * * *",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("is not a valid cron expression"),
        "{stderr}"
    );

    server.ok(&[
        "deployment",
        "schedule",
        "create",
        "f/n",
        "--interval-seconds",
        "600",
        "--slug",
        "ten",
        "--timezone",
        "Europe/London",
        "--param",
        "depth=3",
    ]);
    let schedules = server.json(&["deployment", "schedule", "ls", "f/n"]);
    assert_eq!(schedules[0]["slug"], "ten");
    assert_eq!(schedules[0]["interval_seconds"], 600);
    assert_eq!(schedules[0]["parameters"]["depth"], 3);
    let runs = wait_for_runs(&server, "f/n", 6);
    assert_eq!(runs[0]["parameters"]["depth"], 3);

    server.ok(&["deployment", "schedule", "pause", "f/n", "ten"]);
    let runs = server.json(&["flow-run", "ls", "--deployment", "f/n"]);
    assert_eq!(runs.as_array().unwrap().len(), 0, "paused: waiting runs go");
    let upcoming = server.json(&["deployment", "upcoming", "f/n"]);
    assert_eq!(upcoming["runs"].as_array().unwrap().len(), 0);

    server.ok(&["deployment", "schedule", "resume", "f/n", "ten"]);
    wait_for_runs(&server, "f/n", 6);
    let missing = server.run(&["deployment", "schedule", "delete", "f/n", "tne"]);
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("did you mean \"ten\""), "{stderr}");
    server.ok(&["deployment", "schedule", "delete", "f/n", "ten"]);
    let runs = server.json(&["flow-run", "ls", "--deployment", "f/n"]);
    assert_eq!(runs.as_array().unwrap().len(), 0);
}

#[test]
fn tag_concurrency_limits_are_managed_from_the_command_line() {
    let server = TestServer::start();
    server.ok(&["concurrency-limit", "create", "database", "2"]);
    server.ok(&["concurrency-limit", "create", "database", "1"]);
    let limits = server.json(&["concurrency-limit", "ls"]);
    assert_eq!(limits[0]["tag"], "database");
    assert_eq!(limits[0]["limit"], 1);
    assert_eq!(limits[0]["active_slots"], 0);
    let detail = server.json(&["concurrency-limit", "inspect", "database"]);
    assert_eq!(detail["holders"].as_array().unwrap().len(), 0);
    let table = server.ok(&["concurrency-limit", "ls"]);
    assert!(table.contains("database"), "{table}");
    server.ok(&["concurrency-limit", "delete", "database"]);
    let gone = server.run(&["concurrency-limit", "inspect", "database"]);
    assert!(!gone.status.success());
    let stderr = String::from_utf8_lossy(&gone.stderr);
    assert!(
        stderr.contains("concurrency limit \"database\" not found"),
        "{stderr}"
    );
}

#[test]
fn calendars_are_listed_and_their_skipped_slots_shown() {
    let server = TestServer::start();
    let xnys = server.json(&["calendar", "show", "XNYS", "--year", "2027"]);
    let days: Vec<(String, String)> = xnys["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["date"].as_str().unwrap().to_owned(),
                d["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        days.contains(&("2027-03-26".into(), "closed".into())),
        "Good Friday: {days:?}"
    );
    assert!(
        days.contains(&("2027-11-26".into(), "early_close".into())),
        "{days:?}"
    );
    let table = server.ok(&["calendar", "show", "xnys", "--year", "2027"]);
    assert!(table.contains("Thanksgiving Day"), "{table}");
    assert!(table.contains("closes at 13:00"), "{table}");
    let unknown = server.run(&["calendar", "show", "XNSY"]);
    assert!(!unknown.status.success());
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        stderr.contains("unknown calendar \"XNSY\" (did you mean \"XNYS\"?)"),
        "{stderr}"
    );

    // A user calendar closing today and tomorrow (UTC): the hourly schedule
    // that follows it shows those slots as skipped, and makes no run for them.
    let today = chrono::Utc::now().date_naive();
    let tomorrow = today.succ_opt().unwrap();
    let first_open = tomorrow.succ_opt().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("days.txt"),
        format!("# closed days\n{tomorrow}\n"),
    )
    .unwrap();
    let toml = format!(
        "[[calendars]]\nname = \"plant\"\nclosed = [\"{}\"]\nfile = \"days.txt\"\n\n{}\
         [[deployments.schedules]]\nslug = \"hourly\"\ncron = \"0 * * * *\"\ncalendar = \"plant\"\n",
        today,
        deployment_toml("f", "n", "pool", &[&flow_program("echo.sh")], ""),
    );
    let path = orch_e2e::write_deploy_file(dir.path(), "orch.toml", &toml);
    server.ok(&["work-pool", "create", "pool", "--type", "process"]);
    server.ok(&["deploy", path.to_str().unwrap()]);
    let listed = server.json(&["calendar", "ls", "--file", path.to_str().unwrap()]);
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["XNYS", "plant"]);
    let upcoming = server.json(&["deployment", "upcoming", "f/n", "-n", "3", "--show-skipped"]);
    let runs = upcoming["runs"].as_array().unwrap();
    let kept: Vec<&Value> = runs.iter().filter(|r| r["skipped"].is_null()).collect();
    assert_eq!(kept.len(), 3, "{runs:#?}");
    for run in &kept {
        assert!(
            run["utc"].as_str().unwrap() >= first_open.as_str(),
            "no run before the day after tomorrow: {run}"
        );
    }
    let skipped: Vec<&Value> = runs.iter().filter(|r| r["skipped"].is_string()).collect();
    assert!(!skipped.is_empty(), "{runs:#?}");
    assert!(
        skipped
            .iter()
            .all(|r| r["skipped"] == "plant closed: closed"),
        "{skipped:#?}"
    );
    let table = server.ok(&["deployment", "upcoming", "f/n", "--show-skipped"]);
    assert!(table.contains("skipped: plant closed"), "{table}");
    let plain = server.json(&["deployment", "upcoming", "f/n", "-n", "3"]);
    assert!(
        plain["runs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r.get("skipped").is_none())
    );
    // The scheduler made no run on the closed days.
    let made = wait_for_runs(&server, "f/n", 3);
    assert!(
        made.iter()
            .all(|r| r["expected_start"].as_str().unwrap() >= first_open.as_str()),
        "{made:#?}"
    );
}

#[test]
fn upcoming_says_when_the_calendar_closes_every_slot() {
    let server = TestServer::start();
    let toml = format!(
        "[[calendars]]\nname = \"shut\"\nweekend = [\"Mon\", \"Tue\", \"Wed\", \"Thu\", \"Fri\", \"Sat\", \"Sun\"]\n\n{}\
         [[deployments.schedules]]\nslug = \"hourly\"\ncron = \"0 * * * *\"\ncalendar = \"shut\"\n",
        deployment_toml("f", "n", "pool", &[&flow_program("echo.sh")], ""),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = orch_e2e::write_deploy_file(dir.path(), "orch.toml", &toml);
    server.ok(&["work-pool", "create", "pool", "--type", "process"]);
    server.ok(&["deploy", path.to_str().unwrap()]);
    let table = server.ok(&["deployment", "upcoming", "f/n"]);
    assert!(!table.contains("no active schedule"), "{table}");
    assert!(
        table.contains(
            "1 active schedule(s), but schedule \"hourly\": calendar \"shut\" closes every slot"
        ) && table.contains("shut closed")
            && table.contains("--show-skipped"),
        "{table}"
    );
    // Without a schedule, it says so.
    server.ok(&["deployment", "schedule", "pause", "f/n", "hourly"]);
    let table = server.ok(&["deployment", "upcoming", "f/n"]);
    assert!(table.contains("no active schedule"), "{table}");
}
