//! The dashboard as a new user meets it, in a real headless Chromium: logged
//! in by the link `orch server start` printed and nothing else, it opens
//! every page of the menu and every page those link to, on a seeded database
//! (runs in every state, deployments, an automation waiting for variables,
//! artifacts), and finds no answer other than 200, no raw JSON, no page out
//! of the dashboard's frame and no console error. A mistyped address is a
//! dashboard 404 page with a way back. Screenshots go to `target/screenshots/`.

use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

use orch_e2e::browser::Browser;
use orch_e2e::seed::{register_deployments, run_id, seed_history};
use orch_e2e::{TestServer, http_post};
use serde_json::Value;

const PAGE_WAIT: Duration = Duration::from_secs(20);

/// A server on a seeded SQLite database.
async fn seeded_server() -> (TestServer, tempfile::TempDir) {
    let server = TestServer::start();
    let dir = register_deployments(&server);
    // An automation whose receivers are not configured on this server.
    let automation = "[[automations]]\nname = \"failures\"\ndescription = \"A run failed\"\n\
         trigger = { type = \"run-state\", states = [\"Failed\"] }\n\
         actions = [ { type = \"slack\", webhook_url = \"${SLACK_WEBHOOK_URL}\" }, \
         { type = \"email\", to = [\"${ORCH_ALERT_EMAIL}\"] } ]\n";
    let deployment = orch_e2e::deployment_toml("etl", "daily", "bench-pool", &["true"], "");
    let file = orch_e2e::write_deploy_file(
        dir.path(),
        "automations.toml",
        &format!("{deployment}{automation}"),
    );
    server.ok(&["deploy", file.to_str().unwrap()]);
    seed_history(&server.home().join("orch.db"), 60, 600).await;
    let key = server.admin_key();
    for (n, artifact_key) in [(0, "daily-report"), (1, "daily-report"), (2, "model-GOOG")] {
        let body =
            format!(r#"{{"key": "{artifact_key}", "kind": "markdown", "data": "**rows**: {n}"}}"#);
        let path = format!("/api/v1/flow-runs/{}/artifacts", run_id(n));
        let (status, answer) = http_post(server.url(), &path, &body, Some(&key));
        assert_eq!(status, 201, "{answer}");
    }
    (server, dir)
}

/// The login link in the server's output (just after the line `TestServer` waits for).
async fn printed_link(server: &TestServer) -> String {
    for _ in 0..200 {
        let output = server.daemon_output();
        if let Some(link) = output
            .split_whitespace()
            .find(|word| word.contains("/login?code="))
        {
            return link.to_owned();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "no login link in the server's output:\n{}",
        server.daemon_output()
    );
}

/// What the page at hand is: its HTTP status, content type, whether it is in
/// the dashboard's frame, and the same-origin links in its main part.
async fn look(browser: &Browser) -> Value {
    browser
        .client
        .execute(
            "const nav = performance.getEntriesByType('navigation')[0]; \
             return { status: nav ? nav.responseStatus : 0, type: document.contentType, \
               framed: !!document.querySelector('header.topbar nav'), \
               text: document.body ? document.body.innerText.slice(0, 400) : '', \
               links: [...document.querySelectorAll('main a[href], header nav a[href]')] \
                 .map(a => new URL(a.getAttribute('href'), location.href)) \
                 .filter(u => u.origin === location.origin) \
                 .map(u => u.pathname + u.search) };",
            vec![],
        )
        .await
        .expect("read the page")
}

/// A file name for a screenshot of `path`.
fn shot_name(path: &str) -> String {
    path.trim_matches('/')
        .replace(['/', '?', '=', '&', '%'], "_")
}

/// Opens `path`, lets its scripts load their data, and checks it.
async fn visit(browser: &Browser, base: &str, path: &str) -> Value {
    browser
        .client
        .goto(&format!("{base}{path}"))
        .await
        .unwrap_or_else(|e| panic!("open {path}: {e}"));
    browser
        .wait_until(
            &format!("{path} to load"),
            "return document.readyState === 'complete' && !document.querySelector('#live.off');",
            PAGE_WAIT,
        )
        .await;
    // Pages fetch their data after loading: give those calls time to answer
    // (a failed one is a console error and a red toast).
    tokio::time::sleep(Duration::from_millis(700)).await;
    let page = look(browser).await;
    let errors = browser.console_errors().await;
    if !errors.is_empty() || page["status"] != 200 || !page["framed"].as_bool().unwrap_or(false) {
        let file = browser
            .screenshot(&format!("first-hour-failed-{}", shot_name(path)))
            .await;
        panic!(
            "{path}: status {}, type {}, framed {}, console errors {errors:#?} (screenshot {}); text:\n{}",
            page["status"],
            page["type"],
            page["framed"],
            file.display(),
            page["text"]
        );
    }
    assert_eq!(
        page["type"], "text/html",
        "{path} is not a page: {}",
        page["text"]
    );
    let text = page["text"].as_str().unwrap_or_default();
    assert!(
        !text.trim_start().starts_with('{'),
        "{path} shows raw JSON: {text}"
    );
    let toast = browser
        .client
        .execute(
            "const t = document.getElementById('toast'); return t && !t.hidden ? t.textContent : '';",
            vec![],
        )
        .await
        .unwrap_or_default();
    assert_eq!(toast, "", "{path} shows an error");
    page
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_reachable_from_the_menu_opens_cleanly_after_logging_in_by_the_link() {
    let (server, _dir) = seeded_server().await;
    let base = server.url().to_string();
    let link = printed_link(&server).await;
    let browser = Browser::start().await;

    // The link alone logs in: no token typed.
    browser
        .client
        .goto(&link)
        .await
        .expect("open the login link");
    browser
        .wait_until(
            "the login link to open the overview",
            "return location.pathname === '/' && !!document.querySelector('#cards .card');",
            PAGE_WAIT,
        )
        .await;
    assert_eq!(
        browser.client.current_url().await.unwrap().query(),
        None,
        "the code is not left in the address bar"
    );
    browser.screenshot("first-hour-overview").await;
    let _ = browser.console_errors().await;

    // The menu, then every page it links to, then every page those link to.
    let menu = visit(&browser, &base, "/").await;
    let menu: Vec<String> = menu["links"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l.as_str().map(str::to_owned))
        .collect();
    for wanted in [
        "/flow-runs",
        "/deployments",
        "/work-pools",
        "/automations",
        "/artifacts",
        "/tokens",
        "/audit",
    ] {
        assert!(
            menu.iter().any(|l| l == wanted),
            "the menu lacks {wanted}: {menu:?}"
        );
    }
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut queue: VecDeque<(String, u8)> = menu.into_iter().map(|l| (l, 0)).collect();
    while let Some((path, depth)) = queue.pop_front() {
        if !seen.insert(path.clone()) {
            continue;
        }
        let page = visit(&browser, &base, &path).await;
        if depth == 0 {
            browser
                .screenshot(&format!("first-hour-{}", shot_name(&path)))
                .await;
            for link in page["links"].as_array().unwrap() {
                let link = link.as_str().unwrap().to_owned();
                if !seen.contains(&link) {
                    queue.push_back((link, depth + 1));
                }
            }
        }
    }
    // The pages behind the menu were reached too: runs, a deployment, an artifact key.
    let reached = |prefix: &str| seen.iter().any(|p| p.starts_with(prefix));
    assert!(reached("/flow-runs/"), "{seen:#?}");
    assert!(reached("/deployments/"), "{seen:#?}");
    assert!(reached("/artifacts/daily-report"), "{seen:#?}");
    assert!(seen.len() > 30, "{seen:#?}");

    // The automation's missing variables read one per line, not run together.
    visit(&browser, &base, "/automations").await;
    let vars: Value = browser
        .client
        .execute(
            "return [...document.querySelectorAll('[data-automation=failures] .var-list li')].map(li => li.textContent);",
            vec![],
        )
        .await
        .unwrap();
    let vars: Vec<&str> = vars
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        vars.contains(&"SLACK_WEBHOOK_URL") && vars.contains(&"ORCH_ALERT_EMAIL"),
        "{vars:?}"
    );
    assert!(
        vars.iter()
            .all(|v| v.chars().all(|c| c.is_ascii_uppercase() || c == '_')),
        "one variable per item: {vars:?}"
    );
    let text = browser.page_text().await;
    assert!(
        !text.contains("SLACK_WEBHOOK_URLORCH") && !text.contains("ORCH_ALERT_EMAILSLACK"),
        "{text}"
    );

    // The artifacts index searches by key.
    visit(&browser, &base, "/artifacts?search=model").await;
    browser
        .wait_for_text("#keys a", "model-GOOG", PAGE_WAIT)
        .await;
    let keys = browser.page_text().await;
    assert!(!keys.contains("daily-report"), "{keys}");

    // A mistyped address: a dashboard page saying so, with a way back; 404.
    browser
        .client
        .goto(&format!("{base}/no-such-page"))
        .await
        .unwrap();
    let page = look(&browser).await;
    assert_eq!(page["status"], 404);
    assert_eq!(page["type"], "text/html");
    assert!(page["framed"].as_bool().unwrap(), "{page}");
    assert!(
        page["text"].as_str().unwrap().contains("Page not found"),
        "{page}"
    );
    assert!(
        page["links"].as_array().unwrap().iter().any(|l| l == "/"),
        "{page}"
    );
    browser.screenshot("first-hour-404").await;
    browser.close().await;
}
