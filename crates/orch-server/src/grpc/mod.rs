//! The gRPC services, one per concept of the API.

mod artifacts;
mod audit;
mod automations;
mod concurrency;
mod deployments;
mod flow_runs;
mod schedules;
mod secrets;
mod server_status;
mod task_runs;
mod tokens;
mod work_pools;
mod workers;

use orch_proto::v1::artifact_service_server::ArtifactServiceServer;
use orch_proto::v1::audit_service_server::AuditServiceServer;
use orch_proto::v1::automation_service_server::AutomationServiceServer;
use orch_proto::v1::concurrency_limit_service_server::ConcurrencyLimitServiceServer;
use orch_proto::v1::schedule_service_server::ScheduleServiceServer;
use orch_proto::v1::secret_service_server::SecretServiceServer;
use orch_proto::v1::{
    deployment_service_server::DeploymentServiceServer,
    flow_run_service_server::FlowRunServiceServer, server_service_server::ServerServiceServer,
    task_run_service_server::TaskRunServiceServer, work_pool_service_server::WorkPoolServiceServer,
    worker_service_server::WorkerServiceServer,
};

use crate::state::AppState;

/// The message size limit of every service, both ways (see `orch_core::limits`).
const MAX_MESSAGE: usize = orch_proto::MAX_MESSAGE_BYTES;

// A claim is cut at MAX_CLAIM_BYTES but always carries one run, which may be
// at the parameters limit; a log page likewise. Both fit with room to spare.
const _: () = {
    use orch_core::limits::*;
    assert!(MAX_CLAIM_BYTES + MAX_PARAMETERS_BYTES < MAX_MESSAGE / 2);
    assert!(MAX_LOG_PAGE_BYTES + MAX_LOG_LINE_BYTES < MAX_MESSAGE / 2);
};

/// Sets [`MAX_MESSAGE`] on a generated service.
macro_rules! limited {
    ($server:expr) => {
        $server
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE)
    };
}

/// All services, routed by gRPC path.
pub(crate) fn routes(state: &AppState) -> tonic::service::Routes {
    let state = state.clone();
    tonic::service::Routes::new(limited!(WorkPoolServiceServer::new(
        work_pools::WorkPoolApi {
            state: state.clone(),
        }
    )))
    .add_service(limited!(DeploymentServiceServer::new(
        deployments::DeploymentApi {
            state: state.clone(),
        }
    )))
    .add_service(limited!(FlowRunServiceServer::new(flow_runs::FlowRunApi {
        state: state.clone(),
    })))
    .add_service(limited!(WorkerServiceServer::new(workers::WorkerApi {
        state: state.clone(),
    })))
    .add_service(limited!(ServerServiceServer::new(
        server_status::ServerApi {
            state: state.clone(),
        }
    )))
    .add_service(limited!(ScheduleServiceServer::new(
        schedules::ScheduleApi {
            state: state.clone(),
        }
    )))
    .add_service(limited!(ConcurrencyLimitServiceServer::new(
        concurrency::ConcurrencyLimitApi {
            state: state.clone(),
        },
    )))
    .add_service(limited!(ArtifactServiceServer::new(
        artifacts::ArtifactApi {
            state: state.clone(),
        }
    )))
    .add_service(limited!(AuditServiceServer::new(audit::AuditApi {
        state: state.clone(),
    })))
    .add_service(limited!(SecretServiceServer::new(secrets::SecretApi {
        state: state.clone(),
    })))
    .add_service(limited!(
        orch_proto::v1::token_service_server::TokenServiceServer::new(tokens::TokenApi {
            state: state.clone(),
        })
    ))
    .add_service(limited!(AutomationServiceServer::new(
        automations::AutomationApi {
            state: state.clone(),
        }
    )))
    .add_service(limited!(TaskRunServiceServer::new(task_runs::TaskRunApi {
        state
    })))
}
