//! The gRPC services, one per concept of the API.

mod artifacts;
mod concurrency;
mod deployments;
mod flow_runs;
mod schedules;
mod server_status;
mod task_runs;
mod work_pools;
mod workers;

use orch_proto::v1::artifact_service_server::ArtifactServiceServer;
use orch_proto::v1::concurrency_limit_service_server::ConcurrencyLimitServiceServer;
use orch_proto::v1::schedule_service_server::ScheduleServiceServer;
use orch_proto::v1::{
    deployment_service_server::DeploymentServiceServer,
    flow_run_service_server::FlowRunServiceServer, server_service_server::ServerServiceServer,
    task_run_service_server::TaskRunServiceServer, work_pool_service_server::WorkPoolServiceServer,
    worker_service_server::WorkerServiceServer,
};

use crate::state::AppState;

/// All services, routed by gRPC path.
pub(crate) fn routes(state: &AppState) -> tonic::service::Routes {
    let state = state.clone();
    tonic::service::Routes::new(WorkPoolServiceServer::new(work_pools::WorkPoolApi {
        state: state.clone(),
    }))
    .add_service(DeploymentServiceServer::new(deployments::DeploymentApi {
        state: state.clone(),
    }))
    .add_service(FlowRunServiceServer::new(flow_runs::FlowRunApi {
        state: state.clone(),
    }))
    .add_service(WorkerServiceServer::new(workers::WorkerApi {
        state: state.clone(),
    }))
    .add_service(ServerServiceServer::new(server_status::ServerApi {
        state: state.clone(),
    }))
    .add_service(ScheduleServiceServer::new(schedules::ScheduleApi {
        state: state.clone(),
    }))
    .add_service(ConcurrencyLimitServiceServer::new(
        concurrency::ConcurrencyLimitApi {
            state: state.clone(),
        },
    ))
    .add_service(ArtifactServiceServer::new(artifacts::ArtifactApi {
        state: state.clone(),
    }))
    .add_service(TaskRunServiceServer::new(task_runs::TaskRunApi { state }))
}
