//! The runtime protocol's changes as audit actions, for when they are made
//! by hand (see `audit::by_hand`): a run's state set by an admin, task runs
//! reported with an operator's token. Made by a run's own
//! credential or a worker token, the same calls are the runtime protocol
//! and are not recorded (they are many per run, and already in the run's
//! state history).
//!
//! Heartbeats, event subscriptions and claims are a worker's liveness and
//! polling, and are never recorded: a claim is in the claimed run's state
//! history, with the worker. Log lines are data, not state, and can be many
//! per second: `WriteLogs` is not recorded either (each line keeps its
//! emitter).

use orch_proto::v1 as pb;
use prost::Message;

/// An audit action and how to read its target from the request.
pub(crate) type Audited = (&'static str, fn(&[u8]) -> String);

fn decode<M: Message + Default>(bytes: &[u8]) -> Option<M> {
    M::decode(bytes).ok()
}

/// Distinct values, comma-separated, in first-seen order.
fn distinct<'a>(values: impl Iterator<Item = &'a str>) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for value in values {
        if !seen.contains(&value) {
            seen.push(value);
        }
    }
    seen.join(",")
}

/// The action of runtime method `service/method` made by hand; `None` for
/// the calls that are never recorded.
pub(crate) fn runtime(service: &str, method: &str) -> Option<Audited> {
    let audited: Audited = match (service, method) {
        ("FlowRunService", "SetFlowRunState") => ("flow-run.set-state", |b| {
            decode::<pb::SetFlowRunStateRequest>(b)
                .map(|r| {
                    let state = r
                        .state
                        .and_then(|s| pb::StateType::try_from(s.r#type).ok())
                        .map(|t| t.as_str_name().trim_start_matches("STATE_TYPE_").to_owned())
                        .unwrap_or_default();
                    format!("{} -> {state}", r.flow_run_id)
                })
                .unwrap_or_default()
        }),
        ("FlowRunService", "CreateSubflowRun") => ("flow-run.create-subflow", |b| {
            decode::<pb::CreateSubflowRunRequest>(b)
                .map(|r| format!("{} {}", r.parent_flow_run_id, r.flow))
                .unwrap_or_default()
        }),
        ("TaskRunService", "ReportTaskRuns") => ("task-run.report", |b| {
            decode::<pb::ReportTaskRunsRequest>(b)
                .map(|r| distinct(r.task_runs.iter().map(|t| t.flow_run_id.as_str())))
                .unwrap_or_default()
        }),
        ("ArtifactService", "CreateArtifact") => ("artifact.create", |b| {
            decode::<pb::CreateArtifactRequest>(b)
                .map(|r| format!("{} {}", r.flow_run_id, r.key).trim().to_owned())
                .unwrap_or_default()
        }),
        ("AutomationService", "EmitEvent") => ("event.emit", |b| {
            decode::<pb::EmitEventRequest>(b)
                .map(|r| format!("{} {}", r.flow_run_id, r.name))
                .unwrap_or_default()
        }),
        ("ConcurrencyLimitService", "AcquireConcurrencySlots") => {
            ("concurrency-limit.acquire", |b| {
                decode::<pb::AcquireConcurrencySlotsRequest>(b)
                    .map(|r| format!("{} ({})", r.tags.join(","), r.holder_id))
                    .unwrap_or_default()
            })
        }
        ("ConcurrencyLimitService", "ReleaseConcurrencySlots") => {
            ("concurrency-limit.release", |b| {
                decode::<pb::ReleaseConcurrencySlotsRequest>(b)
                    .map(|r| r.holder_id)
                    .unwrap_or_default()
            })
        }
        ("WorkerService", "RegisterWorker") => ("worker.register", |b| {
            decode::<pb::RegisterWorkerRequest>(b)
                .map(|r| format!("{} ({})", r.name, r.work_pool))
                .unwrap_or_default()
        }),
        ("WorkerService", "DeregisterWorker") => ("worker.deregister", |b| {
            decode::<pb::DeregisterWorkerRequest>(b)
                .map(|r| r.worker_id)
                .unwrap_or_default()
        }),
        _ => return None,
    };
    Some(audited)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_set_by_hand_names_the_run_and_the_state() {
        let request = pb::SetFlowRunStateRequest {
            flow_run_id: "run-1".into(),
            state: Some(pb::State {
                r#type: pb::StateType::Cancelled as i32,
                ..Default::default()
            }),
            ..Default::default()
        };
        let (action, target) = runtime("FlowRunService", "SetFlowRunState").unwrap();
        assert_eq!(action, "flow-run.set-state");
        assert_eq!(target(&request.encode_to_vec()), "run-1 -> CANCELLED");
        assert!(runtime("WorkerService", "Heartbeat").is_none());
        assert!(runtime("WorkerService", "ClaimRuns").is_none());
    }
}
