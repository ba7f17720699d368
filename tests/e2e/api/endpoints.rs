//! Every endpoint of the REST API: its filters, pagination and errors.

use std::time::Duration;

use crate::web::{Api, server_with};
use serde_json::Value;

fn ids(page: &Value) -> Vec<String> {
    page["flow_runs"]
        .as_array()
        .expect("flow_runs")
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_string())
        .collect()
}

#[tokio::test]
async fn runs_are_created_by_name_and_by_id_listed_filtered_and_paginated() {
    let (server, _worker, _dir) = server_with(&[
        (
            "parallel",
            "tags = [\"fast\"]\nparameters = { force = false }",
        ),
        ("typed", "tags = [\"typed\"]"),
    ]);
    let api = Api::new(&server);

    // As in the README: curl -X POST .../runs -d '{"parameters":{"force":true}}'.
    let created = api
        .post(
            "/api/deployments/web/parallel/runs",
            r#"{"parameters":{"force":true}}"#,
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["parameters"]["force"], true);
    assert_eq!(created.body["deployment"], "web/parallel");
    let first = created.body["id"].as_str().unwrap().to_string();

    let deployment = api.ok("/api/deployments/web/typed").await;
    let typed_id = deployment["id"].as_str().unwrap().to_string();
    let by_id = api
        .post(&format!("/api/deployments/{typed_id}/runs"), "")
        .await;
    assert_eq!(by_id.status, 201, "{}", by_id.text);
    let second = by_id.body["id"].as_str().unwrap().to_string();
    for id in [&first, &second] {
        api.wait_for_state(id, &["COMPLETED"]).await;
    }
    let third = api
        .post("/api/deployments/web/parallel/runs", "{}")
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    api.wait_for_state(&third, &["COMPLETED"]).await;

    // Newest first, then keyset pages of one.
    let all = api.ok("/api/flow-runs").await;
    assert_eq!(
        ids(&all),
        vec![third.clone(), second.clone(), first.clone()]
    );
    assert_eq!(all["total"], 3);
    assert_eq!(all["total_exact"], true);
    assert_eq!(all["next_cursor"], Value::Null);
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = api
            .ok(&format!("/api/flow-runs?limit=1&cursor={cursor}"))
            .await;
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => break,
        }
    }
    assert_eq!(seen, ids(&all));

    // Filters.
    let filtered = |query: &'static str| {
        let api = &api;
        async move { ids(&api.ok(&format!("/api/flow-runs?{query}")).await) }
    };
    assert_eq!(filtered("deployment=web/typed").await, vec![second.clone()]);
    assert_eq!(
        filtered("flow=web&tag=fast").await,
        vec![third.clone(), first.clone()]
    );
    assert_eq!(
        filtered("tag=typed&state=completed").await,
        vec![second.clone()]
    );
    assert_eq!(filtered("state=failed").await, Vec::<String>::new());
    assert_eq!(filtered("work_pool=pool").await.len(), 3);
    assert_eq!(filtered("tag=fas").await, Vec::<String>::new());
    assert_eq!(
        filtered("since=2999-01-01T00:00:00Z").await,
        Vec::<String>::new()
    );
    assert_eq!(
        filtered("until=2000-01-01T00:00:00Z").await,
        Vec::<String>::new()
    );

    // Timeline: one point per started run, with a duration.
    let timeline = api
        .ok("/api/flow-runs/timeline?deployment=web/parallel")
        .await;
    let points = timeline["points"].as_array().expect("points");
    assert_eq!(points.len(), 2, "{timeline:#}");
    assert!(
        points
            .iter()
            .all(|p| p["duration_seconds"].as_f64().unwrap() > 0.2)
    );
    assert_eq!(points[0]["state"]["type"], "COMPLETED");

    // Flows.
    let flows = api.ok("/api/flows").await;
    assert_eq!(flows["flows"][0]["name"], "web");
    assert_eq!(flows["flows"][0]["deployment_count"], 2);

    // Errors.
    for (query, status, needle) in [
        (
            "deployment=web/nope",
            404,
            "deployment \"web/nope\" not found",
        ),
        ("state=runing", 400, "unknown state \"runing\""),
        ("limit=abc", 400, "limit"),
        ("limit=100000", 400, "limit must be at most"),
        ("cursor=garbage", 400, "next_cursor"),
        ("since=yesterday", 400, "RFC 3339"),
        (
            "since=2024-01-02T00:00:00Z&until=2024-01-01T00:00:00Z",
            400,
            "before until",
        ),
        ("colour=red", 400, "unknown field"),
    ] {
        let reply = api.get(&format!("/api/flow-runs?{query}")).await;
        assert_eq!(reply.status, status, "{query}: {}", reply.text);
        assert!(reply.error().contains(needle), "{query}: {}", reply.error());
    }
    let reply = api.get("/api/flow-runs/timeline?cursor=x").await;
    assert_eq!(reply.status, 400, "{}", reply.text);
}

#[tokio::test]
async fn run_requests_with_bad_bodies_or_unknown_deployments_are_refused_with_json_errors() {
    let (server, _worker, _dir) = server_with(&[("typed", "")]);
    let api = Api::new(&server);
    for (path, body, status, needle) in [
        (
            "/api/deployments/web/typed/runs",
            "{not json",
            400,
            "not valid JSON",
        ),
        (
            "/api/deployments/web/typed/runs",
            r#"{"parameters": [1]}"#,
            400,
            "must be a JSON object",
        ),
        (
            "/api/deployments/web/typed/runs",
            r#"{"params": {}}"#,
            400,
            "unknown field",
        ),
        (
            "/api/deployments/web/typed/runs",
            r#"{"scheduled_at": "soon"}"#,
            400,
            "RFC 3339",
        ),
        (
            "/api/deployments/web/nope/runs",
            "{}",
            404,
            "deployment \"web/nope\" not found",
        ),
        ("/api/deployments/no-such-id/runs", "{}", 404, "not found"),
        ("/api/deployments/web/typed", "{}", 405, "POST to .../runs"),
        ("/api/deployments/a/b/c/runs", "{}", 404, "no such endpoint"),
    ] {
        let reply = api.post(path, body).await;
        assert_eq!(reply.status, status, "POST {path} {body}: {}", reply.text);
        assert!(
            reply.error().contains(needle),
            "POST {path}: {}",
            reply.error()
        );
    }
    let reply = api.get("/api/deployments/web/nope").await;
    assert_eq!(reply.status, 404);
    assert!(
        reply.error().contains("did you mean \"web/typed\"?"),
        "{}",
        reply.error()
    );
    let reply = api.get("/api/deployments/web/typed/runs").await;
    assert_eq!(reply.status, 405, "{}", reply.text);
    let reply = api.get("/api/no-such-endpoint").await;
    assert_eq!(reply.status, 404);
    assert!(reply.error().contains("/api/no-such-endpoint"));
    // Nothing was created by the refused requests.
    assert_eq!(api.ok("/api/flow-runs").await["total"], 0);
}

#[tokio::test]
async fn deployments_show_schedules_last_and_upcoming_runs_and_pause_and_resume() {
    let (server, _worker, _dir) = server_with(&[(
        "typed",
        "description = \"typed echo\"\n[[deployments.schedules]]\ncron = \"0 9 * * 1-5\"\ntimezone = \"America/New_York\"",
    )]);
    let api = Api::new(&server);
    let done = api
        .post(
            "/api/deployments/web/typed/runs",
            r#"{"parameters": {"force": true}}"#,
        )
        .await;
    let done_id = done.body["id"].as_str().unwrap().to_string();
    api.wait_for_state(&done_id, &["COMPLETED"]).await;
    let later = api
        .post(
            "/api/deployments/web/typed/runs",
            r#"{"scheduled_at": "2999-01-01T00:00:00Z", "idempotency_key": "k1"}"#,
        )
        .await;
    assert_eq!(later.status, 201, "{}", later.text);
    let again = api
        .post(
            "/api/deployments/web/typed/runs",
            r#"{"scheduled_at": "2999-01-01T00:00:00Z", "idempotency_key": "k1"}"#,
        )
        .await;
    assert_eq!(
        again.body["id"], later.body["id"],
        "the idempotency key is honoured"
    );

    // The scheduler fills the cron schedule ahead: those runs are upcoming, soonest first.
    let deadline = std::time::Instant::now() + crate::web::WAIT;
    let list = loop {
        let list = api.ok("/api/deployments").await;
        if !list["deployments"][0]["upcoming_runs"]
            .as_array()
            .unwrap()
            .is_empty()
        {
            break list;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no upcoming run: {list:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let deployment = &list["deployments"][0];
    assert_eq!(deployment["full_name"], "web/typed");
    assert_eq!(deployment["description"], "typed echo");
    assert_eq!(deployment["schedules"][0]["cron"], "0 9 * * 1-5");
    assert_eq!(deployment["schedules"][0]["timezone"], "America/New_York");
    let upcoming: Vec<&str> = deployment["upcoming_runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["state"]["type"], "SCHEDULED", "{r:#}");
            r["expected_start"].as_str().unwrap()
        })
        .collect();
    assert!(upcoming.windows(2).all(|w| w[0] <= w[1]), "{upcoming:?}");
    // Last runs leave future runs out.
    let last: Vec<&str> = deployment["last_runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(last, vec![done_id.as_str()]);
    let far = api
        .ok("/api/flow-runs?deployment=web/typed&state=scheduled&limit=1000")
        .await;
    assert!(ids(&far).contains(&later.body["id"].as_str().unwrap().to_string()));
    let id = deployment["id"].as_str().unwrap();
    assert_eq!(
        api.ok(&format!("/api/deployments/{id}")).await["full_name"],
        "web/typed"
    );

    let paused = api.post("/api/deployments/web/typed/pause", "").await;
    assert_eq!(paused.status, 200, "{}", paused.text);
    assert_eq!(paused.body["paused"], true);
    // A run of a paused deployment waits.
    let waiting = api.post("/api/deployments/web/typed/runs", "").await;
    let waiting_id = waiting.body["id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let detail = api.ok(&format!("/api/flow-runs/{waiting_id}")).await;
    assert_eq!(detail["state"]["type"], "SCHEDULED");
    let resumed = api.post(&format!("/api/deployments/{id}/resume"), "").await;
    assert_eq!(resumed.body["paused"], false);
    api.wait_for_state(&waiting_id, &["COMPLETED"]).await;
}

#[tokio::test]
async fn the_overview_counts_runs_by_state_and_lists_unresolved_failures() {
    let (server, _worker, _dir) = server_with(&[("typed", ""), ("panic-task", "")]);
    let api = Api::new(&server);
    let ok = api.post("/api/deployments/web/typed/runs", "").await;
    let failed = api.post("/api/deployments/web/panic-task/runs", "").await;
    let ok_id = ok.body["id"].as_str().unwrap().to_string();
    let failed_id = failed.body["id"].as_str().unwrap().to_string();
    api.wait_for_state(&ok_id, &["COMPLETED"]).await;
    api.wait_for_state(&failed_id, &["FAILED"]).await;

    let overview = api.ok("/api/overview").await;
    assert_eq!(overview["window_hours"], 24);
    assert_eq!(overview["total"], 2);
    assert_eq!(overview["completed"], 1);
    assert_eq!(overview["failed"], 1);
    assert_eq!(overview["success_rate"], 0.5);
    assert_eq!(overview["workers_online"], 1);
    assert_eq!(overview["started"], 2);
    assert!(overview["average_lateness_seconds"].as_f64().unwrap() >= 0.0);
    assert_eq!(overview["failures"][0]["id"], failed_id.as_str());
    let states: Vec<&str> = overview["by_state"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(
        states.contains(&"Completed") && states.contains(&"Failed"),
        "{states:?}"
    );

    let reply = api.get("/api/overview?hours=0").await;
    assert_eq!(reply.status, 400);
    assert!(reply.error().contains("between 1 and 720"));
}

#[tokio::test]
async fn work_pools_and_workers_show_status_and_can_be_paused_and_resumed() {
    let (server, _worker, _dir) = server_with(&[("typed", "")]);
    let api = Api::new(&server);
    let pools = api.ok("/api/work-pools").await;
    let pool = &pools["work_pools"][0];
    assert_eq!(pool["name"], "pool");
    assert_eq!(pool["type"], "process");
    assert_eq!(pool["workers_online"], 1);
    assert_eq!(pool["concurrency_limit"], Value::Null);
    assert_eq!(pool["workers"][0]["status"], "online");
    assert!(pool["workers"][0]["last_heartbeat"].is_string());

    let paused = api.post("/api/work-pools/pool/pause", "").await;
    assert_eq!(paused.status, 200, "{}", paused.text);
    assert_eq!(paused.body["paused"], true);
    let run = api.post("/api/deployments/web/typed/runs", "").await;
    let run_id = run.body["id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(api.ok("/api/work-pools/pool").await["runs_waiting"], 1);
    let resumed = api.post("/api/work-pools/pool/resume", "").await;
    assert_eq!(resumed.body["paused"], false);
    api.wait_for_state(&run_id, &["COMPLETED"]).await;

    let workers = api.ok("/api/workers?work_pool=pool").await;
    assert_eq!(workers["workers"].as_array().unwrap().len(), 1);
    assert_eq!(workers["workers"][0]["work_pool"], "pool");
    for (path, post) in [
        ("/api/work-pools/nope", false),
        ("/api/workers?work_pool=nope", false),
        ("/api/work-pools/nope/pause", true),
    ] {
        let reply = if post {
            api.post(path, "").await
        } else {
            api.get(path).await
        };
        assert_eq!(reply.status, 404, "{path}: {}", reply.text);
        assert!(
            reply.error().contains("work pool \"nope\" not found"),
            "{}",
            reply.error()
        );
    }
}

#[tokio::test]
async fn the_server_runs_on_the_backend_of_this_binary() {
    let (server, _worker, _dir) = server_with(&[("typed", "")]);
    let status = server.json(&["server", "status"]);
    assert_eq!(
        status["database_backend"],
        crate::BACKEND.as_str(),
        "{status}"
    );
}
