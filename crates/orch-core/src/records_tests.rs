use serde_json::json;

use super::*;

fn state(kind: StateType, timestamp: i64) -> State {
    State {
        kind,
        name: kind.display_name().to_owned(),
        message: String::new(),
        timestamp,
    }
}

fn run(kind: StateType, start: Option<i64>, end: Option<i64>) -> FlowRun {
    FlowRun {
        id: "r1".into(),
        name: "brisk-otter".into(),
        flow: "etl".into(),
        deployment: "etl/nightly".into(),
        deployment_id: Some("d1".into()),
        work_pool: "default".into(),
        work_pool_id: Some("p1".into()),
        state: state(kind, 1_700_000_000_123_456),
        parameters: [("symbol".to_owned(), json!("GOOG"))].into_iter().collect(),
        tags: vec!["nightly".into()],
        expected_start: 1_700_000_000_000_000,
        start_time: start,
        end_time: end,
        run_count: 1,
        worker_id: None,
        worker_name: String::new(),
        exit_code: None,
        usage: None,
        trace_parent: None,
        trace_state: None,
        created_at: 1_700_000_000_000_000,
        schedule_slug: None,
        parent_flow_run_id: None,
        parent_task_run_id: None,
    }
}

fn task(result: &str, cpu_micros: Option<i64>) -> TaskRun {
    TaskRun {
        id: "t1".into(),
        flow_run_id: "r1".into(),
        name: "fetch".into(),
        tags: Vec::new(),
        state: state(StateType::Completed, 5),
        attempt: 1,
        max_retries: 0,
        start_time: Some(1_000_000),
        end_time: Some(3_500_000),
        error: String::new(),
        result: result.into(),
        upstream_ids: Vec::new(),
        history: vec![TaskRunState {
            seq: 1,
            attempt: 1,
            state: state(StateType::Running, 0),
        }],
        created_at: 7,
        cpu_micros,
    }
}

#[test]
fn a_run_prints_times_as_rfc3339_and_absent_values_as_null() {
    let value = serde_json::to_value(run(StateType::Scheduled, None, None)).unwrap();
    assert_eq!(value["expected_start"], "2023-11-14T22:13:20.000000Z");
    assert_eq!(value["state"]["type"], "SCHEDULED");
    assert_eq!(value["state"]["timestamp"], "2023-11-14T22:13:20.123456Z");
    assert_eq!(value["parameters"]["symbol"], "GOOG");
    assert_eq!(value["schedule"], serde_json::Value::Null);
    for field in [
        "worker_id",
        "worker_name",
        "start_time",
        "end_time",
        "usage",
        "parent_flow_run_id",
    ] {
        assert!(value[field].is_null(), "{field} should be null: {value}");
    }
    for hidden in [
        "work_pool_id",
        "trace_parent",
        "trace_state",
        "schedule_slug",
    ] {
        assert!(
            value.get(hidden).is_none(),
            "{hidden} is not printed: {value}"
        );
    }
}

#[test]
fn usage_prints_in_seconds() {
    let mut run = run(StateType::Completed, Some(1), Some(2));
    run.usage = Some(ResourceUsage {
        cpu_user_micros: 1_500_000,
        cpu_system_micros: 250_000,
        max_rss_bytes: 1024,
        wall_micros: 3_000_000,
    });
    let value = serde_json::to_value(&run).unwrap();
    assert_eq!(
        value["usage"],
        json!({
            "cpu_seconds": 1.75,
            "cpu_user_seconds": 1.5,
            "cpu_system_seconds": 0.25,
            "max_rss_bytes": 1024,
            "wall_seconds": 3.0,
        })
    );
    assert!(
        run.usage
            .unwrap()
            .summary()
            .starts_with("CPU 1.75 s (user 1.50 s, system 0.25 s)")
    );
}

#[test]
fn a_running_run_lasts_until_now_and_a_finished_one_until_its_end() {
    let running = run(StateType::Running, Some(1_000_000), None);
    assert_eq!(running.duration_seconds(4_000_000), Some(3.0));
    let done = run(StateType::Completed, Some(1_000_000), Some(2_500_000));
    assert_eq!(done.duration_seconds(9_000_000), Some(1.5));
    let never_started = run(StateType::Cancelled, None, None);
    assert_eq!(never_started.duration_seconds(9), None);
    let clock_skew = run(StateType::Completed, Some(2_000_000), Some(1_000_000));
    assert_eq!(clock_skew.duration_seconds(0), Some(0.0));
}

#[test]
fn task_results_print_as_json_or_visible_text_and_cpu_in_seconds() {
    let value = serde_json::to_value(task(r#"{"rows": 3}"#, Some(1_250_000))).unwrap();
    assert_eq!(value["result"]["rows"], 3);
    assert_eq!(value["cpu_seconds"], 1.25);
    assert!(value["error"].is_null(), "{value}");
    assert!(value.get("created_at").is_none(), "{value}");
    assert_eq!(value["history"][0]["state"]["type"], "RUNNING");
    assert!(value["history"][0]["state"]["timestamp"].is_null());
    let value = serde_json::to_value(task("{truncated", None)).unwrap();
    assert_eq!(value["result"], "{truncated");
    assert!(value["cpu_seconds"].is_null(), "{value}");
    assert!(serde_json::to_value(task("  ", None)).unwrap()["result"].is_null());
    assert_eq!(task("", None).duration_seconds(0), Some(2.5));
}

#[test]
fn times_are_rfc3339_with_micros_and_zero_is_null() {
    assert_eq!(rfc3339(0), None);
    assert_eq!(
        rfc3339(1_700_000_000_123_456).as_deref(),
        Some("2023-11-14T22:13:20.123456Z")
    );
    assert_eq!(seconds_between(0, 1), None);
}
