//! Schedules on the XNYS calendar: the scheduler makes no run on an exchange
//! holiday nor after an early close, and a calendar added to a schedule
//! takes the runs made for its closed days with it.

use std::time::Duration;

use crate::common::{Harness, starts};

/// Wednesday 2026-11-25 15:10 in New York (EST, UTC-5), the day before Thanksgiving.
const BEFORE_THANKSGIVING: &str = "2026-11-25T20:10:00Z";

fn trading(calendar: &str) -> String {
    format!(
        r#"
[[deployments]]
flow = "trading-flow"
name = "trading-production"
entrypoint = ["sentinel", "trading-flow"]
work_pool = "sentinel-pool"
catch_up = "skip"

[[deployments.schedules]]
slug = "market-hours"
cron = "*/15 9-15 * * 1-5"
timezone = "America/New_York"
{calendar}

[[deployments.schedules]]
slug = "close"
cron = "0 16 * * 1-5"
timezone = "America/New_York"
{calendar}
"#
    )
}

#[tokio::test]
async fn no_run_on_thanksgiving_nor_after_the_early_close() {
    let harness = Harness::start(BEFORE_THANKSGIVING, "sentinel-pool").await;
    harness.deploy(&trading("calendar = \"XNYS\"")).await;
    harness.schedule().await;
    let runs = harness.runs("trading-flow/trading-production").await;
    assert_eq!(
        starts(&runs),
        [
            "2026-11-25T20:15:00Z", // Wednesday 15:15, 15:30, 15:45, 16:00 ET
            "2026-11-25T20:30:00Z",
            "2026-11-25T20:45:00Z",
            "2026-11-25T21:00:00Z",
            // Thursday: Thanksgiving. Friday: closes at 13:00, no 16:00.
            "2026-11-30T21:00:00Z", // close: Monday and Tuesday 16:00
            "2026-12-01T21:00:00Z",
        ]
    );

    // Friday 12:40 ET: 12:45 and 13:00, then Monday.
    harness.advance(Duration::from_secs((45 * 60 + 30) * 60));
    harness.schedule().await;
    let runs = harness.runs("trading-flow/trading-production").await;
    let friday: Vec<String> = starts(&runs)
        .into_iter()
        .filter(|t| t.starts_with("2026-11-27"))
        .collect();
    assert_eq!(friday, ["2026-11-27T17:45:00Z", "2026-11-27T18:00:00Z"]);
    assert!(
        starts(&runs).contains(&"2026-11-30T14:00:00Z".to_owned()),
        "Monday 09:00 ET"
    );
}

#[tokio::test]
async fn adding_the_calendar_removes_the_runs_of_closed_days() {
    // Wednesday 2026-11-25 22:00 ET: the next slots are Thursday's.
    let harness = Harness::start("2026-11-26T03:00:00Z", "sentinel-pool").await;
    harness.deploy(&trading("")).await;
    harness.schedule().await;
    let before = starts(&harness.runs("trading-flow/trading-production").await);
    assert!(
        before.iter().any(|t| t.starts_with("2026-11-26")),
        "{before:?}"
    );

    harness.deploy(&trading("calendar = \"XNYS\"")).await;
    harness.schedule().await;
    let after = starts(&harness.runs("trading-flow/trading-production").await);
    assert!(
        !after.iter().any(|t| t.starts_with("2026-11-26")),
        "{after:?}"
    );
    assert_eq!(after[0], "2026-11-27T14:00:00Z", "Friday 09:00 ET");
    let deployment = harness
        .store()
        .deployments()
        .deployment("trading-flow/trading-production")
        .await
        .unwrap();
    assert_eq!(
        deployment.schedules[0]
            .calendar
            .as_ref()
            .map(|c| c.name.as_str()),
        Some("XNYS")
    );
}
