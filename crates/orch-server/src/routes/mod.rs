//! Which use case each gRPC method and HTTP route serves.
//!
//! The transports' only table: a rule maps a method and a path pattern
//! (`{name}` matches one segment, `{*name}` the rest, or the segments before
//! the pattern's literal tail) onto a use case of [`crate::ops::use_cases`],
//! which says what the call needs and whether it is audited. The
//! authorization layer (`crate::auth`) and the audit layer (`crate::audit`)
//! read both through [`find`]. A request whose path matches no rule needs
//! `admin` (unknown paths then answer 404 to admins only) and is not
//! audited, so a route or method added without a rule is closed, not open;
//! `tests/suite/auth.rs` fails until it gets one.

mod grpc;

use crate::ops::use_cases::{self as uc, UseCase};

/// Reads an audited gRPC call's target from its request message.
pub type TargetOf = fn(&[u8]) -> String;

/// One rule: an HTTP method (`POST` for every gRPC method), a path pattern,
/// the use case it serves.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// HTTP method.
    pub method: &'static str,
    /// Path pattern.
    pub path: &'static str,
    /// The use case.
    pub use_case: &'static UseCase,
    /// For an audited gRPC method: how to read its target from the request
    /// (a REST call's target is its path's variable segments).
    pub target: Option<TargetOf>,
}

impl Rule {
    /// What the caller needs: the use case's permission.
    pub fn permission(&self) -> orch_core::auth::Permission {
        self.use_case.permission
    }
}

const fn rule(method: &'static str, path: &'static str, use_case: &'static UseCase) -> Rule {
    Rule {
        method,
        path,
        use_case,
        target: None,
    }
}

/// Every rule: the gRPC methods (`/orch.v1.<Service>/<Method>`), then the
/// HTTP routes.
pub const RULES: &[Rule] = {
    const ALL: [Rule; grpc::RULES.len() + HTTP.len()] = {
        let mut all = [HTTP[0]; grpc::RULES.len() + HTTP.len()];
        let mut i = 0;
        while i < grpc::RULES.len() {
            all[i] = grpc::RULES[i];
            i += 1;
        }
        let mut j = 0;
        while j < HTTP.len() {
            all[i + j] = HTTP[j];
            j += 1;
        }
        all
    };
    &ALL
};

/// The HTTP routes.
const HTTP: &[Rule] = &[
    // Probes and version: open, so load balancers and `orch up` can poll them.
    rule("GET", "/healthz", &uc::SERVER_HEALTH),
    rule("GET", "/readyz", &uc::SERVER_HEALTH),
    rule("GET", "/api/health", &uc::SERVER_HEALTH),
    rule("GET", "/api/version", &uc::SERVER_VERSION),
    rule("GET", "/metrics", &uc::SERVER_METRICS),
    // Dashboard login (the login call checks the token itself).
    rule("GET", "/login", &uc::SESSION_LOGIN_PAGE),
    rule("POST", "/api/session", &uc::SESSION_CREATE),
    rule("GET", "/api/session", &uc::SESSION_GET),
    rule("POST", "/api/session/logout", &uc::SESSION_LOGOUT),
    // Dashboard pages and their static files (the data comes from /api).
    rule("GET", "/", &uc::DASHBOARD_PAGE),
    rule("GET", "/flow-runs", &uc::DASHBOARD_PAGE),
    rule("GET", "/flow-runs/{id}", &uc::DASHBOARD_PAGE),
    rule("GET", "/artifacts", &uc::DASHBOARD_PAGE),
    rule("GET", "/artifacts/{key}", &uc::DASHBOARD_PAGE),
    rule("GET", "/deployments", &uc::DASHBOARD_PAGE),
    rule("GET", "/deployments/{*reference}", &uc::DASHBOARD_PAGE),
    rule("GET", "/tokens", &uc::DASHBOARD_ADMIN_PAGE),
    rule("GET", "/audit", &uc::DASHBOARD_ADMIN_PAGE),
    rule("GET", "/work-pools", &uc::DASHBOARD_PAGE),
    rule("GET", "/automations", &uc::DASHBOARD_PAGE),
    rule("GET", "/assets/{file}", &uc::DASHBOARD_ASSET),
    rule("GET", "/favicon.svg", &uc::DASHBOARD_ASSET),
    rule("GET", "/favicon.ico", &uc::DASHBOARD_ASSET),
    // The JSON API.
    rule("GET", "/api/overview", &uc::OVERVIEW_GET),
    rule("GET", "/api/flows", &uc::FLOW_LIST),
    rule("GET", "/api/flow-runs", &uc::FLOW_RUN_LIST),
    rule("GET", "/api/flow-runs/timeline", &uc::FLOW_RUN_TIMELINE),
    rule("GET", "/api/flow-runs/{id}", &uc::FLOW_RUN_VIEW),
    rule("GET", "/api/flow-runs/{id}/logs", &uc::FLOW_RUN_VIEW_LOGS),
    rule(
        "GET",
        "/api/flow-runs/{id}/events",
        &uc::FLOW_RUN_VIEW_EVENTS,
    ),
    rule("POST", "/api/flow-runs/{id}/cancel", &uc::FLOW_RUN_CANCEL),
    rule("POST", "/api/flow-runs/{id}/retry", &uc::FLOW_RUN_RETRY),
    rule("DELETE", "/api/flow-runs", &uc::FLOW_RUN_DELETE),
    rule("DELETE", "/api/flow-runs/{id}", &uc::FLOW_RUN_DELETE),
    rule(
        "POST",
        "/api/flow-runs/{id}/artifacts",
        &uc::ARTIFACT_CREATE,
    ),
    rule("POST", "/api/flow-runs/{id}/emit", &uc::EVENT_EMIT),
    rule("GET", "/api/deployments", &uc::DEPLOYMENT_LIST),
    rule("GET", "/api/deployments/{*reference}", &uc::DEPLOYMENT_GET),
    rule(
        "POST",
        "/api/deployments/{*reference}/runs",
        &uc::DEPLOYMENT_RUN,
    ),
    rule(
        "POST",
        "/api/deployments/{*reference}/pause",
        &uc::DEPLOYMENT_UPDATE,
    ),
    rule(
        "POST",
        "/api/deployments/{*reference}/resume",
        &uc::DEPLOYMENT_UPDATE,
    ),
    rule("GET", "/api/work-pools", &uc::WORK_POOL_LIST),
    rule("GET", "/api/work-pools/{name}", &uc::WORK_POOL_GET),
    rule(
        "POST",
        "/api/work-pools/{name}/pause",
        &uc::WORK_POOL_UPDATE,
    ),
    rule(
        "POST",
        "/api/work-pools/{name}/resume",
        &uc::WORK_POOL_UPDATE,
    ),
    rule("GET", "/api/workers", &uc::WORKER_LIST),
    rule("GET", "/api/artifacts", &uc::ARTIFACT_LIST),
    rule("GET", "/api/artifact-keys", &uc::ARTIFACT_KEYS),
    rule("GET", "/api/artifacts/{key}", &uc::ARTIFACT_GET),
    rule("GET", "/api/artifacts/{key}/series", &uc::ARTIFACT_SERIES),
    rule("GET", "/api/secrets", &uc::SECRET_LIST),
    rule("PUT", "/api/secrets/{name}", &uc::SECRET_SET),
    rule("DELETE", "/api/secrets/{name}", &uc::SECRET_DELETE),
    rule("GET", "/api/audit", &uc::AUDIT_LIST),
    rule("GET", "/api/tokens", &uc::TOKEN_LIST),
    rule("GET", "/api/automations", &uc::AUTOMATION_LIST),
    rule("GET", "/api/automations/{name}", &uc::AUTOMATION_GET),
    rule("DELETE", "/api/automations/{name}", &uc::AUTOMATION_DELETE),
    rule(
        "GET",
        "/api/automations/{name}/history",
        &uc::AUTOMATION_HISTORY,
    ),
    rule(
        "POST",
        "/api/automations/{name}/pause",
        &uc::AUTOMATION_UPDATE,
    ),
    rule(
        "POST",
        "/api/automations/{name}/resume",
        &uc::AUTOMATION_UPDATE,
    ),
];

/// The rule of a request: the one matching its method (HEAD as GET) and
/// path with the most literal segments (`/api/flow-runs/timeline` over
/// `/api/flow-runs/{id}`).
pub fn find(method: &str, path: &str) -> Option<&'static Rule> {
    let method = if method == "HEAD" { "GET" } else { method };
    let mut best: Option<(&Rule, usize)> = None;
    for rule in RULES.iter().filter(|r| r.method == method) {
        if let Some(literal) = matches(rule.path, path)
            && best.is_none_or(|(_, known)| literal > known)
        {
            best = Some((rule, literal));
        }
    }
    best.map(|(rule, _)| rule)
}

/// Whether `path` matches `pattern`; the number of literal segments matched.
pub fn matches(pattern: &str, path: &str) -> Option<usize> {
    let mut literal = 0;
    let mut wanted = pattern.split('/');
    let mut given = path.split('/');
    loop {
        match (wanted.next(), given.next()) {
            (None, None) => return Some(literal),
            (Some(w), Some(g)) if w.starts_with("{*") => {
                // The rest, or the segments before the pattern's literal tail.
                let tail: Vec<&str> = wanted.collect();
                let rest: Vec<&str> = std::iter::once(g).chain(given).collect();
                let head = rest.len().checked_sub(tail.len()).filter(|&n| n > 0)?;
                let (variable, end) = rest.split_at(head);
                return (end == tail.as_slice() && !variable[0].is_empty())
                    .then_some(literal + tail.len());
            }
            (Some(w), Some(g)) if w.starts_with('{') => {
                if g.is_empty() {
                    return None;
                }
            }
            (Some(w), Some(g)) if w == g => literal += 1,
            _ => return None,
        }
    }
}

/// The variable segments of `path` under `pattern` (what a REST call is
/// done to): `f/d` for `/api/deployments/{*reference}/runs` and
/// `/api/deployments/f/d/runs`.
pub fn variables(pattern: &str, path: &str) -> String {
    let wanted: Vec<&str> = pattern.split('/').collect();
    let given: Vec<&str> = path.split('/').collect();
    let mut found = Vec::new();
    for (index, w) in wanted.iter().enumerate() {
        if w.starts_with("{*") {
            let tail = wanted.len() - index - 1;
            let end = given.len().saturating_sub(tail).max(index);
            found.push(given.get(index..end).unwrap_or_default().join("/"));
            break;
        }
        if w.starts_with('{')
            && let Some(g) = given.get(index)
        {
            found.push((*g).to_owned());
        }
    }
    found.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use orch_core::auth::Permission::*;

    fn permission(method: &str, path: &str) -> orch_core::auth::Permission {
        find(method, path).map_or(Admin, Rule::permission)
    }

    #[test]
    fn literal_segments_win_and_unknown_paths_have_no_rule() {
        assert_eq!(permission("GET", "/api/flow-runs/timeline"), Read);
        assert_eq!(permission("POST", "/api/flow-runs/abc/cancel"), Operate);
        assert_eq!(permission("POST", "/api/flow-runs/abc/artifacts"), RunWrite);
        assert_eq!(permission("POST", "/api/deployments/f/d/runs"), Operate);
        assert_eq!(
            find("POST", "/api/deployments/f/d/pause").map(|r| r.use_case.name),
            Some("deployment.update")
        );
        assert!(find("POST", "/api/deployments/runs").is_none());
        assert!(find("POST", "/api/deployments/f/d").is_none());
        assert_eq!(permission("GET", "/api/deployments/f/d"), Read);
        assert_eq!(permission("HEAD", "/healthz"), Open);
        assert!(find("GET", "/nowhere").is_none());
        assert!(find("DELETE", "/api/flow-runs/x").is_some());
        assert_eq!(
            permission("POST", "/orch.v1.WorkerService/ClaimRuns"),
            Worker
        );
        assert_eq!(matches("/api/flow-runs/{id}", "/api/flow-runs/"), None);
    }

    #[test]
    fn a_rest_target_is_the_path_s_variable_segments() {
        assert_eq!(
            variables(
                "/api/deployments/{*reference}/runs",
                "/api/deployments/f/d/runs"
            ),
            "f/d"
        );
        assert_eq!(
            variables("/api/flow-runs/{id}/cancel", "/api/flow-runs/abc/cancel"),
            "abc"
        );
        assert_eq!(variables("/api/flow-runs", "/api/flow-runs"), "");
    }

    #[test]
    fn every_use_case_is_served_by_a_route_or_method() {
        for use_case in uc::USE_CASES {
            assert!(
                RULES.iter().any(|rule| rule.use_case == use_case),
                "use case {} is served by no gRPC method or HTTP route: map one in crate::routes",
                use_case.name
            );
        }
        for rule in RULES {
            assert!(
                uc::USE_CASES.contains(rule.use_case),
                "{} {} serves a use case missing from ops::use_cases::USE_CASES",
                rule.method,
                rule.path
            );
        }
    }
}
