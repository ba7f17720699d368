//! `/metrics` scraped before and after a few real runs: the counters,
//! histograms and database gauges move as the runs do.

mod web;

/// The database every server of this binary runs on.
const BACKEND: orch_e2e::Backend = orch_e2e::Backend::Sqlite;

use std::collections::HashMap;

use web::{Api, server_with};

/// Samples of an OpenMetrics text: `name{labels}` -> value.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let (key, value) = line.rsplit_once(' ')?;
            Some((key.to_string(), value.parse().ok()?))
        })
        .collect()
}

fn value(samples: &HashMap<String, f64>, key: &str) -> f64 {
    samples.get(key).copied().unwrap_or(0.0)
}

#[tokio::test]
async fn counters_histograms_and_gauges_move_with_real_runs() {
    let (server, _worker, _dir) = server_with(&[
        ("parallel", ""),
        ("flaky", "parameters = { fail_times = 1, delays_ms = [50] }"),
        ("panic-task", "retries = 1\nretry_delay_seconds = 0"),
    ]);
    let api = Api::new(&server);
    let reply = api.get("/metrics").await;
    assert_eq!(reply.status, 200);
    let before = samples(&reply.text);
    assert!(reply.text.contains("# TYPE orch_workers_online gauge"));
    assert!(
        reply.text.trim_end().ends_with("# EOF"),
        "OpenMetrics text ends with # EOF"
    );
    assert_eq!(
        value(&before, "orch_workers_online{work_pool=\"pool\"}"),
        1.0
    );

    let mut runs = Vec::new();
    for deployment in ["parallel", "parallel", "flaky", "panic-task"] {
        let created = api
            .post(&format!("/api/deployments/web/{deployment}/runs"), "")
            .await;
        assert_eq!(created.status, 201, "{}", created.text);
        runs.push(created.body["id"].as_str().unwrap().to_string());
    }
    for run in &runs {
        api.wait_for_state(run, &["COMPLETED", "FAILED"]).await;
    }
    // Task durations are recorded just after a run ends: scrape until they are in.
    let deadline = std::time::Instant::now() + web::WAIT;
    let after = loop {
        let text = api.get("/metrics").await.text;
        let after = samples(&text);
        if value(&after, "orch_task_run_retries_total") >= 1.0
            && value(
                &after,
                "orch_task_run_duration_seconds_count{state=\"Completed\"}",
            ) >= 7.0
        {
            break after;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "task metrics never arrived:\n{text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };

    let moved = |key: &str| value(&after, key) - value(&before, key);
    // Runs by deployment and state, from the database.
    assert_eq!(
        value(
            &after,
            "orch_flow_runs{deployment=\"web/parallel\",state=\"Completed\"}"
        ),
        2.0
    );
    assert_eq!(
        value(
            &after,
            "orch_flow_runs{deployment=\"web/flaky\",state=\"Completed\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &after,
            "orch_flow_runs{deployment=\"web/panic-task\",state=\"Failed\"}"
        ),
        1.0
    );
    // Transitions seen by this server.
    assert_eq!(
        moved("orch_flow_run_transitions_total{deployment=\"web/parallel\",state=\"Completed\"}"),
        2.0
    );
    assert_eq!(
        moved("orch_flow_run_transitions_total{deployment=\"web/parallel\",state=\"Pending\"}"),
        2.0
    );
    assert_eq!(
        moved("orch_flow_run_transitions_total{deployment=\"web/panic-task\",state=\"Failed\"}"),
        1.0
    );
    // Durations and latencies.
    assert_eq!(
        moved(
            "orch_flow_run_duration_seconds_count{deployment=\"web/parallel\",state=\"Completed\"}"
        ),
        2.0
    );
    assert!(
        moved(
            "orch_flow_run_duration_seconds_sum{deployment=\"web/parallel\",state=\"Completed\"}"
        ) > 0.6
    );
    assert_eq!(
        moved("orch_flow_run_pickup_latency_seconds_count{work_pool=\"pool\"}"),
        5.0,
        "4 runs + 1 flow retry claimed"
    );
    assert_eq!(
        moved("orch_flow_run_lateness_seconds_count{deployment=\"web/parallel\"}"),
        2.0
    );
    // parallel: 3 tasks each, flaky: 1: at least 7 Completed task runs.
    assert!(moved("orch_task_run_duration_seconds_count{state=\"Completed\"}") >= 7.0);
    // Retries: flaky's task retried once; panic-task's flow retried once.
    assert!(moved("orch_task_run_retries_total") >= 1.0);
    assert_eq!(
        moved("orch_flow_run_retries_total{deployment=\"web/panic-task\"}"),
        1.0
    );
    // Gauges of the pool.
    assert_eq!(
        value(&after, "orch_work_pool_queue_depth{work_pool=\"pool\"}"),
        0.0
    );
    assert_eq!(
        value(&after, "orch_work_pool_runs_in_flight{work_pool=\"pool\"}"),
        0.0
    );
    assert_eq!(
        value(&after, "orch_workers_online{work_pool=\"pool\"}"),
        1.0
    );
}
