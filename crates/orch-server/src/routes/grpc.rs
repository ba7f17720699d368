//! The gRPC methods' rules, with how an audited call's target is read from
//! its request message.

use orch_proto::v1 as pb;

use super::{Rule, TargetOf};
use crate::ops::use_cases::{self as uc, UseCase};

const fn grpc(path: &'static str, use_case: &'static UseCase) -> Rule {
    super::rule("POST", path, use_case)
}

const fn audited(path: &'static str, use_case: &'static UseCase, target: TargetOf) -> Rule {
    Rule {
        target: Some(target),
        ..grpc(path, use_case)
    }
}

/// A function reading a target from request message `pb::$message`
/// (empty when the request cannot be decoded).
macro_rules! target {
    ($message:ident, |$request:ident| $text:expr) => {{
        fn read(bytes: &[u8]) -> String {
            match <pb::$message as prost::Message>::decode(bytes) {
                Ok($request) => $text,
                Err(_) => String::new(),
            }
        }
        read as TargetOf
    }};
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

fn paused(name: String, paused: Option<bool>) -> String {
    match paused {
        Some(true) => format!("{name} (pause)"),
        Some(false) => format!("{name} (resume)"),
        None => name,
    }
}

/// A state report's audit target: `RUN -> STATE`.
fn report_target(report: &pb::SetFlowRunStateRequest) -> String {
    let state = report
        .state
        .as_ref()
        .and_then(|s| pb::StateType::try_from(s.r#type).ok())
        .map(|t| t.as_str_name().trim_start_matches("STATE_TYPE_").to_owned())
        .unwrap_or_default();
    format!("{} -> {state}", report.flow_run_id)
}

/// Every gRPC method's rule.
pub(super) const RULES: &[Rule] = &[
    // ArtifactService
    audited(
        "/orch.v1.ArtifactService/CreateArtifact",
        &uc::ARTIFACT_CREATE,
        target!(CreateArtifactRequest, |r| format!(
            "{} {}",
            r.flow_run_id, r.key
        )
        .trim()
        .to_owned()),
    ),
    grpc("/orch.v1.ArtifactService/ListArtifacts", &uc::ARTIFACT_LIST),
    grpc("/orch.v1.ArtifactService/GetArtifact", &uc::ARTIFACT_GET),
    grpc(
        "/orch.v1.ArtifactService/GetArtifactSeries",
        &uc::ARTIFACT_SERIES,
    ),
    // AutomationService
    audited(
        "/orch.v1.AutomationService/ApplyAutomations",
        &uc::AUTOMATION_APPLY,
        target!(ApplyAutomationsRequest, |r| distinct(
            r.automations.iter().map(|a| a.name.as_str())
        )),
    ),
    grpc(
        "/orch.v1.AutomationService/ListAutomations",
        &uc::AUTOMATION_LIST,
    ),
    grpc(
        "/orch.v1.AutomationService/GetAutomation",
        &uc::AUTOMATION_GET,
    ),
    audited(
        "/orch.v1.AutomationService/SetAutomationPaused",
        &uc::AUTOMATION_UPDATE,
        target!(SetAutomationPausedRequest, |r| paused(
            r.name,
            Some(r.paused)
        )),
    ),
    audited(
        "/orch.v1.AutomationService/DeleteAutomation",
        &uc::AUTOMATION_DELETE,
        target!(DeleteAutomationRequest, |r| r.name),
    ),
    grpc(
        "/orch.v1.AutomationService/AutomationHistory",
        &uc::AUTOMATION_HISTORY,
    ),
    audited(
        "/orch.v1.AutomationService/EmitEvent",
        &uc::EVENT_EMIT,
        target!(EmitEventRequest, |r| format!(
            "{} {}",
            r.flow_run_id, r.name
        )),
    ),
    // ConcurrencyLimitService
    audited(
        "/orch.v1.ConcurrencyLimitService/CreateConcurrencyLimit",
        &uc::CONCURRENCY_LIMIT_SET,
        target!(CreateConcurrencyLimitRequest, |r| r.tag),
    ),
    grpc(
        "/orch.v1.ConcurrencyLimitService/ListConcurrencyLimits",
        &uc::CONCURRENCY_LIMIT_LIST,
    ),
    grpc(
        "/orch.v1.ConcurrencyLimitService/GetConcurrencyLimit",
        &uc::CONCURRENCY_LIMIT_GET,
    ),
    audited(
        "/orch.v1.ConcurrencyLimitService/DeleteConcurrencyLimit",
        &uc::CONCURRENCY_LIMIT_DELETE,
        target!(DeleteConcurrencyLimitRequest, |r| r.tag),
    ),
    audited(
        "/orch.v1.ConcurrencyLimitService/AcquireConcurrencySlots",
        &uc::CONCURRENCY_LIMIT_ACQUIRE,
        target!(AcquireConcurrencySlotsRequest, |r| format!(
            "{} ({})",
            r.tags.join(","),
            r.holder_id
        )),
    ),
    audited(
        "/orch.v1.ConcurrencyLimitService/ReleaseConcurrencySlots",
        &uc::CONCURRENCY_LIMIT_RELEASE,
        target!(ReleaseConcurrencySlotsRequest, |r| r.holder_id),
    ),
    // DeploymentService
    audited(
        "/orch.v1.DeploymentService/ApplyDeployments",
        &uc::DEPLOYMENT_APPLY,
        target!(ApplyDeploymentsRequest, |r| r
            .deployments
            .iter()
            .map(|d| format!("{}/{}", d.flow, d.name))
            .collect::<Vec<_>>()
            .join(",")),
    ),
    grpc(
        "/orch.v1.DeploymentService/ListDeployments",
        &uc::DEPLOYMENT_LIST,
    ),
    grpc(
        "/orch.v1.DeploymentService/GetDeployment",
        &uc::DEPLOYMENT_GET,
    ),
    audited(
        "/orch.v1.DeploymentService/UpdateDeployment",
        &uc::DEPLOYMENT_UPDATE,
        target!(UpdateDeploymentRequest, |r| paused(r.deployment, r.paused)),
    ),
    audited(
        "/orch.v1.DeploymentService/DeleteDeployment",
        &uc::DEPLOYMENT_DELETE,
        target!(DeleteDeploymentRequest, |r| r.deployment),
    ),
    grpc("/orch.v1.DeploymentService/ListFlows", &uc::FLOW_LIST),
    audited(
        "/orch.v1.DeploymentService/RunDeployment",
        &uc::DEPLOYMENT_RUN,
        target!(RunDeploymentRequest, |r| r.deployment),
    ),
    // FlowRunService
    grpc("/orch.v1.FlowRunService/ListFlowRuns", &uc::FLOW_RUN_LIST),
    grpc("/orch.v1.FlowRunService/GetFlowRun", &uc::FLOW_RUN_GET),
    audited(
        "/orch.v1.FlowRunService/SetFlowRunState",
        &uc::FLOW_RUN_SET_STATE,
        target!(SetFlowRunStateRequest, |r| report_target(&r)),
    ),
    audited(
        "/orch.v1.FlowRunService/SetFlowRunStates",
        &uc::FLOW_RUN_SET_STATES,
        target!(SetFlowRunStatesRequest, |r| r
            .reports
            .iter()
            .map(report_target)
            .collect::<Vec<_>>()
            .join(", ")),
    ),
    audited(
        "/orch.v1.FlowRunService/CancelFlowRun",
        &uc::FLOW_RUN_CANCEL,
        target!(CancelFlowRunRequest, |r| r.flow_run),
    ),
    audited(
        "/orch.v1.FlowRunService/RetryFlowRun",
        &uc::FLOW_RUN_RETRY,
        target!(RetryFlowRunRequest, |r| r.flow_run),
    ),
    audited(
        "/orch.v1.FlowRunService/DeleteFlowRuns",
        &uc::FLOW_RUN_DELETE,
        target!(DeleteFlowRunsRequest, |r| {
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
        }),
    ),
    grpc(
        "/orch.v1.FlowRunService/WriteLogs",
        &uc::FLOW_RUN_WRITE_LOGS,
    ),
    grpc("/orch.v1.FlowRunService/ReadLogs", &uc::FLOW_RUN_READ_LOGS),
    grpc("/orch.v1.FlowRunService/WatchFlowRun", &uc::FLOW_RUN_WATCH),
    audited(
        "/orch.v1.FlowRunService/CreateSubflowRun",
        &uc::FLOW_RUN_CREATE_SUBFLOW,
        target!(CreateSubflowRunRequest, |r| format!(
            "{} {}",
            r.parent_flow_run_id, r.flow
        )),
    ),
    // ScheduleService
    grpc("/orch.v1.ScheduleService/ListSchedules", &uc::SCHEDULE_LIST),
    audited(
        "/orch.v1.ScheduleService/CreateSchedule",
        &uc::SCHEDULE_CREATE,
        target!(CreateScheduleRequest, |r| {
            let slug = r.schedule.map(|s| s.slug).unwrap_or_default();
            format!("{} {slug}", r.deployment).trim().to_owned()
        }),
    ),
    audited(
        "/orch.v1.ScheduleService/UpdateSchedule",
        &uc::SCHEDULE_UPDATE,
        target!(UpdateScheduleRequest, |r| format!(
            "{} {}",
            r.deployment, r.slug
        )),
    ),
    audited(
        "/orch.v1.ScheduleService/DeleteSchedule",
        &uc::SCHEDULE_DELETE,
        target!(DeleteScheduleRequest, |r| format!(
            "{} {}",
            r.deployment, r.slug
        )),
    ),
    grpc(
        "/orch.v1.ScheduleService/GetUpcomingRuns",
        &uc::SCHEDULE_UPCOMING,
    ),
    // SecretService (names and times only ever leave the server, never values)
    audited(
        "/orch.v1.SecretService/SetSecret",
        &uc::SECRET_SET,
        target!(SetSecretRequest, |r| r.name),
    ),
    grpc("/orch.v1.SecretService/ListSecrets", &uc::SECRET_LIST),
    audited(
        "/orch.v1.SecretService/DeleteSecret",
        &uc::SECRET_DELETE,
        target!(DeleteSecretRequest, |r| r.name),
    ),
    // AuditService
    grpc("/orch.v1.AuditService/ListAudit", &uc::AUDIT_LIST),
    // ServerService
    grpc("/orch.v1.ServerService/GetStatus", &uc::SERVER_STATUS),
    audited(
        "/orch.v1.ServerService/Prune",
        &uc::SERVER_PRUNE,
        target!(PruneRequest, |r| if r.dry_run { "dry run" } else { "" }
            .to_owned()),
    ),
    audited(
        "/orch.v1.ServerService/CreateLoginLink",
        &uc::LOGIN_LINK_CREATE,
        target!(CreateLoginLinkRequest, |_r| String::new()),
    ),
    // TaskRunService
    audited(
        "/orch.v1.TaskRunService/ReportTaskRuns",
        &uc::TASK_RUN_REPORT,
        target!(ReportTaskRunsRequest, |r| distinct(
            r.task_runs.iter().map(|t| t.flow_run_id.as_str())
        )),
    ),
    grpc("/orch.v1.TaskRunService/ListTaskRuns", &uc::TASK_RUN_LIST),
    // TokenService
    audited(
        "/orch.v1.TokenService/CreateToken",
        &uc::TOKEN_CREATE,
        target!(CreateTokenRequest, |r| format!("{} ({})", r.name, r.scope)),
    ),
    grpc("/orch.v1.TokenService/ListTokens", &uc::TOKEN_LIST),
    audited(
        "/orch.v1.TokenService/RevokeToken",
        &uc::TOKEN_REVOKE,
        target!(RevokeTokenRequest, |r| r.name),
    ),
    // WorkPoolService
    audited(
        "/orch.v1.WorkPoolService/CreateWorkPool",
        &uc::WORK_POOL_CREATE,
        target!(CreateWorkPoolRequest, |r| r.name),
    ),
    grpc(
        "/orch.v1.WorkPoolService/ListWorkPools",
        &uc::WORK_POOL_LIST,
    ),
    grpc("/orch.v1.WorkPoolService/GetWorkPool", &uc::WORK_POOL_GET),
    audited(
        "/orch.v1.WorkPoolService/UpdateWorkPool",
        &uc::WORK_POOL_UPDATE,
        target!(UpdateWorkPoolRequest, |r| r.name),
    ),
    audited(
        "/orch.v1.WorkPoolService/DeleteWorkPool",
        &uc::WORK_POOL_DELETE,
        target!(DeleteWorkPoolRequest, |r| r.name),
    ),
    // WorkerService (the use cases hold worker tokens to their pools)
    audited(
        "/orch.v1.WorkerService/RegisterWorker",
        &uc::WORKER_REGISTER,
        target!(RegisterWorkerRequest, |r| format!(
            "{} ({})",
            r.name, r.work_pool
        )),
    ),
    grpc("/orch.v1.WorkerService/Heartbeat", &uc::WORKER_HEARTBEAT),
    grpc("/orch.v1.WorkerService/Subscribe", &uc::WORKER_SUBSCRIBE),
    grpc("/orch.v1.WorkerService/ClaimRuns", &uc::WORKER_CLAIM),
    grpc("/orch.v1.WorkerService/ListWorkers", &uc::WORKER_LIST),
    audited(
        "/orch.v1.WorkerService/DeregisterWorker",
        &uc::WORKER_DEREGISTER,
        target!(DeregisterWorkerRequest, |r| r.worker_id),
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::use_cases::Audit;
    use prost::Message;

    #[test]
    fn audited_methods_read_their_target_and_others_do_not() {
        for rule in RULES {
            assert_eq!(
                rule.target.is_some(),
                !matches!(rule.use_case.audit, Audit::Never(_)),
                "{}: an audited method reads its target; a method never audited does not",
                rule.path
            );
        }
        let cancel = RULES
            .iter()
            .find(|r| r.path.ends_with("/CancelFlowRun"))
            .unwrap();
        let request = pb::CancelFlowRunRequest {
            flow_run: "run-1".into(),
        };
        assert_eq!(cancel.use_case.name, "flow-run.cancel");
        assert_eq!((cancel.target.unwrap())(&request.encode_to_vec()), "run-1");
        let state = pb::SetFlowRunStateRequest {
            flow_run_id: "run-1".into(),
            state: Some(pb::State {
                r#type: pb::StateType::Cancelled as i32,
                ..Default::default()
            }),
            ..Default::default()
        };
        let set = RULES
            .iter()
            .find(|r| r.path.ends_with("/SetFlowRunState"))
            .unwrap();
        assert_eq!(set.use_case.audit, Audit::ByHand);
        assert_eq!(
            (set.target.unwrap())(&state.encode_to_vec()),
            "run-1 -> CANCELLED"
        );
        let batch = pb::SetFlowRunStatesRequest {
            reports: vec![
                state,
                pb::SetFlowRunStateRequest {
                    flow_run_id: "run-2".into(),
                    state: Some(pb::State {
                        r#type: pb::StateType::Completed as i32,
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            ],
        };
        let set_many = RULES
            .iter()
            .find(|r| r.path.ends_with("/SetFlowRunStates"))
            .unwrap();
        assert_eq!(set_many.use_case.permission, set.use_case.permission);
        assert_eq!(set_many.use_case.audit, Audit::ByHand);
        assert_eq!(
            (set_many.target.unwrap())(&batch.encode_to_vec()),
            "run-1 -> CANCELLED, run-2 -> COMPLETED"
        );
    }

    #[test]
    fn every_rpc_of_the_api_has_a_rule() {
        for method in orch_proto::GRPC_METHODS {
            assert!(
                RULES.iter().any(|r| r.path == *method),
                "{method} serves no use case: map it in crate::routes::grpc"
            );
        }
        for rule in RULES {
            assert!(
                orch_proto::GRPC_METHODS.contains(&rule.path),
                "{} names no method of the API",
                rule.path
            );
        }
    }
}
