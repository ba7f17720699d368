//! The versioned JSON API: every REST route answers under `/api/v1/` exactly
//! as under the unversioned `/api/` path it replaces (kept for one release),
//! with the same authorization rule; the old paths name their successor.

use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use orch_server::auth::rules::{RULES, Rule};

use super::auth::{http_request, keys, send};
use crate::common::Harness;

/// The same request as `rule`'s, under `/api/v1/`.
fn versioned(rule: &Rule, key: Option<&str>) -> Request<Body> {
    let request = http_request(rule, key);
    let (mut parts, body) = request.into_parts();
    let path = parts.uri.path().replacen("/api/", "/api/v1/", 1);
    parts.uri = path.parse().expect("a path");
    Request::from_parts(parts, body)
}

async fn answer(response: Response<Body>) -> (StatusCode, String) {
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("a body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn get(path: &str, key: &str) -> Request<Body> {
    Request::get(path)
        .header("authorization", format!("Bearer {key}"))
        .body(Body::empty())
        .expect("request")
}

#[tokio::test]
async fn every_api_route_answers_the_same_under_v1() {
    let harness = Harness::start("2026-01-05T09:00:00Z", "default").await;
    let keys = keys(&harness).await;
    let secured = harness.secured().await;
    let app = orch_server::router(secured.state.clone());
    let api_rules: Vec<&Rule> = RULES
        .iter()
        .filter(|rule| rule.path.starts_with("/api/"))
        .collect();
    assert!(api_rules.len() > 30, "{api_rules:?}");
    for rule in api_rules {
        let what = format!("{} {}", rule.method, rule.path);
        // Without a credential, and with too small a scope: refused alike.
        let old = answer(send(&app, http_request(rule, None)).await).await;
        let new = answer(send(&app, versioned(rule, None)).await).await;
        assert_eq!(old.0, new.0, "{what} without a credential");
        if let Some(wrong) = keys.wrong(rule.permission()) {
            let old = send(&app, http_request(rule, Some(wrong))).await.status();
            let new = send(&app, versioned(rule, Some(wrong))).await.status();
            assert_eq!(
                (old, new),
                (StatusCode::FORBIDDEN, StatusCode::FORBIDDEN),
                "{what} with the wrong scope"
            );
        }
        // Reads answer the very same; a change is made once, then tried again
        // under v1 (so the route is found and allowed, not 404 or 405).
        let right = Some(keys.right(rule.permission()));
        let old = answer(send(&app, http_request(rule, right)).await).await;
        let new = answer(send(&app, versioned(rule, right)).await).await;
        if rule.method == "GET" && rule.path == "/api/audit" {
            // Every refused call above adds a record to the trail between
            // the two reads: the same answer, one read later.
            assert_eq!(old.0, new.0, "{what}");
            assert_eq!(old.0, StatusCode::OK, "{what}");
        } else if rule.method == "GET" && !rule.path.ends_with("/events") {
            assert_eq!(old, new, "{what}");
        } else {
            assert!(
                !matches!(
                    new.0,
                    StatusCode::UNAUTHORIZED
                        | StatusCode::FORBIDDEN
                        | StatusCode::METHOD_NOT_ALLOWED
                ),
                "{what} under /api/v1 answered {new:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_runs_detail_is_the_same_under_v1_and_the_old_path_names_its_successor() {
    let harness = Harness::start("2026-01-05T09:00:00Z", "default").await;
    let keys = keys(&harness).await;
    let secured = harness.secured().await;
    let app = orch_server::router(secured.state.clone());
    let runs = harness.runs("etl/nightly").await;
    let run = runs.first().expect("the run keys() made");
    for path in [
        format!("/api/flow-runs/{}", run.id),
        "/api/flow-runs?limit=5".to_owned(),
        "/api/deployments/etl/nightly".to_owned(),
    ] {
        let old = send(&app, get(&path, &keys.read)).await;
        let link = old.headers()["link"].to_str().unwrap().to_owned();
        let successor = path.replacen("/api/", "/api/v1/", 1);
        let successor_path = successor.split('?').next().unwrap();
        assert_eq!(
            link,
            format!("<{successor_path}>; rel=\"successor-version\"")
        );
        let old = answer(old).await;
        assert_eq!(old.0, StatusCode::OK, "{path}: {}", old.1);
        assert!(old.1.contains("etl"), "{path}: {}", old.1);
        let new = send(&app, get(&successor, &keys.read)).await;
        assert!(new.headers().get("link").is_none(), "{successor}");
        assert_eq!(answer(new).await, old, "{successor}");
    }
    // An unknown version is not an alias of anything.
    let (status, body) = answer(send(&app, get("/api/v2/flow-runs", &keys.admin)).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}
