//! `TaskRunService`: task runs reported by the SDK.

use orch_proto::v1 as pb;
use orch_proto::v1::task_run_service_server::TaskRunService;
use orch_store::{TaskRun, TaskRunState, model};
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

fn state_from_pb(state: Option<pb::State>, what: &str) -> Result<model::State, Status> {
    let state = state.ok_or_else(|| invalid(format!("{what}: a state is required")))?;
    Ok(model::State {
        kind: convert::state_type_from_pb(state.r#type)?,
        name: state.name,
        message: state.message,
        timestamp: state.timestamp_micros,
    })
}

fn task_run_from_pb(task: pb::TaskRun) -> Result<TaskRun, Status> {
    let what = format!("task run \"{}\" ({})", task.name, task.id);
    let history = task
        .history
        .into_iter()
        .map(|entry| {
            Ok(TaskRunState {
                seq: entry.seq,
                attempt: entry.attempt,
                state: state_from_pb(entry.state, &what)?,
            })
        })
        .collect::<Result<Vec<_>, Status>>()?;
    Ok(TaskRun {
        state: state_from_pb(task.state, &what)?,
        id: task.id,
        flow_run_id: task.flow_run_id,
        name: task.name,
        tags: task.tags,
        attempt: task.attempt,
        max_retries: task.max_retries,
        start_time: task.start_micros,
        end_time: task.end_micros,
        error: task.error,
        result: task.result_json,
        upstream_ids: task.upstream_ids,
        history,
        created_at: task.created_at_micros,
        // A negative figure is no measurement.
        cpu_micros: task.cpu_micros.filter(|micros| *micros >= 0),
    })
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
            .into_iter()
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
