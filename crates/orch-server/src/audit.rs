//! The audit trail, recorded in one place: a layer in front of every route
//! that knows which calls change something and what they change.
//!
//! Why a layer rather than the application layer: the layer sees every call
//! of both transports, with its caller (`Caller`, set by authentication) and
//! its outcome (refusals included), and a route or RPC added later cannot
//! forget to record. Whether a call is recorded, and under which action, is
//! its use case's (`crate::ops::use_cases`): `Always`, `ByHand` (the runtime
//! protocol between workers, flows and the server, recorded only when a
//! token that is neither a run's own credential nor a worker token makes
//! it), or `Never`, with the reason. The call's rule (`crate::routes`) says
//! how to read its target: from a gRPC request message, or a REST path's
//! variable segments.
//!
//! A use case that writes in a transaction may carry its call's record into
//! it (`ops::audit::Pending`, found in the request's extensions): the record is then
//! committed with the change it records (run creation does this), and the
//! layer does not write it again. Otherwise the layer writes it after the call.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::Response;
use axum::middleware::Next;
use orch_store::NewAuditRecord;

use crate::caller::Caller;
use crate::ops::audit::Pending;
use crate::ops::use_cases::Audit;
use crate::routes::Rule;
use crate::state::AppState;

/// What a REST call is done to: its path's variable segments, with the
/// verb when the use case has several (`f/d (pause)` for
/// `deployment.update`, as its gRPC method records it).
fn rest_target(rule: &Rule, path: &str) -> String {
    let target = crate::routes::variables(rule.path, path);
    match rule.path.rsplit('/').next() {
        Some(verb @ ("pause" | "resume")) => format!("{target} ({verb})"),
        _ => target,
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
    let Some(rule) = crate::routes::find(request.method().as_str(), &path) else {
        return next.run(request).await;
    };
    let caller = Caller::of(request.extensions());
    let audited = match rule.use_case.audit {
        Audit::Always => true,
        Audit::ByHand => by_hand(&caller),
        Audit::Never(_) => false,
    };
    if !audited {
        return next.run(request).await;
    }
    let (request, target, transport) = if path.starts_with("/orch.") {
        let (parts, body) = request.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, MAX_AUDITED_BODY).await else {
            return tonic::Status::invalid_argument("the request body could not be read")
                .into_http();
        };
        // One gRPC frame: a compression flag, a 4-byte length, the message.
        let target = match (rule.target, bytes.get(5..)) {
            (Some(target_of), Some(message)) => target_of(message),
            _ => String::new(),
        };
        let request = Request::from_parts(parts, Body::from(bytes));
        (request, target, "grpc")
    } else {
        (request, rest_target(rule, &path), "rest")
    };
    let action = rule.use_case.name.to_owned();
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
    if let Err(error) = state.store().audit().record_audit(&record).await {
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
    fn outcomes_are_snake_case_codes_or_statuses() {
        assert_eq!(snake_case("FailedPrecondition"), "failed_precondition");
    }

    #[test]
    fn rest_calls_are_recorded_under_their_use_case() {
        let cases = [
            (
                "POST",
                "/api/flow-runs/abc/cancel",
                "flow-run.cancel",
                "abc",
            ),
            ("POST", "/api/deployments/f/d/runs", "deployment.run", "f/d"),
            (
                "POST",
                "/api/deployments/f/d/pause",
                "deployment.update",
                "f/d (pause)",
            ),
            (
                "POST",
                "/api/work-pools/p/resume",
                "work-pool.update",
                "p (resume)",
            ),
            ("PUT", "/api/secrets/KEY", "secret.set", "KEY"),
            ("DELETE", "/api/secrets/KEY", "secret.delete", "KEY"),
            ("POST", "/api/flow-runs/abc/emit", "event.emit", "abc"),
        ];
        for (method, path, action, target) in cases {
            let rule = crate::routes::find(method, path).expect("a rule");
            assert_eq!(
                (rule.use_case.name, rest_target(rule, path).as_str()),
                (action, target),
                "{path}"
            );
        }
    }
}
