//! `TaskRunService`: task runs reported by the SDK.

use orch_proto::v1 as pb;
use orch_proto::v1::task_run_service_server::TaskRunService;
use orch_store::TaskRun;
use tonic::{Request, Response, Status};

use crate::convert;
use crate::error::{invalid, status};
use crate::ops;
use crate::state::AppState;

/// Serves task run requests.
#[derive(Debug, Clone)]
pub struct TaskRunApi {
    pub(crate) state: AppState,
}

/// A reported task run, read by the one wire mapping ([`orch_proto::runs`]).
fn task_run_from_pb(task: &pb::TaskRun) -> Result<TaskRun, Status> {
    orch_proto::runs::task_run_from_wire(task).map_err(|error| invalid(error.0))
}

#[tonic::async_trait]
impl TaskRunService for TaskRunApi {
    async fn report_task_runs(
        &self,
        request: Request<pb::ReportTaskRunsRequest>,
    ) -> Result<Response<pb::ReportTaskRunsResponse>, Status> {
        let caller = crate::auth::caller(&request);
        let request = request.into_inner();
        let tasks = request
            .task_runs
            .iter()
            .map(task_run_from_pb)
            .collect::<Result<Vec<_>, Status>>()?;
        ops::task_runs::report(&self.state, &caller, &tasks)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ReportTaskRunsResponse {}))
    }

    async fn list_task_runs(
        &self,
        request: Request<pb::ListTaskRunsRequest>,
    ) -> Result<Response<pb::ListTaskRunsResponse>, Status> {
        let caller = crate::auth::caller(&request);
        let reference = request.into_inner().flow_run;
        let tasks = crate::ops::task_runs::list(&self.state, &caller, &reference)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ListTaskRunsResponse {
            task_runs: tasks.iter().map(convert::task_run).collect(),
        }))
    }
}
