//! One run through the API: followed live over server-sent events, its
//! detail, history, task runs and log pages, then retried and cancelled.

use futures::StreamExt;
use serde_json::{Value, json};

use crate::web::{self, Api, server_with};

#[tokio::test]
async fn a_run_shows_history_tasks_and_logs_live_and_can_be_cancelled_and_retried() {
    let (server, _worker, _dir) = server_with(&[
        ("quick-logs", "parameters = { count = 40 }"),
        ("long-flow", ""),
    ]);
    let api = Api::new(&server);
    let created = api.post("/api/deployments/web/quick-logs/runs", "").await;
    let run_id = created.body["id"].as_str().unwrap().to_string();

    // Follow it live: subscribe at once, read until `end`.
    let response = reqwest::Client::new()
        .get(format!("{}/api/flow-runs/{run_id}/events", api.base()))
        .bearer_auth(api.key().expect("a key"))
        .send()
        .await
        .expect("events");
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut body = response.bytes_stream();
    let mut text = String::new();
    let read = tokio::time::timeout(web::WAIT, async {
        while let Some(chunk) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
            if text.contains("event: end") {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the stream did not end: {text}");
    let mut live_lines = 0;
    let mut last_state = String::new();
    for block in text.split("\n\n") {
        let event = block.lines().find_map(|l| l.strip_prefix("event: "));
        let data: String = block
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .collect();
        match event {
            Some("logs") => {
                live_lines += serde_json::from_str::<Value>(&data)
                    .unwrap()
                    .as_array()
                    .unwrap()
                    .len()
            }
            Some("run") => {
                let detail: Value = serde_json::from_str(&data).unwrap();
                last_state = detail["state"]["type"].as_str().unwrap().to_string();
            }
            _ => {}
        }
    }
    assert_eq!(last_state, "COMPLETED", "{text}");

    // Detail, history, task runs.
    let detail = api.ok(&format!("/api/flow-runs/{run_id}")).await;
    let history: Vec<&str> = detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["type"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["SCHEDULED", "PENDING", "RUNNING", "COMPLETED"]);
    assert_eq!(detail["task_runs"][0]["name"], "log-task");
    assert_eq!(detail["task_runs"][0]["state"]["type"], "COMPLETED");

    // Logs: forward, tail and backward pages agree with the live stream.
    let all = api.ok(&format!("/api/flow-runs/{run_id}/logs")).await;
    let lines = all["lines"].as_array().unwrap();
    assert!(lines.len() >= 40, "{all:#}");
    assert_eq!(
        lines.len(),
        live_lines,
        "the live stream sent every line once"
    );
    let messages: Vec<&str> = lines
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert!(
        messages.iter().any(|m| m.contains("flow line 1")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("task line 40")),
        "{messages:?}"
    );
    let id_at = |i: usize| lines[i]["id"].as_i64().unwrap();
    let tail = api
        .ok(&format!("/api/flow-runs/{run_id}/logs?tail=5"))
        .await;
    let tail_ids: Vec<i64> = tail["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        tail_ids,
        (lines.len() - 5..lines.len())
            .map(id_at)
            .collect::<Vec<_>>()
    );
    let before = api
        .ok(&format!(
            "/api/flow-runs/{run_id}/logs?before={}&limit=3",
            id_at(10)
        ))
        .await;
    let before_ids: Vec<i64> = before["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_i64().unwrap())
        .collect();
    assert_eq!(before_ids, vec![id_at(7), id_at(8), id_at(9)]);
    let after = api
        .ok(&format!(
            "/api/flow-runs/{run_id}/logs?after={}&limit=2",
            id_at(0)
        ))
        .await;
    assert_eq!(after["lines"][0]["id"], id_at(1));
    assert_eq!(after["lines"].as_array().unwrap().len(), 2);
    let reply = api
        .get(&format!("/api/flow-runs/{run_id}/logs?after=1&tail=5"))
        .await;
    assert_eq!(reply.status, 400);
    assert!(reply.error().contains("one of after, before or tail"));

    // Retry a finished run: a new run, same deployment and parameters.
    let retried = api
        .post(&format!("/api/flow-runs/{run_id}/retry"), "")
        .await;
    assert_eq!(retried.status, 201, "{}", retried.text);
    assert_ne!(retried.body["id"], run_id.as_str());
    assert_eq!(retried.body["parameters"], json!({ "count": 40 }));
    assert_eq!(retried.body["deployment"], "web/quick-logs");
    // A finished run cannot be cancelled.
    let reply = api
        .post(&format!("/api/flow-runs/{run_id}/cancel"), "")
        .await;
    assert_eq!(reply.status, 409, "{}", reply.text);
    assert!(reply.error().contains("nothing to cancel"));

    // Cancel a running run; it cannot be retried until it has finished.
    let slow = api.post("/api/deployments/web/long-flow/runs", "").await;
    let slow_id = slow.body["id"].as_str().unwrap().to_string();
    api.wait_for_state(&slow_id, &["RUNNING"]).await;
    let reply = api
        .post(&format!("/api/flow-runs/{slow_id}/retry"), "")
        .await;
    assert_eq!(reply.status, 409);
    assert!(reply.error().contains("only a finished run can be retried"));
    let cancelled = api
        .post(&format!("/api/flow-runs/{slow_id}/cancel"), "")
        .await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.text);
    assert_eq!(cancelled.body["state"]["type"], "CANCELLING");
    api.wait_for_state(&slow_id, &["CANCELLED"]).await;

    // Unknown runs.
    for path in [
        "/api/flow-runs/no-such-run",
        "/api/flow-runs/no-such-run/logs",
        "/api/flow-runs/no-such-run/events",
    ] {
        let reply = api.get(path).await;
        assert_eq!(reply.status, 404, "{path}: {}", reply.text);
        assert!(reply.error().contains("flow run \"no-such-run\" not found"));
    }
    for path in [
        "/api/flow-runs/no-such-run/cancel",
        "/api/flow-runs/no-such-run/retry",
    ] {
        assert_eq!(api.post(path, "").await.status, 404, "{path}");
    }
}
