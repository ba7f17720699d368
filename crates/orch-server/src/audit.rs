//! The audit trail, recorded in one place: a layer in front of every route
//! that knows which calls change something and what they change.
//!
//! Why a layer rather than the application layer: the layer sees every call
//! of both transports, with its caller (`Caller`, set by authentication) and
//! its outcome (refusals included), and a route or RPC added later cannot
//! forget to record. [`classify`] decides, for each gRPC method, whether it is
//! a read, an audited change, or part of the runtime protocol between
//! workers, flows and the server (claims, heartbeats, state reports, logs,
//! task runs, slots): those are many per run, are already recorded as the
//! run's state history, and would drown the trail. A test checks that every
//! method of `proto/` is classified, so a new RPC cannot go unnoticed. Every
//! REST call that is not a GET is audited.
//!
//! A use case that writes in a transaction may carry its call's record into
//! it ([`Pending`], found in the request's extensions): the record is then
//! committed with the change it records (run creation does this), and the
//! layer does not write it again. Otherwise the layer writes it after the call.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, Response};
use axum::middleware::Next;
use orch_proto::v1 as pb;
use orch_store::NewAuditRecord;
use prost::Message;

use crate::caller::Caller;
use crate::state::AppState;

/// The record of the call being served, as the layer made it before the
/// call (outcome `ok`), for a use case to write in its own transaction.
#[derive(Debug, Clone)]
pub struct Pending(std::sync::Arc<PendingInner>);

#[derive(Debug)]
struct PendingInner {
    record: NewAuditRecord,
    /// Who the call turned out to be (a login names its token).
    caller: std::sync::Mutex<Option<String>>,
    written: std::sync::atomic::AtomicBool,
}

impl Pending {
    fn new(record: NewAuditRecord) -> Pending {
        Pending(std::sync::Arc::new(PendingInner {
            record,
            caller: std::sync::Mutex::new(None),
            written: std::sync::atomic::AtomicBool::new(false),
        }))
    }

    /// The record of a successful call.
    pub fn record(&self) -> NewAuditRecord {
        let caller = self.0.caller.lock().expect("not poisoned").clone();
        NewAuditRecord {
            caller: caller.unwrap_or_else(|| self.0.record.caller.clone()),
            ..self.0.record.clone()
        }
    }

    /// Names the caller, for a call that authenticates itself (a login
    /// with a token's key): recorded instead of `anonymous`.
    pub fn name_caller(&self, name: &str) {
        *self.0.caller.lock().expect("not poisoned") = Some(name.to_owned());
    }

    /// Says the record was committed with the call's change: the layer does
    /// not write it again.
    pub fn written(&self) {
        self.0
            .written
            .store(true, std::sync::atomic::Ordering::Release);
    }

    fn is_written(&self) -> bool {
        self.0.written.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// What a gRPC method is, for the audit trail.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    /// Changes nothing.
    Read,
    /// The runtime protocol of workers and flows: not recorded.
    Runtime,
    /// Recorded as this action, with the target read from the request.
    Audited(&'static str, fn(&[u8]) -> String),
}

fn decode<M: Message + Default>(bytes: &[u8]) -> Option<M> {
    M::decode(bytes).ok()
}

/// The kind of gRPC method `service/method` (without the package); `None`
/// for a method this table does not know.
pub(crate) fn classify(service: &str, method: &str) -> Option<Kind> {
    use Kind::{Audited, Read, Runtime};
    let kind = match (service, method) {
        (_, m) if m.starts_with("Get") || m.starts_with("List") => Read,
        ("FlowRunService", "ReadLogs" | "WatchFlowRun") => Read,
        ("WorkerService", _) => Runtime,
        ("FlowRunService", "SetFlowRunState" | "WriteLogs" | "CreateSubflowRun") => Runtime,
        ("TaskRunService", "ReportTaskRuns") => Runtime,
        ("ConcurrencyLimitService", "AcquireConcurrencySlots" | "ReleaseConcurrencySlots") => {
            Runtime
        }
        ("ArtifactService", "CreateArtifact") => Runtime,
        ("DeploymentService", "ApplyDeployments") => Audited("deployment.apply", |b| {
            decode::<pb::ApplyDeploymentsRequest>(b)
                .map(|r| {
                    r.deployments
                        .iter()
                        .map(|d| format!("{}/{}", d.flow, d.name))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default()
        }),
        ("DeploymentService", "RunDeployment") => Audited("deployment.run", |b| {
            decode::<pb::RunDeploymentRequest>(b)
                .map(|r| r.deployment)
                .unwrap_or_default()
        }),
        ("DeploymentService", "UpdateDeployment") => Audited("deployment.update", |b| {
            decode::<pb::UpdateDeploymentRequest>(b)
                .map(|r| match r.paused {
                    Some(true) => format!("{} (pause)", r.deployment),
                    Some(false) => format!("{} (resume)", r.deployment),
                    None => r.deployment,
                })
                .unwrap_or_default()
        }),
        ("DeploymentService", "DeleteDeployment") => Audited("deployment.delete", |b| {
            decode::<pb::DeleteDeploymentRequest>(b)
                .map(|r| r.deployment)
                .unwrap_or_default()
        }),
        ("FlowRunService", "CancelFlowRun") => Audited("flow-run.cancel", |b| {
            decode::<pb::CancelFlowRunRequest>(b)
                .map(|r| r.flow_run)
                .unwrap_or_default()
        }),
        ("FlowRunService", "RetryFlowRun") => Audited("flow-run.retry", |b| {
            decode::<pb::RetryFlowRunRequest>(b)
                .map(|r| r.flow_run)
                .unwrap_or_default()
        }),
        ("FlowRunService", "DeleteFlowRuns") => Audited("flow-run.delete", |b| {
            decode::<pb::DeleteFlowRunsRequest>(b)
                .map(|r| {
                    let target = if r.flow_runs.is_empty() {
                        format!("state={} before={}", r.state, r.before)
                    } else {
                        r.flow_runs.join(",")
                    };
                    if r.dry_run {
                        format!("{target} (dry run)")
                    } else {
                        target
                    }
                })
                .unwrap_or_default()
        }),
        ("ScheduleService", "CreateSchedule") => Audited("schedule.create", |b| {
            decode::<pb::CreateScheduleRequest>(b)
                .map(|r| {
                    let slug = r.schedule.map(|s| s.slug).unwrap_or_default();
                    format!("{} {slug}", r.deployment).trim().to_owned()
                })
                .unwrap_or_default()
        }),
        ("ScheduleService", "UpdateSchedule") => Audited("schedule.update", |b| {
            decode::<pb::UpdateScheduleRequest>(b)
                .map(|r| format!("{} {}", r.deployment, r.slug))
                .unwrap_or_default()
        }),
        ("ScheduleService", "DeleteSchedule") => Audited("schedule.delete", |b| {
            decode::<pb::DeleteScheduleRequest>(b)
                .map(|r| format!("{} {}", r.deployment, r.slug))
                .unwrap_or_default()
        }),
        ("ScheduleService", "GetUpcomingRuns") => Read,
        ("WorkPoolService", "CreateWorkPool") => Audited("work-pool.create", |b| {
            decode::<pb::CreateWorkPoolRequest>(b)
                .map(|r| r.name)
                .unwrap_or_default()
        }),
        ("WorkPoolService", "UpdateWorkPool") => Audited("work-pool.update", |b| {
            decode::<pb::UpdateWorkPoolRequest>(b)
                .map(|r| r.name)
                .unwrap_or_default()
        }),
        ("WorkPoolService", "DeleteWorkPool") => Audited("work-pool.delete", |b| {
            decode::<pb::DeleteWorkPoolRequest>(b)
                .map(|r| r.name)
                .unwrap_or_default()
        }),
        ("ConcurrencyLimitService", "CreateConcurrencyLimit") => {
            Audited("concurrency-limit.set", |b| {
                decode::<pb::CreateConcurrencyLimitRequest>(b)
                    .map(|r| r.tag)
                    .unwrap_or_default()
            })
        }
        ("ConcurrencyLimitService", "DeleteConcurrencyLimit") => {
            Audited("concurrency-limit.delete", |b| {
                decode::<pb::DeleteConcurrencyLimitRequest>(b)
                    .map(|r| r.tag)
                    .unwrap_or_default()
            })
        }
        ("SecretService", "SetSecret") => Audited("secret.set", |b| {
            decode::<pb::SetSecretRequest>(b)
                .map(|r| r.name)
                .unwrap_or_default()
        }),
        ("SecretService", "DeleteSecret") => Audited("secret.delete", |b| {
            decode::<pb::DeleteSecretRequest>(b)
                .map(|r| r.name)
                .unwrap_or_default()
        }),
        ("AutomationService", "AutomationHistory") => Read,
        ("AutomationService", "EmitEvent") => Runtime,
        ("AutomationService", "ApplyAutomations") => Audited("automation.apply", |b| {
            decode::<pb::ApplyAutomationsRequest>(b)
                .map(|r| {
                    r.automations
                        .iter()
                        .map(|a| a.name.clone())
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default()
        }),
        ("AutomationService", "SetAutomationPaused") => Audited("automation.update", |b| {
            decode::<pb::SetAutomationPausedRequest>(b)
                .map(|r| {
                    let what = if r.paused { "pause" } else { "resume" };
                    format!("{} ({what})", r.name)
                })
                .unwrap_or_default()
        }),
        ("AutomationService", "DeleteAutomation") => Audited("automation.delete", |b| {
            decode::<pb::DeleteAutomationRequest>(b)
                .map(|r| r.name)
                .unwrap_or_default()
        }),
        ("TokenService", "CreateToken") => Audited("token.create", |b| {
            decode::<pb::CreateTokenRequest>(b)
                .map(|r| format!("{} ({})", r.name, r.scope))
                .unwrap_or_default()
        }),
        ("TokenService", "RevokeToken") => Audited("token.revoke", |b| {
            decode::<pb::RevokeTokenRequest>(b)
                .map(|r| r.name)
                .unwrap_or_default()
        }),
        ("ServerService", "CreateLoginLink") => Audited("login-link.create", |_| String::new()),
        ("ServerService", "Prune") => Audited("server.prune", |b| {
            decode::<pb::PruneRequest>(b)
                .map(|r| if r.dry_run { "dry run" } else { "" }.to_owned())
                .unwrap_or_default()
        }),
        _ => return None,
    };
    Some(kind)
}

/// The action and target of a REST call that is not a read:
/// `POST /api/flow-runs/ID/cancel` is `flow-run.cancel` on `ID`;
/// `PUT /api/secrets/NAME` is `secret.set` on `NAME`.
pub(crate) fn rest_action(method: &Method, path: &str) -> (String, String) {
    const VERBS: [&str; 6] = ["cancel", "retry", "runs", "pause", "resume", "artifacts"];
    let path = path.trim_start_matches("/api/").trim_matches('/');
    let (resource, rest) = path.split_once('/').unwrap_or((path, ""));
    let resource = resource.strip_suffix('s').unwrap_or(resource);
    match rest.rsplit_once('/') {
        Some((target, verb)) if VERBS.contains(&verb) => {
            let verb = match verb {
                "runs" => "run",
                "artifacts" => "publish-artifact",
                verb => verb,
            };
            (format!("{resource}.{verb}"), target.to_owned())
        }
        _ => {
            let verb = match *method {
                Method::PUT => "set",
                Method::DELETE => "delete",
                Method::PATCH => "update",
                _ => "create",
            };
            (format!("{resource}.{verb}"), rest.to_owned())
        }
    }
}

/// Largest gRPC request the layer reads to find its target.
const MAX_AUDITED_BODY: usize = orch_proto::MAX_MESSAGE_BYTES;

/// The layer: runs the call, then records it if it changes something.
pub(crate) async fn record(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response<Body> {
    let path = request.uri().path().to_owned();
    let caller = Caller::of(request.extensions());
    let (request, action, target, transport) = if let Some(rpc) = path.strip_prefix("/orch.v1.") {
        let (service, method) = rpc.split_once('/').unwrap_or((rpc, ""));
        let (action, target_of) = match classify(service, method) {
            Some(Kind::Audited(action, target_of)) => (action, target_of),
            Some(Kind::Runtime) if by_hand(&caller) => {
                match crate::audit_changes::runtime(service, method) {
                    Some(audited) => audited,
                    None => return next.run(request).await,
                }
            }
            _ => return next.run(request).await,
        };
        let (parts, body) = request.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, MAX_AUDITED_BODY).await else {
            return tonic::Status::invalid_argument("the request body could not be read")
                .into_http();
        };
        // One gRPC frame: a compression flag, a 4-byte length, the message.
        let target = bytes.get(5..).map(target_of).unwrap_or_default();
        let request = Request::from_parts(parts, Body::from(bytes));
        (request, action.to_owned(), target, "grpc")
    } else if path.starts_with("/api/")
        && !matches!(
            *request.method(),
            Method::GET | Method::HEAD | Method::OPTIONS
        )
    {
        let (action, target) = rest_action(request.method(), &path);
        (request, action, target, "rest")
    } else {
        return next.run(request).await;
    };
    let pending = Pending::new(NewAuditRecord {
        caller: caller.name,
        address: caller.address.map(|a| a.to_string()).unwrap_or_default(),
        action,
        target,
        outcome: "ok".to_owned(),
        transport: transport.to_owned(),
    });
    let mut request = request;
    request.extensions_mut().insert(pending.clone());
    let mut response = next.run(request).await;
    if pending.is_written() {
        return response;
    }
    let outcome = outcome(&response);
    if crate::refusals::is_refusal(&outcome) {
        // Recorded, coalesced, by the refusal recorder.
        let record = pending.record();
        response
            .extensions_mut()
            .insert(crate::refusals::RefusedAction {
                action: record.action,
                target: record.target,
            });
        return response;
    }
    let record = NewAuditRecord {
        outcome,
        ..pending.record()
    };
    if let Err(error) = state.store().record_audit(&record).await {
        tracing::error!(%error, action = %record.action, target = %record.target, "cannot record an audit entry");
    }
    response
}

/// Whether a runtime call (a state report, logs, task runs, an artifact,
/// an event, slots) is made by hand: by a token that is neither a run's own
/// credential nor a worker's (an admin marking a run Cancelled). Those are
/// audited; the runtime protocol itself is not.
fn by_hand(caller: &Caller) -> bool {
    matches!(caller.principal, orch_core::auth::Principal::Token { .. })
        && !caller.is_worker_token()
}

/// `ok`, or the refusal: a gRPC code (`not_found`) or an HTTP status (`404`).
pub(crate) fn outcome(response: &Response<Body>) -> String {
    if let Some(code) = response
        .headers()
        .get("grpc-status")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<i32>().ok())
    {
        let code = tonic::Code::from_i32(code);
        return if code == tonic::Code::Ok {
            "ok".to_owned()
        } else {
            snake_case(&format!("{code:?}"))
        };
    }
    let status = response.status();
    if status.is_success() {
        "ok".to_owned()
    } else {
        status.as_u16().to_string()
    }
}

/// `NotFound` -> `not_found`.
fn snake_case(name: &str) -> String {
    let mut text = String::with_capacity(name.len() + 4);
    for (index, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && index > 0 {
            text.push('_');
        }
        text.push(c.to_ascii_lowercase());
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rpc_of_the_api_is_classified() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto/orch/v1");
        let mut methods = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            let mut service = "";
            for line in text.lines().map(str::trim) {
                if let Some(rest) = line.strip_prefix("service ") {
                    service = rest.split_whitespace().next().unwrap();
                } else if let Some(rest) = line.strip_prefix("rpc ") {
                    let method = rest.split('(').next().unwrap().trim();
                    methods += 1;
                    assert!(
                        classify(service, method).is_some(),
                        "{service}/{method} is not classified for the audit trail: add it to \
                         audit::classify as Read, Runtime or Audited"
                    );
                }
            }
        }
        assert!(methods > 40, "only {methods} methods found");
    }

    #[test]
    fn targets_are_read_from_the_request() {
        let request = pb::CancelFlowRunRequest {
            flow_run: "run-1".into(),
        };
        let Some(Kind::Audited(action, target)) = classify("FlowRunService", "CancelFlowRun")
        else {
            panic!("cancel is audited");
        };
        assert_eq!(
            (action, target(&request.encode_to_vec())),
            ("flow-run.cancel", "run-1".to_owned())
        );
        assert!(matches!(
            classify("WorkerService", "ClaimRuns"),
            Some(Kind::Runtime)
        ));
        assert!(matches!(
            classify("FlowRunService", "ListFlowRuns"),
            Some(Kind::Read)
        ));
        assert_eq!(snake_case("FailedPrecondition"), "failed_precondition");
    }

    #[test]
    fn rest_calls_name_their_resource_and_verb() {
        let cases = [
            (
                Method::POST,
                "/api/flow-runs/abc/cancel",
                "flow-run.cancel",
                "abc",
            ),
            (
                Method::POST,
                "/api/deployments/f/d/runs",
                "deployment.run",
                "f/d",
            ),
            (
                Method::POST,
                "/api/work-pools/p/pause",
                "work-pool.pause",
                "p",
            ),
            (Method::PUT, "/api/secrets/KEY", "secret.set", "KEY"),
            (Method::DELETE, "/api/secrets/KEY", "secret.delete", "KEY"),
        ];
        for (method, path, action, target) in cases {
            assert_eq!(
                rest_action(&method, path),
                (action.to_owned(), target.to_owned()),
                "{path}"
            );
        }
    }
}
