//! Secrets (sealed at rest, never answered), the environment a claimed run
//! receives, browser safety and the audit trail, through the real router.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

use crate::common::Harness;

const VALUE: &str = "nw-9f8e7d6c5b4a-value";

const DEPLOYMENT: &str = r#"
[[deployments]]
flow = "news"
name = "prod"
entrypoint = ["news"]
work_pool = "default"
env = { LOG_LEVEL = "info" }
secrets = ["NEWSAPI_KEY"]
"#;

/// Sends `request` to the router; returns the status and the body as text.
async fn send(app: &axum::Router, request: Request<Body>) -> (StatusCode, String) {
    let response = app.clone().oneshot(request).await.expect("an answer");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("a body");
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// A server with the deployment, without its secret, and its router.
async fn deployed_without_secrets() -> (Harness, axum::Router) {
    let harness = Harness::start("2026-01-05T09:00:00Z", "default").await;
    let deployment = DEPLOYMENT.replace("secrets = [\"NEWSAPI_KEY\"]", "");
    harness.deploy(&deployment).await;
    let app = orch_server::router(harness.state.clone());
    (harness, app)
}

fn json_request(method: &str, path: &str, body: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1:4200")
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .expect("a request")
}

#[tokio::test]
async fn a_secret_goes_in_sealed_and_never_comes_out() {
    let harness = Harness::start("2026-01-05T09:00:00Z", "default").await;
    let app = orch_server::router(harness.state.clone());
    let body = format!(r#"{{"value": "{VALUE}"}}"#);
    let (status, answer) = send(&app, json_request("PUT", "/api/secrets/NEWSAPI_KEY", &body)).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert!(!answer.contains(VALUE), "{answer}");
    harness.deploy(DEPLOYMENT).await;

    let get = Request::get("/api/secrets")
        .header("host", "localhost:4200")
        .body(Body::empty())
        .unwrap();
    let (status, listed) = send(&app, get).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!listed.contains(VALUE), "{listed}");
    let listed: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed["secrets"][0]["name"], "NEWSAPI_KEY");
    assert_eq!(listed["secrets"][0]["deployments"][0], "news/prod");

    let sealed = harness
        .store()
        .secrets()
        .secret_ciphertexts(&["NEWSAPI_KEY".to_owned()])
        .await
        .unwrap();
    assert!(sealed[0].1.starts_with("v1:"), "{sealed:?}");
    assert!(!sealed[0].1.contains(VALUE));

    // The claimed run receives the value and the deployment's env.
    let run = harness.run_now("news/prod").await;
    let environment = orch_server::ops::secrets::run_environment(&harness.state, &run)
        .await
        .unwrap();
    assert_eq!(environment.secrets["NEWSAPI_KEY"], VALUE);
    assert_eq!(environment.env["LOG_LEVEL"], "info");
    assert!(environment.missing.is_empty());

    // Deleted since: the run is told what is missing instead.
    let delete = json_request("DELETE", "/api/secrets/NEWSAPI_KEY", "{}");
    assert_eq!(send(&app, delete).await.0, StatusCode::NO_CONTENT);
    let environment = orch_server::ops::secrets::run_environment(&harness.state, &run)
        .await
        .unwrap();
    assert_eq!(environment.missing, ["NEWSAPI_KEY"]);
    assert!(environment.secrets.is_empty());
}

#[tokio::test]
async fn bad_secret_names_and_empty_values_are_refused() {
    let harness = Harness::start("2026-01-05T09:00:00Z", "default").await;
    let app = orch_server::router(harness.state.clone());
    let (status, answer) = send(
        &app,
        json_request("PUT", "/api/secrets/ORCH_API_URL", r#"{"value": "x"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(answer.contains("reserved"), "{answer}");
    let (status, answer) = send(
        &app,
        json_request("PUT", "/api/secrets/KEY", r#"{"value": ""}"#),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(answer.contains("empty value"), "{answer}");
}

#[tokio::test]
async fn forged_cross_site_requests_and_unknown_hosts_are_refused() {
    let (harness, app) = deployed_without_secrets().await;
    let runs = "/api/deployments/news/prod/runs";

    // A page posting a form or text/plain (no preflight needed) gets 415.
    let forged = Request::post(runs)
        .header("host", "127.0.0.1:4200")
        .header("origin", "http://evil.example")
        .header("content-type", "text/plain")
        .body(Body::from("{}"))
        .unwrap();
    let (status, answer) = send(&app, forged).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{answer}");
    let message: Value = serde_json::from_str(&answer).expect("a JSON message");
    assert!(
        message["error"]
            .as_str()
            .unwrap()
            .contains("application/json")
    );

    // JSON from another origin (a non-browser forging it) gets 403.
    let mut cross = json_request("POST", runs, "{}");
    cross
        .headers_mut()
        .insert("origin", "http://evil.example".parse().unwrap());
    let (status, answer) = send(&app, cross).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    let mut cross_site = json_request("POST", runs, "{}");
    cross_site
        .headers_mut()
        .insert("sec-fetch-site", "cross-site".parse().unwrap());
    assert_eq!(send(&app, cross_site).await.0, StatusCode::FORBIDDEN);

    // A rebound name is not answered, not even for reads.
    let rebound = Request::get("/api/flow-runs")
        .header("host", "attacker.example:4200")
        .body(Body::empty())
        .unwrap();
    let (status, answer) = send(&app, rebound).await;
    assert_eq!(status, StatusCode::MISDIRECTED_REQUEST, "{answer}");
    assert!(
        answer.contains("--allowed-host attacker.example"),
        "{answer}"
    );
    assert!(
        harness.runs("news/prod").await.is_empty(),
        "nothing was created"
    );

    // The dashboard's own call: same origin, JSON.
    let mut own = json_request("POST", runs, "{}");
    own.headers_mut()
        .insert("origin", "http://127.0.0.1:4200".parse().unwrap());
    own.headers_mut()
        .insert("sec-fetch-site", "same-origin".parse().unwrap());
    let (status, answer) = send(&app, own).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
}

#[tokio::test]
async fn changes_are_audited_with_the_caller_and_its_address() {
    let (harness, app) = deployed_without_secrets().await;
    // One call through a server with authentication on, with a real token:
    // the audit names the token.
    let new = orch_store::NewToken {
        name: "ci-deployer".into(),
        scope: orch_core::auth::Scope::Operate,
        pools: Vec::new(),
        expires_at: None,
    };
    let key = harness
        .store()
        .tokens()
        .create_token(&new)
        .await
        .expect("token")
        .1;
    let secured = harness.secured().await;
    let secured_app = orch_server::router(secured.state.clone());
    let address: SocketAddr = "10.1.2.3:50000".parse().unwrap();
    let mut request = json_request("POST", "/api/deployments/news/prod/runs", "{}");
    request.extensions_mut().insert(ConnectInfo(address));
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    let (status, answer) = send(&secured_app, request).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let run: Value = serde_json::from_str(&answer).unwrap();
    let run_id = run["id"].as_str().unwrap().to_owned();
    // A run that cannot be made is recorded by the layer, with its refusal.
    let mut unknown = json_request("POST", "/api/deployments/news/nope/runs", "{}");
    unknown
        .headers_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    assert_eq!(send(&secured_app, unknown).await.0, StatusCode::NOT_FOUND);

    let mut cancel = json_request("POST", &format!("/api/flow-runs/{run_id}/cancel"), "");
    cancel.extensions_mut().insert(ConnectInfo(address));
    assert_eq!(send(&app, cancel).await.0, StatusCode::OK);
    let missing = json_request("POST", "/api/flow-runs/no-such-run/cancel", "");
    assert_eq!(send(&app, missing).await.0, StatusCode::NOT_FOUND);
    // Reads are not recorded.
    let read = Request::get("/api/flow-runs")
        .header("host", "localhost")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, read).await.0, StatusCode::OK);

    let get = Request::get("/api/audit")
        .header("host", "localhost")
        .body(Body::empty())
        .unwrap();
    let (status, answer) = send(&app, get).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let records: Value = serde_json::from_str(&answer).unwrap();
    let records = records["records"].as_array().unwrap();
    let summary: Vec<(String, String, String, String)> = records
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap().to_owned(),
                r["target"].as_str().unwrap().to_owned(),
                r["caller"].as_str().unwrap().to_owned(),
                r["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let row = |a: &str, t: &str, c: &str, o: &str| (a.into(), t.into(), c.into(), o.into());
    assert_eq!(
        summary,
        [
            row("flow-run.cancel", "no-such-run", "anonymous", "404"),
            row("flow-run.cancel", &run_id, "anonymous", "ok"),
            row("deployment.run", "news/nope", "ci-deployer", "404"),
            row("deployment.run", "news/prod", "ci-deployer", "ok"),
        ]
    );
    assert_eq!(records[3]["address"], "10.1.2.3:50000");
    assert_eq!(records[1]["address"], "10.1.2.3:50000");
    assert_eq!(records[0]["address"], Value::Null);
    assert_eq!(records[0]["transport"], "rest");
}
