//! The dashboard in a real headless Chromium against the real server, worker
//! and SDK flows: the overview, a run started from the Run form with a
//! parameter followed to Completed with its task graph and logs, the other
//! pages, and cancelling a running run. Screenshots of every page are saved
//! in `target/screenshots/` for people to look at.

mod web;

/// The database every server of this binary runs on.
const BACKEND: orch_e2e::Backend = orch_e2e::Backend::Sqlite;

use std::time::Duration;

use fantoccini::Locator;
use orch_e2e::browser::Browser;
use web::{Api, WAIT, server_with};

const PAGE_WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_started_from_the_run_form_is_followed_to_completed_and_a_running_one_is_cancelled() {
    let (server, _worker, _dir) = server_with(&[
        (
            "parallel",
            "parameters = { label = \"default\" }\ntags = [\"web\"]",
        ),
        ("long-flow", ""),
    ]);
    let api = Api::new(&server);
    let base = server.url().to_string();
    let browser = Browser::start().await;
    browser.login(&base, &server.admin_key()).await;
    let client = &browser.client;

    // Overview.
    client.goto(&format!("{base}/")).await.expect("open /");
    browser
        .wait_until(
            "the overview to show one worker online",
            "return [...document.querySelectorAll('#cards .card')].some(c => \
             c.querySelector('.label').textContent === 'Workers online' \
             && c.querySelector('.value').textContent === '1');",
            PAGE_WAIT,
        )
        .await;

    // Deployments: the Run form with a parameter.
    client
        .goto(&format!("{base}/deployments"))
        .await
        .expect("open /deployments");
    browser
        .wait_for_text(
            "[data-deployment='web/parallel'] h2",
            "web/parallel",
            PAGE_WAIT,
        )
        .await;
    browser.screenshot("deployments").await;
    browser
        .click("[data-run='web/parallel']", "Run button")
        .await;
    let value = client
        .wait()
        .at_most(PAGE_WAIT)
        .for_element(Locator::Css("#run-params .param-value"))
        .await
        .expect("the form lists the default parameter");
    let key = client
        .find(Locator::Css("#run-params .param-key"))
        .await
        .expect("parameter name")
        .prop("value")
        .await
        .expect("name value");
    assert_eq!(key.as_deref(), Some("label"));
    value.clear().await.expect("clear value");
    value
        .send_keys("from-the-browser")
        .await
        .expect("type a value");
    browser.screenshot("run-form").await;
    browser.click("#run-submit", "submit").await;

    // The run page follows the run live until it is Completed.
    browser
        .wait_until(
            "navigation to the new run's page",
            "return location.pathname.startsWith('/flow-runs/');",
            PAGE_WAIT,
        )
        .await;
    let url = client.current_url().await.expect("URL");
    let run_id = url.path().trim_start_matches("/flow-runs/").to_string();
    browser
        .wait_for_text("#run-state .badge", "Completed", WAIT)
        .await;
    browser
        .wait_until(
            "a task graph of three nodes with fuse downstream",
            "return document.querySelectorAll('#graph svg g.node').length === 3 \
             && document.querySelectorAll('#graph svg path.edge').length === 2 \
             && !!document.querySelector('#graph g.node[data-task=\"fuse\"]');",
            PAGE_WAIT,
        )
        .await;
    browser
        .wait_until(
            "a Gantt bar per task",
            "return document.querySelectorAll('#gantt .gantt-row').length === 3;",
            PAGE_WAIT,
        )
        .await;
    // The flow prints its result (0.25 × 101.5) to stdout.
    browser.wait_for_text("#logs .line", "25.375", WAIT).await;
    browser
        .wait_for_text("#parameters", "from-the-browser", PAGE_WAIT)
        .await;
    // What the run used, and its trace id (no --trace-url-template: no link).
    browser
        .wait_for_text("#run-resources", "RSS", PAGE_WAIT)
        .await;
    let trace_id = run_id.replace('-', "");
    browser
        .wait_for_text("#run-trace", &trace_id[..16], PAGE_WAIT)
        .await;
    browser.screenshot("flow-run").await;
    let detail = api.wait_for_state(&run_id, &["COMPLETED"]).await;
    assert_eq!(detail["parameters"]["label"], "from-the-browser");
    assert_eq!(detail["deployment"], "web/parallel");

    // Flow runs: the table and the timeline show it.
    client
        .goto(&format!("{base}/flow-runs"))
        .await
        .expect("open /flow-runs");
    browser
        .wait_for_text("#runs table", "Completed", PAGE_WAIT)
        .await;
    browser
        .wait_until(
            "a timeline point for the run",
            &format!(
                "return !!document.querySelector('#timeline circle.point[data-id=\"{run_id}\"]');"
            ),
            PAGE_WAIT,
        )
        .await;
    browser.screenshot("flow-runs").await;

    // Work pools: the worker is online.
    client
        .goto(&format!("{base}/work-pools"))
        .await
        .expect("open /work-pools");
    browser
        .wait_for_text("[data-pool='pool']", "online", PAGE_WAIT)
        .await;
    browser.screenshot("work-pools").await;

    // Cancel a running run from its page.
    let created = api.post("/api/deployments/web/long-flow/runs", "").await;
    assert_eq!(created.status, 201, "{}", created.text);
    let slow_id = created.body["id"].as_str().expect("run id").to_string();
    client
        .goto(&format!("{base}/flow-runs/{slow_id}"))
        .await
        .expect("open the slow run");
    browser
        .wait_for_text("#run-state .badge", "Running", WAIT)
        .await;
    browser
        .wait_until(
            "the Cancel button to be enabled",
            "return !document.getElementById('cancel').disabled;",
            PAGE_WAIT,
        )
        .await;
    browser.click("#cancel", "Cancel button").await;
    browser
        .wait_for_text("#run-state .badge", "Cancelled", WAIT)
        .await;
    browser.screenshot("flow-run-cancelled").await;
    let detail = api.wait_for_state(&slow_id, &["CANCELLED"]).await;
    assert_eq!(detail["state"]["name"], "Cancelled");

    // The overview again, now with runs in it.
    client.goto(&format!("{base}/")).await.expect("open /");
    browser
        .wait_for_text("#latest table", "Cancelled", PAGE_WAIT)
        .await;
    browser
        .wait_for_text("#by-state table", "Completed", PAGE_WAIT)
        .await;
    browser.screenshot("overview").await;
    browser.close().await;
}

/// A subflow run on the dashboard (issue 22): the parent's page lists it and
/// its task graph's node for the call opens it; its page links back to the
/// parent; the runs page marks it and can show top-level runs only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subflow_run_is_listed_and_opened_from_its_parent_and_links_back() {
    let (server, _worker, _dir) = server_with(&[("parent", "")]);
    let api = Api::new(&server);
    let base = server.url().to_string();
    let created = api.post("/api/deployments/web/parent/runs", "").await;
    assert_eq!(created.status, 201, "{}", created.text);
    let run_id = created.body["id"].as_str().expect("run id").to_string();
    let parent = api.wait_for_state(&run_id, &["COMPLETED"]).await;
    let child_id = parent["subflow_runs"][0]["id"].as_str().unwrap().to_owned();
    let browser = Browser::start().await;
    browser.login(&base, &server.admin_key()).await;
    let client = &browser.client;

    client
        .goto(&format!("{base}/flow-runs/{run_id}"))
        .await
        .expect("open the parent's page");
    browser
        .wait_for_text("#subflow-runs table", "child", PAGE_WAIT)
        .await;
    browser
        .wait_until(
            "the call's node of the graph to open the subflow run",
            &format!(
                "return !!document.querySelector('#graph a[href=\"/flow-runs/{child_id}\"] \
                 g.node.subflow[data-task=\"child\"]');"
            ),
            PAGE_WAIT,
        )
        .await;
    browser.screenshot("flow-run-with-subflow").await;
    browser
        .click("#graph g.node.subflow", "the subflow call's node")
        .await;
    browser
        .wait_until(
            "navigation to the subflow run's page",
            &format!("return location.pathname === '/flow-runs/{child_id}';"),
            PAGE_WAIT,
        )
        .await;
    browser
        .wait_for_text("#parent-run", parent["name"].as_str().unwrap(), PAGE_WAIT)
        .await;
    browser
        .wait_for_text("#subflow-runs table", "grandchild", PAGE_WAIT)
        .await;
    browser.screenshot("subflow-run").await;

    client
        .goto(&format!("{base}/flow-runs"))
        .await
        .expect("open /flow-runs");
    browser
        .wait_until(
            "three runs, two of them marked as subflow runs",
            "return document.querySelectorAll('#runs tbody tr').length === 3 \
             && document.querySelectorAll('#runs .subflow-run').length === 2;",
            PAGE_WAIT,
        )
        .await;
    client
        .goto(&format!("{base}/flow-runs?top_level=true"))
        .await
        .expect("open /flow-runs?top_level=true");
    browser
        .wait_until(
            "the top-level run only",
            "return document.querySelector('#filters [name=top_level]').checked \
             && document.querySelectorAll('#runs tbody tr').length === 1 \
             && !document.querySelector('#runs .subflow-run');",
            PAGE_WAIT,
        )
        .await;
    let errors = browser.console_errors().await;
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    browser.close().await;
}

/// The parent's page follows its subflow runs live (issue 22): opened while
/// the parent runs and has none, it lists the new subflow run Running, then
/// Completed, without a reload (the server tells the parent's watchers of
/// its subflow runs' changes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_parents_page_shows_a_new_subflow_run_and_its_states_live() {
    let (server, _worker, dir) = server_with(&[("parent", "")]);
    let api = Api::new(&server);
    let base = server.url().to_string();
    let go = dir.path().join("go");
    let body = serde_json::json!({
        "parameters": { "go_marker": go.display().to_string(), "child_sleep_ms": 1500 }
    });
    let created = api
        .post("/api/deployments/web/parent/runs", &body.to_string())
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let run_id = created.body["id"].as_str().expect("run id").to_string();
    api.wait_for_state(&run_id, &["RUNNING"]).await;
    let browser = Browser::start().await;
    browser.login(&base, &server.admin_key()).await;
    let client = &browser.client;

    client
        .goto(&format!("{base}/flow-runs/{run_id}"))
        .await
        .expect("open the parent's page");
    browser
        .wait_for_text("#run-state .badge", "Running", PAGE_WAIT)
        .await;
    // Marks this page load: a reload would clear it.
    client
        .execute("window.__sameLoad = true; return true;", vec![])
        .await
        .expect("mark the page");
    browser
        .wait_until(
            "the page to show no subflow run yet",
            "return document.getElementById('subflows-panel').hidden === true;",
            PAGE_WAIT,
        )
        .await;

    std::fs::write(&go, "go").expect("let the parent call its subflow");
    let row = "return [...document.querySelectorAll('#subflow-runs tbody tr')].some(r => \
               r.textContent.includes('child') && r.querySelector('.badge')?.textContent === '{STATE}');";
    browser
        .wait_until(
            "the new subflow run listed Running",
            &row.replace("{STATE}", "Running"),
            WAIT,
        )
        .await;
    browser.screenshot("flow-run-subflow-live").await;
    browser
        .wait_until(
            "the subflow run listed Completed",
            &row.replace("{STATE}", "Completed"),
            WAIT,
        )
        .await;
    let same = client
        .execute("return window.__sameLoad === true;", vec![])
        .await
        .expect("read the mark");
    assert_eq!(same, serde_json::json!(true), "the page was reloaded");
    browser.close().await;
}
