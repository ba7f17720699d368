//! Artifacts end to end: a real SDK flow publishes a table (from a task),
//! markdown holding a `<script>`, and metrics on three runs; the REST API
//! returns the key's series in order; a bad artifact is refused with a
//! clear message; a headless Chromium shows the table (sortable), the
//! markdown (the script inert) and a trend chart. Screenshots are saved in
//! `target/screenshots/`.

mod web;

/// The database every server of this binary runs on.
const BACKEND: orch_e2e::Backend = orch_e2e::Backend::Sqlite;

use std::time::Duration;

use orch_e2e::browser::Browser;
use serde_json::Value;
use web::{Api, server_with};

const PAGE_WAIT: Duration = Duration::from_secs(20);

async fn run_report(api: &Api, mae: f64, signal: &str) -> String {
    let body = format!(r#"{{"parameters": {{"mae": {mae}, "signal": "{signal}"}}}}"#);
    let created = api.post("/api/deployments/web/report/runs", &body).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_str().expect("run id").to_owned();
    let detail = api
        .wait_for_state(&id, &["COMPLETED", "FAILED", "CRASHED"])
        .await;
    assert_eq!(detail["state"]["type"], "COMPLETED", "{detail:#}");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_s_artifacts_are_listed_charted_and_rendered_safely() {
    let (server, _worker, _dir) = server_with(&[("report", "")]);
    let api = Api::new(&server);
    let mut runs = Vec::new();
    for (mae, signal) in [(3.0, "BUY"), (2.0, "HOLD"), (1.0, "BUY")] {
        runs.push(run_report(&api, mae, signal).await);
    }

    // The series of the metrics key, oldest first.
    let series = api.ok("/api/artifacts/model-GOOG/series").await;
    let points: Vec<(String, f64)> = series["artifacts"]
        .as_array()
        .expect("artifacts")
        .iter()
        .map(|a| {
            (
                a["flow_run_id"].as_str().unwrap().to_owned(),
                a["data"]["mae"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        points,
        [
            (runs[0].clone(), 3.0),
            (runs[1].clone(), 2.0),
            (runs[2].clone(), 1.0)
        ]
    );

    // A run's artifacts: the table was published from its task.
    let list = api
        .ok(&format!("/api/artifacts?flow_run={}", runs[2]))
        .await;
    let list = list.as_array().expect("a list");
    assert_eq!(list.len(), 3, "{list:#?}");
    let table = list
        .iter()
        .find(|a| a["kind"] == "table")
        .expect("the table");
    assert_eq!(table["key"], "decision-GOOG");
    assert_eq!(table["data"][2]["symbol"], "AAPL");
    assert!(table["task_run_id"].is_string(), "{table:#}");
    let detail = api.ok(&format!("/api/flow-runs/{}", runs[2])).await;
    let decide = detail["task_runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "decide")
        .expect("the decide task");
    assert_eq!(table["task_run_id"], decide["id"]);

    // The CLI shows the same records, in the same JSON shape.
    let cli = server.json(&["artifact", "ls", "--key", "model-GOOG"]);
    let rest = api.ok("/api/artifacts?key=model-GOOG").await;
    assert_eq!(cli, rest);
    assert_eq!(cli.as_array().unwrap().len(), 3);
    let shown = server.ok(&["artifact", "inspect", table["id"].as_str().unwrap()]);
    assert!(
        shown.contains("AAPL") && shown.contains("decision-GOOG"),
        "{shown}"
    );
    let trend = server.ok(&["artifact", "series", "model-GOOG"]);
    assert!(
        trend.contains("mae") && trend.contains("directional_accuracy"),
        "{trend}"
    );

    // Bad artifacts sent by any process are refused with a clear message.
    let path = format!("/api/flow-runs/{}/artifacts", runs[0]);
    let refused = api
        .post(
            &path,
            r#"{"key": "m", "kind": "metrics", "data": {"loss": "NaN"}}"#,
        )
        .await;
    assert_eq!(refused.status, 400);
    assert!(
        refused
            .error()
            .contains("metric \"loss\" is \"NaN\", not a finite number"),
        "{}",
        refused.text
    );
    let big = "x".repeat(600 * 1024);
    let refused = api
        .post(
            &path,
            &format!(r#"{{"key": "m", "kind": "markdown", "data": "{big}"}}"#),
        )
        .await;
    assert_eq!(
        refused.status,
        400,
        "{}",
        &refused.text[..refused.text.len().min(300)]
    );
    assert!(
        refused.error().contains("the limit is 512 KiB"),
        "{}",
        refused.error()
    );
    // Keys that would name a folder in the artifact page's link, and a task
    // run the flow run never reported, are refused too.
    for key in [".", ".."] {
        let refused = api
            .post(
                &path,
                &format!(r#"{{"key": "{key}", "kind": "markdown", "data": "x"}}"#),
            )
            .await;
        assert_eq!(refused.status, 400, "{key}: {}", refused.text);
        assert!(refused.error().contains("is only dots"), "{}", refused.text);
    }
    let refused = api
        .post(
            &path,
            r#"{"key": "m", "kind": "markdown", "data": "x", "task_run_id": "no-such-task-run"}"#,
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert!(
        refused
            .error()
            .contains("has no task run \"no-such-task-run\""),
        "{}",
        refused.text
    );
    let accepted = api
        .post(
            &path,
            r#"{"key": "m", "kind": "link", "data": {"url": "https://example.com/report"}}"#,
        )
        .await;
    assert_eq!(accepted.status, 201, "{}", accepted.text);
    let missing = api.get("/api/artifacts/no-such-key/series").await;
    assert_eq!(missing.status, 404);

    // The run page: the table (sortable), the markdown (script inert).
    let base = server.url().to_string();
    let browser = Browser::start().await;
    browser.login(&base, &server.admin_key()).await;
    let client = &browser.client;
    client
        .goto(&format!("{base}/flow-runs/{}", runs[2]))
        .await
        .expect("open the run page");
    browser
        .wait_for_text("#artifacts .artifact.kind-table", "AAPL", PAGE_WAIT)
        .await;
    let markdown = browser
        .wait_for_text("#artifacts .kind-markdown .markdown", "<script>", PAGE_WAIT)
        .await;
    assert!(markdown.contains("window.__artifactXss"), "{markdown}");
    browser
        .wait_until(
            "the markdown rendered as elements, with no script or img element",
            "const md = document.querySelector('#artifacts .kind-markdown .markdown'); \
             return md.querySelector('h4') && md.querySelector('strong') \
             && md.querySelectorAll('li').length === 2 \
             && !md.querySelector('script') && !md.querySelector('img');",
            PAGE_WAIT,
        )
        .await;
    let ran: Value = client
        .execute("return window.__artifactXss === true;", vec![])
        .await
        .expect("read the flag");
    assert_eq!(ran, Value::Bool(false), "a script in an artifact ran");
    // Columns follow the rows' keys; sort by "confidence" wherever it is.
    client
        .execute(
            "[...document.querySelectorAll('#artifacts .kind-table th')] \
             .find(th => th.textContent === 'confidence').click();",
            vec![],
        )
        .await
        .expect("sort by confidence");
    browser
        .wait_until(
            "the rows sorted by confidence",
            "const table = document.querySelector('#artifacts .kind-table table'); \
             const column = [...table.querySelectorAll('th')].findIndex(th => th.textContent === 'confidence'); \
             const cells = [...table.querySelectorAll('tbody tr')].map(tr => tr.children[column].textContent); \
             return cells.join(',') === '0.42,0.71,0.93';",
            PAGE_WAIT,
        )
        .await;
    browser.screenshot("flow-run-artifacts").await;

    // The key page: the latest value and a trend chart per metric.
    browser
        .click(
            "#artifacts a.artifact-key[href='/artifacts/model-GOOG']",
            "a link to the key page",
        )
        .await;
    browser
        .wait_until(
            "a trend chart of three points for each metric",
            "const charts = document.querySelectorAll('#trends svg.trend'); \
             return charts.length === 2 && [...charts].every(c => \
               c.querySelectorAll('circle.trend-point').length === 3);",
            PAGE_WAIT,
        )
        .await;
    browser
        .wait_for_text("[data-metric='mae'] .latest-value", "1", PAGE_WAIT)
        .await;
    browser.screenshot("artifact-key").await;
    browser.close().await;
}
