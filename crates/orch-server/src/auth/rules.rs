//! The one table of what every gRPC method and HTTP route needs.
//!
//! A request whose path matches no rule needs `admin` (and unknown paths
//! then answer 404 to admins only), so a route or method added without a
//! rule is closed, not open; `tests/auth.rs` fails until it gets one.
//! Checks that need the request body (which run, which pool) are made by
//! the handler with `Caller::may_use_run` / `Caller::may_use_pool`.

use orch_core::auth::Permission::{self, *};

/// One rule: an HTTP method (`POST` for every gRPC method), a path pattern
/// (`{name}` matches one segment, `{*name}` the rest), what it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// HTTP method.
    pub method: &'static str,
    /// Path pattern.
    pub path: &'static str,
    /// What the caller needs.
    pub permission: Permission,
}

const fn rule(method: &'static str, path: &'static str, permission: Permission) -> Rule {
    Rule {
        method,
        path,
        permission,
    }
}

const fn grpc(path: &'static str, permission: Permission) -> Rule {
    rule("POST", path, permission)
}

/// Every rule. gRPC paths are `/orch.v1.<Service>/<Method>`.
pub const RULES: &[Rule] = &[
    // ArtifactService
    grpc("/orch.v1.ArtifactService/CreateArtifact", RunWrite),
    grpc("/orch.v1.ArtifactService/ListArtifacts", Read),
    grpc("/orch.v1.ArtifactService/GetArtifact", Read),
    grpc("/orch.v1.ArtifactService/GetArtifactSeries", Read),
    // AutomationService (a flow's per-run credential may emit its own run's events)
    grpc("/orch.v1.AutomationService/ApplyAutomations", Deploy),
    grpc("/orch.v1.AutomationService/ListAutomations", Read),
    grpc("/orch.v1.AutomationService/GetAutomation", Read),
    grpc("/orch.v1.AutomationService/SetAutomationPaused", Operate),
    grpc("/orch.v1.AutomationService/DeleteAutomation", Admin),
    grpc("/orch.v1.AutomationService/AutomationHistory", Read),
    grpc("/orch.v1.AutomationService/EmitEvent", RunWrite),
    // ConcurrencyLimitService
    grpc(
        "/orch.v1.ConcurrencyLimitService/CreateConcurrencyLimit",
        Admin,
    ),
    grpc(
        "/orch.v1.ConcurrencyLimitService/ListConcurrencyLimits",
        Read,
    ),
    grpc("/orch.v1.ConcurrencyLimitService/GetConcurrencyLimit", Read),
    grpc(
        "/orch.v1.ConcurrencyLimitService/DeleteConcurrencyLimit",
        Admin,
    ),
    grpc(
        "/orch.v1.ConcurrencyLimitService/AcquireConcurrencySlots",
        RunWrite,
    ),
    grpc(
        "/orch.v1.ConcurrencyLimitService/ReleaseConcurrencySlots",
        RunWrite,
    ),
    // DeploymentService
    grpc("/orch.v1.DeploymentService/ApplyDeployments", Deploy),
    grpc("/orch.v1.DeploymentService/ListDeployments", Read),
    grpc("/orch.v1.DeploymentService/GetDeployment", Read),
    grpc("/orch.v1.DeploymentService/UpdateDeployment", Operate),
    grpc("/orch.v1.DeploymentService/DeleteDeployment", Admin),
    grpc("/orch.v1.DeploymentService/ListFlows", Read),
    grpc("/orch.v1.DeploymentService/RunDeployment", Operate),
    // FlowRunService
    grpc("/orch.v1.FlowRunService/ListFlowRuns", Read),
    grpc("/orch.v1.FlowRunService/GetFlowRun", RunRead),
    grpc("/orch.v1.FlowRunService/SetFlowRunState", RunWrite),
    grpc("/orch.v1.FlowRunService/CancelFlowRun", Operate),
    grpc("/orch.v1.FlowRunService/RetryFlowRun", Operate),
    // Deleting run history, like pruning, is for admins.
    grpc("/orch.v1.FlowRunService/DeleteFlowRuns", Admin),
    grpc("/orch.v1.FlowRunService/WriteLogs", RunWrite),
    grpc("/orch.v1.FlowRunService/ReadLogs", RunRead),
    grpc("/orch.v1.FlowRunService/WatchFlowRun", RunRead),
    // A flow's subflow run: the handler holds a run credential to its own run.
    grpc("/orch.v1.FlowRunService/CreateSubflowRun", RunWrite),
    // ScheduleService
    grpc("/orch.v1.ScheduleService/ListSchedules", Read),
    grpc("/orch.v1.ScheduleService/CreateSchedule", Deploy),
    grpc("/orch.v1.ScheduleService/UpdateSchedule", Operate),
    grpc("/orch.v1.ScheduleService/DeleteSchedule", Deploy),
    grpc("/orch.v1.ScheduleService/GetUpcomingRuns", Read),
    // SecretService (names and times only ever leave the server, never values)
    grpc("/orch.v1.SecretService/SetSecret", Admin),
    grpc("/orch.v1.SecretService/ListSecrets", Read),
    grpc("/orch.v1.SecretService/DeleteSecret", Admin),
    // AuditService
    grpc("/orch.v1.AuditService/ListAudit", Admin),
    // ServerService
    grpc("/orch.v1.ServerService/GetStatus", Read),
    grpc("/orch.v1.ServerService/Prune", Admin),
    // A login link for the caller's own token: whoever may use the dashboard.
    grpc("/orch.v1.ServerService/CreateLoginLink", Read),
    // TaskRunService
    grpc("/orch.v1.TaskRunService/ReportTaskRuns", RunWrite),
    grpc("/orch.v1.TaskRunService/ListTaskRuns", RunRead),
    // TokenService
    grpc("/orch.v1.TokenService/CreateToken", Admin),
    grpc("/orch.v1.TokenService/ListTokens", Admin),
    grpc("/orch.v1.TokenService/RevokeToken", Admin),
    // WorkPoolService (changing a pool's concurrency limit needs admin: the handler checks)
    grpc("/orch.v1.WorkPoolService/CreateWorkPool", Admin),
    grpc("/orch.v1.WorkPoolService/ListWorkPools", Read),
    grpc("/orch.v1.WorkPoolService/GetWorkPool", Read),
    grpc("/orch.v1.WorkPoolService/UpdateWorkPool", Operate),
    grpc("/orch.v1.WorkPoolService/DeleteWorkPool", Admin),
    // WorkerService (the handler holds worker tokens to their pools)
    grpc("/orch.v1.WorkerService/RegisterWorker", Worker),
    grpc("/orch.v1.WorkerService/Heartbeat", Worker),
    grpc("/orch.v1.WorkerService/Subscribe", Worker),
    grpc("/orch.v1.WorkerService/ClaimRuns", Worker),
    grpc("/orch.v1.WorkerService/ListWorkers", Read),
    grpc("/orch.v1.WorkerService/DeregisterWorker", Worker),
    // Probes and version: open, so load balancers and `orch up` can poll them.
    rule("GET", "/healthz", Open),
    rule("GET", "/readyz", Open),
    rule("GET", "/api/health", Open),
    rule("GET", "/api/version", Open),
    rule("GET", "/metrics", Read),
    // Dashboard login (the login call checks the token itself).
    rule("GET", "/login", Open),
    rule("POST", "/api/session", Open),
    rule("GET", "/api/session", Authenticated),
    rule("POST", "/api/session/logout", Authenticated),
    // Dashboard pages and their static files (the data comes from /api).
    rule("GET", "/", Read),
    rule("GET", "/flow-runs", Read),
    rule("GET", "/flow-runs/{id}", Read),
    rule("GET", "/artifacts", Read),
    rule("GET", "/artifacts/{key}", Read),
    rule("GET", "/deployments", Read),
    rule("GET", "/deployments/{*reference}", Read),
    rule("GET", "/tokens", Admin),
    rule("GET", "/audit", Admin),
    rule("GET", "/work-pools", Read),
    rule("GET", "/automations", Read),
    rule("GET", "/assets/{file}", Open),
    rule("GET", "/favicon.svg", Open),
    rule("GET", "/favicon.ico", Open),
    // The JSON API.
    rule("GET", "/api/overview", Read),
    rule("GET", "/api/flows", Read),
    rule("GET", "/api/flow-runs", Read),
    rule("GET", "/api/flow-runs/timeline", Read),
    rule("GET", "/api/flow-runs/{id}", Read),
    rule("GET", "/api/flow-runs/{id}/logs", Read),
    rule("GET", "/api/flow-runs/{id}/events", Read),
    rule("POST", "/api/flow-runs/{id}/cancel", Operate),
    rule("POST", "/api/flow-runs/{id}/retry", Operate),
    rule("DELETE", "/api/flow-runs", Admin),
    rule("DELETE", "/api/flow-runs/{id}", Admin),
    rule("POST", "/api/flow-runs/{id}/artifacts", RunWrite),
    rule("GET", "/api/deployments", Read),
    rule("GET", "/api/deployments/{*reference}", Read),
    // Run, pause and resume (`.../runs`, `.../pause`, `.../resume`).
    rule("POST", "/api/deployments/{*reference}", Operate),
    rule("GET", "/api/work-pools", Read),
    rule("GET", "/api/work-pools/{name}", Read),
    rule("POST", "/api/work-pools/{name}/pause", Operate),
    rule("POST", "/api/work-pools/{name}/resume", Operate),
    rule("GET", "/api/workers", Read),
    rule("GET", "/api/artifacts", Read),
    rule("GET", "/api/artifact-keys", Read),
    rule("GET", "/api/artifacts/{key}", Read),
    rule("GET", "/api/artifacts/{key}/series", Read),
    rule("GET", "/api/secrets", Read),
    rule("PUT", "/api/secrets/{name}", Admin),
    rule("DELETE", "/api/secrets/{name}", Admin),
    rule("GET", "/api/audit", Admin),
    rule("GET", "/api/tokens", Admin),
    rule("POST", "/api/flow-runs/{id}/emit", RunWrite),
    rule("GET", "/api/automations", Read),
    rule("GET", "/api/automations/{name}", Read),
    rule("DELETE", "/api/automations/{name}", Admin),
    rule("GET", "/api/automations/{name}/history", Read),
    rule("POST", "/api/automations/{name}/pause", Operate),
    rule("POST", "/api/automations/{name}/resume", Operate),
];

/// What a request needs: the first rule matching its method and path (HEAD
/// as GET); `admin` when none does.
pub fn permission(method: &str, path: &str) -> Permission {
    let method = if method == "HEAD" { "GET" } else { method };
    // Literal segments win over `{...}` ones (`/api/flow-runs/timeline`).
    let mut best: Option<(&Rule, usize)> = None;
    for rule in RULES.iter().filter(|r| r.method == method) {
        if let Some(literal) = matches(rule.path, path)
            && best.is_none_or(|(_, known)| literal > known)
        {
            best = Some((rule, literal));
        }
    }
    best.map_or(Admin, |(rule, _)| rule.permission)
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
                return (!g.is_empty()).then_some(literal);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_segments_win_and_unknown_paths_need_admin() {
        assert_eq!(permission("GET", "/api/flow-runs/timeline"), Read);
        assert_eq!(permission("POST", "/api/flow-runs/abc/cancel"), Operate);
        assert_eq!(permission("POST", "/api/flow-runs/abc/artifacts"), RunWrite);
        assert_eq!(permission("POST", "/api/deployments/f/d/runs"), Operate);
        assert_eq!(permission("HEAD", "/healthz"), Open);
        assert_eq!(permission("GET", "/nowhere"), Admin);
        assert_eq!(permission("DELETE", "/api/flow-runs/x"), Admin);
        assert_eq!(
            permission("POST", "/orch.v1.WorkerService/ClaimRuns"),
            Worker
        );
        assert_eq!(matches("/api/flow-runs/{id}", "/api/flow-runs/"), None);
    }
}
