//! Every use case of the server, declared once: its name, what its caller
//! needs, whether the audit trail records it, and the function that does it.
//!
//! The transports map onto this table: each gRPC method and each HTTP route
//! names the use case it serves (`crate::routes::RULES`). The authorization
//! layer (`crate::auth`) takes a call's permission from its use case, and
//! the audit layer (`crate::audit`) its action and whether to record it, so
//! the two cannot disagree and a transport cannot add a rule of its own.
//!
//! Checks that need the request itself are made by the use case's function:
//! a `RunRead`/`RunWrite` use case is open to a worker token for runs of its
//! pools and to a flow's per-run credential for its own run only, and its
//! function checks which run with [`super::access::run`] (a worker use case
//! checks the pool or worker with [`super::access::pool`] /
//! [`super::access::worker`]).
//!
//! A use case's name is its audit action (`flow-run.cancel`), shown in
//! `orch audit ls`. To add a use case: add a line here, write its function in
//! `ops/`, map its gRPC method or route in `crate::routes`, and test it.

use orch_core::auth::Permission::{self, *};

/// One use case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UseCase {
    /// Its name, and its action in the audit trail (`flow-run.cancel`).
    pub name: &'static str,
    /// What its caller needs (checked by the authentication layer). `RunRead`
    /// and `RunWrite` admit a flow's own run credential for its own run and a
    /// worker token for runs of its pools: the function checks which run.
    pub permission: Permission,
    /// Whether the audit trail records it.
    pub audit: Audit,
    /// What does it: a function of `ops/`, or the transport's own handler
    /// for what only serves bytes (pages, probes, the login page).
    pub function: Function,
}

/// Whether a use case is recorded in the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audit {
    /// Every call, refused or not, under the use case's name.
    Always,
    /// Calls made by hand: by a token that is neither a run's own credential
    /// nor a worker token (an admin marking a run Cancelled). Made by those,
    /// it is the runtime protocol between workers, flows and the server:
    /// many calls per run, already kept as each run's state history.
    ByHand,
    /// Never, for the reason given.
    Never(&'static str),
}

/// Where a use case is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// A function of the application layer (path under `ops::`).
    Ops(&'static str),
    /// A handler of the transport that only serves bytes (path under `crate::`).
    Transport(&'static str),
}

/// Names a function of `ops/`, checked by the compiler.
macro_rules! ops {
    ($($path:ident)::+) => {{
        const _: () = {
            let _ = super::$($path)::+;
        };
        Function::Ops(stringify!($($path)::+))
    }};
}

macro_rules! use_cases {
    ($($(#[$doc:meta])* $konst:ident: $name:literal, $permission:ident, $audit:expr, $function:expr;)*) => {
        $(
            $(#[$doc])*
            pub const $konst: UseCase = UseCase {
                name: $name,
                permission: $permission,
                audit: $audit,
                function: $function,
            };
        )*
        /// Every use case.
        pub const USE_CASES: &[UseCase] = &[$($konst),*];
    };
}

const READ: Audit = Audit::Never("a read changes nothing");
const LIVENESS: Audit =
    Audit::Never("a worker's liveness and polling; a claim is in the run's state history");

use Audit::{Always, ByHand};
use Function::Transport;

use_cases! {
    // Flow runs
    /// A page of runs (filters, a cursor): gRPC `ListFlowRuns` and
    /// `GET /api/flow-runs` alike.
    FLOW_RUN_LIST: "flow-run.list", Read, READ, ops!(run_reads::list);
    /// One run with its history, task runs and subflow runs.
    FLOW_RUN_GET: "flow-run.get", RunRead, READ, ops!(flow_runs::detail);
    /// A page of a run's log lines.
    FLOW_RUN_READ_LOGS: "flow-run.read-logs", RunRead, READ, ops!(run_reads::logs);
    /// A run's states and log lines as they happen (gRPC stream).
    FLOW_RUN_WATCH: "flow-run.watch", RunRead, READ, ops!(run_reads::run);
    /// The JSON API's run view (readers only).
    FLOW_RUN_VIEW: "flow-run.view", Read, READ, ops!(flow_runs::detail);
    /// The JSON API's log pages (readers only).
    FLOW_RUN_VIEW_LOGS: "flow-run.view-logs", Read, READ, ops!(run_reads::logs);
    /// The dashboard's live run events (server-sent events; readers only).
    FLOW_RUN_VIEW_EVENTS: "flow-run.view-events", Read, READ, ops!(run_reads::run);
    /// Runs per time bucket, for the dashboard.
    FLOW_RUN_TIMELINE: "flow-run.timeline", Read, READ, ops!(run_reads::timeline);
    /// A worker's or flow's state report (the runtime protocol), or an
    /// admin's by hand.
    FLOW_RUN_SET_STATE: "flow-run.set-state", RunWrite, ByHand, ops!(flow_runs::set_state);
    /// Several state reports in one call (a worker's), each checked and
    /// applied as `FLOW_RUN_SET_STATE`.
    FLOW_RUN_SET_STATES: "flow-run.set-states", RunWrite, ByHand, ops!(flow_runs::set_states);
    /// Cancels a run.
    FLOW_RUN_CANCEL: "flow-run.cancel", Operate, Always, ops!(flow_runs::cancel);
    /// Runs a finished run's deployment again.
    FLOW_RUN_RETRY: "flow-run.retry", Operate, Always, ops!(flow_runs::retry);
    /// Deletes finished runs by id, or by filter (`flow_runs::delete_matching`).
    FLOW_RUN_DELETE: "flow-run.delete", Admin, Always, ops!(flow_runs::delete);
    /// Stores a run's log lines.
    FLOW_RUN_WRITE_LOGS: "flow-run.write-logs", RunWrite,
        Audit::Never("log lines are data, not state, many per second; each keeps its emitter"),
        ops!(flow_runs::write_logs);
    /// A flow calls another flow: a run of its own, linked to its parent.
    FLOW_RUN_CREATE_SUBFLOW: "flow-run.create-subflow", RunWrite, ByHand, ops!(subflows::create);
    // Task runs
    /// A flow reports its task runs.
    TASK_RUN_REPORT: "task-run.report", RunWrite, ByHand, ops!(task_runs::report);
    /// A run's task runs.
    TASK_RUN_LIST: "task-run.list", RunRead, READ, ops!(task_runs::list);
    // Artifacts
    /// Publishes an artifact of a run.
    ARTIFACT_CREATE: "artifact.create", RunWrite, ByHand, ops!(artifacts::publish);
    /// Lists artifacts.
    ARTIFACT_LIST: "artifact.list", Read, READ, ops!(artifacts::list);
    /// The latest artifact of a key.
    ARTIFACT_GET: "artifact.get", Read, READ, ops!(artifacts::get);
    /// Every version of a key.
    ARTIFACT_SERIES: "artifact.series", Read, READ, ops!(artifacts::series);
    /// The artifact keys.
    ARTIFACT_KEYS: "artifact.keys", Read, READ, ops!(artifacts::keys);
    // Deployments
    /// Registers or updates deployments from a deploy file.
    DEPLOYMENT_APPLY: "deployment.apply", Deploy, Always, ops!(deployments::apply);
    /// Lists deployments.
    DEPLOYMENT_LIST: "deployment.list", Read, READ, ops!(deployments::list);
    /// One deployment.
    DEPLOYMENT_GET: "deployment.get", Read, READ, ops!(deployments::get);
    /// Pauses or resumes a deployment.
    DEPLOYMENT_UPDATE: "deployment.update", Operate, Always, ops!(deployments::set_paused);
    /// Deletes a deployment.
    DEPLOYMENT_DELETE: "deployment.delete", Admin, Always, ops!(deployments::delete);
    /// Creates a run of a deployment now or at a time.
    DEPLOYMENT_RUN: "deployment.run", Operate, Always, ops!(deployments::run_traced);
    /// The flows that have deployments.
    FLOW_LIST: "flow.list", Read, READ, ops!(deployments::flows);
    // Schedules
    /// Lists a deployment's schedules.
    SCHEDULE_LIST: "schedule.list", Read, READ, ops!(schedules::list);
    /// Adds a schedule.
    SCHEDULE_CREATE: "schedule.create", Deploy, Always, ops!(schedules::add);
    /// Activates or deactivates a schedule.
    SCHEDULE_UPDATE: "schedule.update", Operate, Always, ops!(schedules::set_active);
    /// Deletes a schedule.
    SCHEDULE_DELETE: "schedule.delete", Deploy, Always, ops!(schedules::delete);
    /// The next runs the schedules will make.
    SCHEDULE_UPCOMING: "schedule.upcoming", Read, READ, ops!(schedules::upcoming);
    // Work pools and workers
    /// Creates a work pool.
    WORK_POOL_CREATE: "work-pool.create", Admin, Always, ops!(work_pools::create);
    /// Lists work pools.
    WORK_POOL_LIST: "work-pool.list", Read, READ, ops!(work_pools::list);
    /// One work pool.
    WORK_POOL_GET: "work-pool.get", Read, READ, ops!(work_pools::get);
    /// Pauses or resumes a pool; changing its concurrency limit needs admin
    /// (the function checks).
    WORK_POOL_UPDATE: "work-pool.update", Operate, Always, ops!(work_pools::update);
    /// Deletes a work pool.
    WORK_POOL_DELETE: "work-pool.delete", Admin, Always, ops!(work_pools::delete);
    /// A worker joins a pool (a worker token: one of its pools).
    WORKER_REGISTER: "worker.register", Worker, ByHand, ops!(workers::register);
    /// A worker renews its lease.
    WORKER_HEARTBEAT: "worker.heartbeat", Worker, LIVENESS, ops!(workers::heartbeat);
    /// A worker waits for work (gRPC stream).
    WORKER_SUBSCRIBE: "worker.subscribe", Worker, LIVENESS, ops!(workers::subscribe);
    /// A worker claims runs.
    WORKER_CLAIM: "worker.claim", Worker, LIVENESS, ops!(workers::claim);
    /// Lists workers.
    WORKER_LIST: "worker.list", Read, READ, ops!(work_pools::workers);
    /// A worker leaves.
    WORKER_DEREGISTER: "worker.deregister", Worker, ByHand, ops!(workers::deregister);
    // Concurrency limits
    /// Sets a tag's concurrency limit.
    CONCURRENCY_LIMIT_SET: "concurrency-limit.set", Admin, Always, ops!(concurrency::set_limit);
    /// Lists concurrency limits.
    CONCURRENCY_LIMIT_LIST: "concurrency-limit.list", Read, READ, ops!(concurrency::list);
    /// One concurrency limit.
    CONCURRENCY_LIMIT_GET: "concurrency-limit.get", Read, READ, ops!(concurrency::get);
    /// Deletes a concurrency limit.
    CONCURRENCY_LIMIT_DELETE: "concurrency-limit.delete", Admin, Always, ops!(concurrency::delete);
    /// A task takes slots of its tags' limits.
    CONCURRENCY_LIMIT_ACQUIRE: "concurrency-limit.acquire", RunWrite, ByHand, ops!(concurrency::acquire);
    /// A task gives its slots back.
    CONCURRENCY_LIMIT_RELEASE: "concurrency-limit.release", RunWrite, ByHand, ops!(concurrency::release);
    // Automations and events
    /// Registers or updates automations.
    AUTOMATION_APPLY: "automation.apply", Deploy, Always, ops!(automations::apply);
    /// Lists automations.
    AUTOMATION_LIST: "automation.list", Read, READ, ops!(automations::list);
    /// One automation.
    AUTOMATION_GET: "automation.get", Read, READ, ops!(automations::get);
    /// Pauses or resumes an automation.
    AUTOMATION_UPDATE: "automation.update", Operate, Always, ops!(automations::set_paused);
    /// Deletes an automation.
    AUTOMATION_DELETE: "automation.delete", Admin, Always, ops!(automations::delete);
    /// What an automation did.
    AUTOMATION_HISTORY: "automation.history", Read, READ, ops!(automations::history);
    /// A flow emits an event of its own run.
    EVENT_EMIT: "event.emit", RunWrite, ByHand, ops!(automations::emit);
    // Secrets (names and times only ever leave the server, never values)
    /// Sets a secret.
    SECRET_SET: "secret.set", Admin, Always, ops!(secrets::set);
    /// Lists secrets' names.
    SECRET_LIST: "secret.list", Read, READ, ops!(secrets::list);
    /// Deletes a secret.
    SECRET_DELETE: "secret.delete", Admin, Always, ops!(secrets::delete);
    // Tokens, audit, server
    /// Creates a token.
    TOKEN_CREATE: "token.create", Admin, Always, ops!(tokens::create);
    /// Lists tokens.
    TOKEN_LIST: "token.list", Admin, READ, ops!(tokens::list);
    /// Revokes a token.
    TOKEN_REVOKE: "token.revoke", Admin, Always, ops!(tokens::revoke);
    /// Reads the audit trail.
    AUDIT_LIST: "audit.list", Admin, READ, ops!(audit::list);
    /// The server's status (version, database, replicas, duties).
    SERVER_STATUS: "server.status", Read, READ, ops!(server::status);
    /// Deletes old runs, logs and records now.
    SERVER_PRUNE: "server.prune", Admin, Always, ops!(server::prune);
    /// A one-time dashboard login link for the caller's own token.
    LOGIN_LINK_CREATE: "login-link.create", Read, Always, ops!(server::login_code);
    /// The dashboard's overview figures.
    OVERVIEW_GET: "overview.get", Read, READ, ops!(overview::overview);
    // Served by the transport alone
    /// Liveness and readiness probes, for load balancers and `orch up`.
    SERVER_HEALTH: "server.health", Open, READ, Transport("health");
    /// The server's version.
    SERVER_VERSION: "server.version", Open, READ, Transport("http::version");
    /// Prometheus metrics.
    SERVER_METRICS: "server.metrics", Read, READ, Transport("metrics::handler");
    /// The dashboard's login page.
    SESSION_LOGIN_PAGE: "session.login-page", Open, READ, Transport("auth::session::login_page");
    /// A dashboard login with a token or a one-time code (the call checks
    /// the credential itself; recorded under the token's name).
    SESSION_CREATE: "session.create", Open, Always, Transport("auth::session::login");
    /// Who the dashboard is logged in as.
    SESSION_GET: "session.get", Authenticated, READ, Transport("auth::session::whoami");
    /// A dashboard logout.
    SESSION_LOGOUT: "session.logout", Authenticated, Always, Transport("auth::session::logout");
    /// A dashboard page (its data comes from the JSON API).
    DASHBOARD_PAGE: "dashboard.page", Read, READ, Transport("dashboard");
    /// A dashboard page of admin data (tokens, the audit trail).
    DASHBOARD_ADMIN_PAGE: "dashboard.admin-page", Admin, READ, Transport("dashboard");
    /// The dashboard's static files.
    DASHBOARD_ASSET: "dashboard.asset", Open, READ, Transport("dashboard::assets");
}

/// The use case named `name`.
pub fn find(name: &str) -> Option<&'static UseCase> {
    USE_CASES.iter().find(|use_case| use_case.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_actions() {
        let mut names: Vec<&str> = USE_CASES.iter().map(|u| u.name).collect();
        names.sort_unstable();
        let count = names.len();
        names.dedup();
        assert_eq!(names.len(), count, "a use case name is used twice");
        for name in names {
            let (resource, verb) = name.split_once('.').expect("resource.verb");
            assert!(
                !resource.is_empty()
                    && !verb.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c == '-' || c == '.'),
                "{name}: a use case is named resource.verb in lower case"
            );
        }
        assert_eq!(find("flow-run.cancel"), Some(&FLOW_RUN_CANCEL));
    }

    #[test]
    fn changes_say_whether_they_are_audited() {
        for use_case in USE_CASES {
            if let Audit::Never(reason) = use_case.audit {
                assert!(!reason.is_empty(), "{}: say why", use_case.name);
            }
        }
        assert_eq!(FLOW_RUN_SET_STATE.audit, Audit::ByHand);
        assert_eq!(FLOW_RUN_CANCEL.permission, Operate);
    }
}
