//! Helpers shared by the HTTP-facing tests (API, metrics, dashboard): a JSON
//! client for the server's REST API and a server with one SDK deployment.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use orch_e2e::{Daemon, TestServer, deployment_toml};
use serde_json::Value;

/// The SDK test flows binary.
pub const TESTFLOWS: &str = env!("CARGO_BIN_EXE_orch-testflows");
/// Bound on every wait for a run to move.
pub const WAIT: Duration = Duration::from_secs(60);

/// A JSON client of one server's REST API.
pub struct Api {
    base: String,
    client: reqwest::Client,
    /// Sent as `authorization: Bearer KEY`.
    key: Option<String>,
}

/// A response: status code and parsed body (`Value::Null` when not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub text: String,
}

impl Reply {
    /// The body's `error` message; panics with the reply if there is none.
    pub fn error(&self) -> &str {
        self.body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no JSON error message in {self:?}"))
    }
}

impl Api {
    /// A client of `server`, with its admin key.
    pub fn new(server: &TestServer) -> Api {
        Api {
            base: server.url().to_string(),
            client: reqwest::Client::new(),
            key: Some(server.admin_key()),
        }
    }

    /// A client of `server` sending `key` (None: no credential).
    pub fn with_key(server: &TestServer, key: Option<&str>) -> Api {
        Api {
            key: key.map(str::to_owned),
            ..Api::new(server)
        }
    }

    /// The key it sends.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    async fn reply(response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let text = response.text().await.expect("response body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, body, text }
    }

    /// GET `path`.
    pub async fn get(&self, path: &str) -> Reply {
        let response = self
            .authorized(self.client.get(format!("{}{path}", self.base)))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        Self::reply(response).await
    }

    /// GET `path`, which must answer 200; returns the JSON body.
    pub async fn ok(&self, path: &str) -> Value {
        let reply = self.get(path).await;
        assert_eq!(reply.status, 200, "GET {path}: {}", reply.text);
        reply.body
    }

    /// POST a body to `path` as JSON (state-changing calls take JSON only).
    pub async fn post(&self, path: &str, body: &str) -> Reply {
        let response = self
            .authorized(self.client.post(format!("{}{path}", self.base)))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        Self::reply(response).await
    }

    /// Polls the run (bounded) until its state type is one of `states`; returns the detail.
    pub async fn wait_for_state(&self, run_id: &str, states: &[&str]) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let detail = self.ok(&format!("/api/flow-runs/{run_id}")).await;
            let state = detail["state"]["type"].as_str().unwrap_or_default();
            if states.contains(&state) {
                return detail;
            }
            assert!(
                Instant::now() < deadline,
                "run {run_id} is still {state} after {WAIT:?}, expected {states:?}: {detail:#}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A server with pool `pool`, a worker on it, and deployments `web/FLOW`
/// running `orch-testflows FLOW` for each `(flow, extra toml)`.
pub fn server_with(flows: &[(&str, &str)]) -> (TestServer, Daemon, tempfile::TempDir) {
    let server = TestServer::start_for(crate::BACKEND);
    let toml: String = flows
        .iter()
        .map(|(flow, extra)| deployment_toml("web", flow, "pool", &[TESTFLOWS, flow], extra))
        .collect();
    let dir = server.deploy("pool", &toml);
    let worker = server.start_worker("pool", &[]);
    (server, worker, dir)
}
