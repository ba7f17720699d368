//! Authentication and authorization on the one port: every gRPC method (from
//! the compiled descriptors) and every HTTP route (from the router's source)
//! has a rule; without a credential each answers 401/Unauthenticated, with
//! the wrong scope 403/PermissionDenied, with the right one neither.

use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use orch_core::StateType;
use orch_core::auth::{Permission, Scope};
use orch_server::auth::rules::{RULES, Rule, matches};
use orch_store::NewToken;
use tower::ServiceExt;

use crate::common::Harness;

pub(crate) const DEPLOYMENT: &str = r#"
[[deployments]]
flow = "etl"
name = "nightly"
entrypoint = ["etl"]
work_pool = "default"
"#;

/// One key per scope, and a run credential.
pub(super) struct Keys {
    pub(super) read: String,
    pub(super) operate: String,
    pub(super) deploy: String,
    pub(super) admin: String,
    pub(super) worker: String,
    /// The credential of a run no request here names.
    pub(super) run: String,
}

pub(crate) async fn token(harness: &Harness, name: &str, scope: Scope, pools: &[&str]) -> String {
    let new = NewToken {
        name: name.into(),
        scope,
        pools: pools.iter().map(|p| p.to_string()).collect(),
        expires_at: None,
    };
    harness
        .store()
        .tokens()
        .create_token(&new)
        .await
        .expect("token")
        .1
}

pub(super) async fn keys(harness: &Harness) -> Keys {
    Keys {
        read: token(harness, "reader", Scope::Read, &[]).await,
        operate: token(harness, "operator", Scope::Operate, &[]).await,
        deploy: token(harness, "deployer", Scope::Deploy, &[]).await,
        admin: token(harness, "root", Scope::Admin, &[]).await,
        worker: token(harness, "worker-a", Scope::Worker, &["default"]).await,
        run: {
            harness.deploy(DEPLOYMENT).await;
            let run = harness
                .store()
                .flow_runs()
                .create_flow_run("etl/nightly", &orch_store::JsonObject::new(), None, "")
                .await
                .expect("a run")
                .value;
            harness
                .store()
                .tokens()
                .create_run_credential(&run.id)
                .await
                .expect("its credential")
        },
    }
}

impl Keys {
    /// A key that lacks `permission` (None: every credential has it).
    pub(super) fn wrong(&self, permission: Permission) -> Option<&str> {
        match permission {
            Permission::Open | Permission::Authenticated => None,
            Permission::Read => Some(&self.worker),
            // Every token may read a run; a run credential only its own.
            Permission::RunRead => Some(&self.run),
            Permission::Operate | Permission::RunWrite | Permission::Worker => Some(&self.read),
            Permission::Deploy => Some(&self.operate),
            Permission::Admin => Some(&self.deploy),
        }
    }

    /// The least key that has `permission`.
    pub(super) fn right(&self, permission: Permission) -> &str {
        match permission {
            Permission::Open | Permission::Authenticated | Permission::Read => &self.read,
            Permission::RunRead => &self.read,
            Permission::Operate => &self.operate,
            Permission::Deploy => &self.deploy,
            // Admin holds every worker right; the worker token's own pool
            // checks are tested below and end to end.
            Permission::Admin | Permission::RunWrite | Permission::Worker => &self.admin,
        }
    }
}

fn grpc_request(path: &str, key: Option<&str>) -> Request<Body> {
    // An empty message: no compression, length 0.
    let mut request = Request::post(path)
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    request.body(Body::from(vec![0u8; 5])).expect("request")
}

pub(super) fn http_request(rule: &Rule, key: Option<&str>) -> Request<Body> {
    let path = concrete(rule.path);
    let mut request = Request::builder()
        .method(rule.method)
        .uri(path)
        .header("content-type", "application/json");
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    let body = if rule.method == "POST" { "{}" } else { "" };
    request.body(Body::from(body)).expect("request")
}

/// A rule for a request to `path`, whatever its use case.
pub(super) fn rule(method: &'static str, path: &'static str) -> Rule {
    Rule {
        method,
        path,
        use_case: &orch_server::ops::use_cases::DASHBOARD_ADMIN_PAGE,
        target: None,
    }
}

/// The route a rule's pattern is served by: `{*name}` takes the rest.
fn route_of(pattern: &str) -> &str {
    match pattern.find("/{*") {
        Some(at) => {
            let end = pattern[at + 1..]
                .find('/')
                .map_or(pattern.len(), |e| at + 1 + e);
            &pattern[..end]
        }
        None => pattern,
    }
}

/// A path matching `pattern`, with made-up names.
fn concrete(pattern: &str) -> String {
    let tail = !pattern.ends_with('}');
    pattern
        .split('/')
        .map(|segment| match segment {
            "{*reference}" if tail => "etl/nightly",
            "{*reference}" => "etl/nightly/runs",
            s if s.starts_with('{') => "no-such-thing",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

pub(crate) fn grpc_code(response: &Response<Body>) -> Option<i32> {
    response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

pub(crate) async fn send(app: &axum::Router, request: Request<Body>) -> Response<Body> {
    app.clone().oneshot(request).await.expect("an answer")
}

#[tokio::test]
async fn every_grpc_method_has_a_rule_and_answers_by_it() {
    let harness = Harness::start("2026-01-05T09:00:00Z", "default").await;
    let keys = keys(&harness).await;
    let secured = harness.secured().await;
    let app = orch_server::router(secured.state.clone());
    let grpc_rules: Vec<&Rule> = RULES
        .iter()
        .filter(|r| r.path.starts_with("/orch."))
        .collect();
    for rule in &grpc_rules {
        assert!(
            orch_proto::GRPC_METHODS.contains(&rule.path),
            "rule for {} names no method of the API",
            rule.path
        );
    }
    assert!(orch_proto::GRPC_METHODS.len() > 40);
    for method in orch_proto::GRPC_METHODS {
        let rule = grpc_rules
            .iter()
            .find(|r| r.path == *method)
            .unwrap_or_else(|| panic!("{method} has no rule in orch_server::auth::rules::RULES"));
        let response = send(&app, grpc_request(method, None)).await;
        assert_eq!(
            grpc_code(&response),
            Some(16),
            "{method} without a credential"
        );
        let response = send(
            &app,
            grpc_request(method, Some("orch_0123456789abcdef_nope")),
        )
        .await;
        assert_eq!(grpc_code(&response), Some(16), "{method} with a bad key");
        if let Some(wrong) = keys.wrong(rule.permission()) {
            let response = send(&app, grpc_request(method, Some(wrong))).await;
            assert_eq!(
                grpc_code(&response),
                Some(7),
                "{method} with the wrong scope"
            );
        }
        let response = send(
            &app,
            grpc_request(method, Some(keys.right(rule.permission()))),
        )
        .await;
        let code = grpc_code(&response);
        assert!(
            !matches!(code, Some(7) | Some(16)),
            "{method} with the right scope answered {code:?}: {:?}",
            response.headers().get("grpc-message")
        );
    }
}

/// `(path, methods)` of every `.route("PATH", get(..).post(..))` in the server's source.
fn routes_in_source() -> Vec<(String, Vec<&'static str>)> {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![src.clone()];
    let mut routes = Vec::new();
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for piece in text.split(".route(").skip(1) {
            let Some(rest) = piece.trim_start().strip_prefix('"') else {
                continue;
            };
            let route = rest.split('"').next().unwrap().to_owned();
            // The call's text, up to its closing parenthesis.
            let mut depth = 1;
            let call: String = piece
                .chars()
                .take_while(|c| {
                    depth += match c {
                        '(' => 1,
                        ')' => -1,
                        _ => 0,
                    };
                    depth > 0
                })
                .collect();
            let methods = ["get", "post", "put", "delete", "patch"]
                .into_iter()
                .filter(|m| call.contains(&format!("{m}(")))
                .collect();
            routes.push((route, methods));
        }
    }
    routes
}

#[tokio::test]
async fn every_http_route_has_a_rule_and_answers_by_it() {
    let harness = Harness::start("2026-01-05T09:00:00Z", "default").await;
    let keys = keys(&harness).await;
    let secured = harness.secured().await;
    let app = orch_server::router(secured.state.clone());
    let routes = routes_in_source();
    assert!(routes.len() > 30, "{routes:?}");
    for (path, methods) in &routes {
        for method in methods {
            let method = method.to_uppercase();
            assert!(
                RULES
                    .iter()
                    .any(|r| route_of(r.path) == path && r.method == method),
                "{method} {path} has no rule in orch_server::auth::rules::RULES"
            );
        }
    }
    for rule in RULES.iter().filter(|r| !r.path.starts_with("/orch.")) {
        assert!(
            routes
                .iter()
                .any(|(path, methods)| path == route_of(rule.path)
                    && methods.iter().any(|m| m.eq_ignore_ascii_case(rule.method))),
            "rule {} {} names no route",
            rule.method,
            rule.path
        );
        let what = format!("{} {}", rule.method, rule.path);
        let page =
            rule.method == "GET" && !rule.path.starts_with("/api/") && rule.path != "/metrics";
        let response = send(&app, http_request(rule, None)).await;
        match rule.permission() {
            Permission::Open => assert_ne!(response.status(), StatusCode::UNAUTHORIZED, "{what}"),
            _ if page => {
                assert_eq!(
                    response.status(),
                    StatusCode::SEE_OTHER,
                    "{what} goes to /login"
                );
                let location = response.headers()["location"].to_str().unwrap();
                assert!(location.starts_with("/login?next="), "{what}: {location}");
            }
            _ => assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}"),
        }
        if let Some(wrong) = keys.wrong(rule.permission()) {
            let response = send(&app, http_request(rule, Some(wrong))).await;
            assert_eq!(
                response.status(),
                StatusCode::FORBIDDEN,
                "{what} with the wrong scope"
            );
        }
        let response = send(
            &app,
            http_request(rule, Some(keys.right(rule.permission()))),
        )
        .await;
        assert!(
            !matches!(
                response.status(),
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
            ),
            "{what} with the right scope answered {}",
            response.status()
        );
    }
    // A path nobody wrote a rule for is closed to all but admins.
    let unknown = rule("GET", "/api/not-yet-written");
    let response = send(&app, http_request(&unknown, Some(&keys.deploy))).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = send(&app, http_request(&unknown, Some(&keys.admin))).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(matches("/api/flow-runs/{id}", "/api/flow-runs/x").is_some());
}

#[tokio::test]
async fn a_run_credential_reaches_its_own_run_until_it_ends_and_a_worker_token_its_pools() {
    let harness = Harness::start("2026-01-05T09:00:00Z", "default").await;
    harness
        .store()
        .work_pools()
        .create_work_pool("other", "process", "", None)
        .await
        .unwrap();
    harness.deploy(DEPLOYMENT).await;
    let (run, worker) = harness.running_run("etl/nightly", "default", "w1").await;
    let other = harness
        .store()
        .flow_runs()
        .create_flow_run("etl/nightly", &orch_store::JsonObject::new(), None, "")
        .await
        .unwrap()
        .value;
    let run_key = harness
        .store()
        .tokens()
        .create_run_credential(&run.id)
        .await
        .unwrap();
    let secured = harness.secured().await;
    let app = orch_server::router(secured.state.clone());
    let publish = |id: &str, key: &str| {
        Request::post(format!("/api/flow-runs/{id}/artifacts"))
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(Body::from(r##"{"kind": "markdown", "data": "# hi"}"##))
            .unwrap()
    };
    assert_eq!(
        send(&app, publish(&run.id, &run_key)).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        send(&app, publish(&other.id, &run_key)).await.status(),
        StatusCode::FORBIDDEN
    );
    let read = rule("GET", "/api/flow-runs");
    assert_eq!(
        send(&app, http_request(&read, Some(&run_key)))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );

    // A worker token of pool `other` may not act for a worker of `default`.
    let elsewhere = token(&harness, "worker-other", Scope::Worker, &["other"]).await;
    let heartbeat = Request::post("/orch.v1.WorkerService/Heartbeat")
        .header("content-type", "application/grpc")
        .header("authorization", format!("Bearer {elsewhere}"))
        .body(Body::from(grpc_frame(&orch_proto::v1::HeartbeatRequest {
            worker_id: worker.id.clone(),
            running_flow_run_ids: vec![],
        })))
        .unwrap();
    let response = send(&app, heartbeat).await;
    assert_eq!(grpc_code(&response), Some(7));

    // Nor report on its runs: checked as the store reads the run for the
    // write. A worker token of `default` may.
    let report = |key: &str, kind: orch_proto::v1::StateType| {
        Request::post("/orch.v1.FlowRunService/SetFlowRunState")
            .header("content-type", "application/grpc")
            .header("authorization", format!("Bearer {key}"))
            .body(Body::from(grpc_frame(
                &orch_proto::v1::SetFlowRunStateRequest {
                    flow_run_id: run.id.clone(),
                    state: Some(orch_proto::v1::State {
                        r#type: kind as i32,
                        ..Default::default()
                    }),
                    worker_id: worker.id.clone(),
                    ..Default::default()
                },
            )))
            .unwrap()
    };
    let state_of = || async {
        harness
            .store()
            .flow_runs()
            .flow_run(&run.id)
            .await
            .unwrap()
            .state
            .kind
    };
    let response = send(&app, report(&elsewhere, orch_proto::v1::StateType::Failed)).await;
    assert_eq!(grpc_code(&response), Some(7));
    assert_eq!(state_of().await, StateType::Running, "nothing written");
    let here = token(&harness, "worker-here", Scope::Worker, &["default"]).await;
    let response = send(&app, report(&here, orch_proto::v1::StateType::Completed)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(state_of().await, StateType::Completed);

    let response = send(&app, publish(&run.id, &run_key)).await;
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "the run has ended"
    );
}

pub(crate) fn grpc_frame(message: &impl prost::Message) -> Vec<u8> {
    let body = message.encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    frame
}

#[test]
fn a_rule_under_a_wildcard_is_served_by_the_wildcard_s_route() {
    assert_eq!(
        route_of("/api/deployments/{*reference}/runs"),
        "/api/deployments/{*reference}"
    );
    assert_eq!(route_of("/api/flow-runs/{id}"), "/api/flow-runs/{id}");
    assert_eq!(
        concrete("/api/deployments/{*reference}/runs"),
        "/api/deployments/etl/nightly/runs"
    );
}
