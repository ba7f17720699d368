//! `ScheduleService`: a deployment's schedules one at a time, and its upcoming
//! runs. Each call is one use case of [`crate::ops::schedules`].

use orch_proto::v1 as pb;
use orch_proto::v1::schedule_service_server::ScheduleService;
use tonic::{Request, Response, Status};

use crate::convert;
use crate::error::{invalid, status};
use crate::ops::schedules;
use crate::state::AppState;

/// Serves schedule requests.
#[derive(Debug, Clone)]
pub struct ScheduleApi {
    pub(crate) state: AppState,
}

fn upcoming_run(run: schedules::UpcomingRun) -> pb::UpcomingRun {
    let made = run.run.as_ref();
    pb::UpcomingRun {
        fire_time_micros: run.fire_time,
        flow_run_id: made.map(|r| r.id.clone()).unwrap_or_default(),
        flow_run_name: made.map(|r| r.name.clone()).unwrap_or_default(),
        state_name: made.map(|r| r.state.name.clone()).unwrap_or_default(),
        slug: run.slug,
        timezone: run.timezone,
        skipped: run.skipped,
    }
}

#[tonic::async_trait]
impl ScheduleService for ScheduleApi {
    async fn list_schedules(
        &self,
        request: Request<pb::ListSchedulesRequest>,
    ) -> Result<Response<pb::ListSchedulesResponse>, Status> {
        let deployment = schedules::list(&self.state, &request.into_inner().deployment)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ListSchedulesResponse {
            schedules: deployment
                .schedules
                .iter()
                .map(orch_proto::deploy::schedule_spec)
                .collect(),
            deployment: deployment.full_name(),
            deployment_paused: deployment.paused,
        }))
    }

    async fn create_schedule(
        &self,
        request: Request<pb::CreateScheduleRequest>,
    ) -> Result<Response<pb::Deployment>, Status> {
        let request = request.into_inner();
        let schedule = request
            .schedule
            .ok_or_else(|| invalid("a schedule to create is required"))?;
        let label = format!("deployment \"{}\"", request.deployment);
        let spec = convert::schedule_spec(&label, schedule)?;
        let deployment = schedules::add(&self.state, &request.deployment, spec)
            .await
            .map_err(status)?;
        Ok(Response::new(convert::deployment(&deployment)))
    }

    async fn update_schedule(
        &self,
        request: Request<pb::UpdateScheduleRequest>,
    ) -> Result<Response<pb::Deployment>, Status> {
        let request = request.into_inner();
        let deployment = schedules::set_active(
            &self.state,
            &request.deployment,
            &request.slug,
            request.active,
        )
        .await
        .map_err(status)?;
        Ok(Response::new(convert::deployment(&deployment)))
    }

    async fn delete_schedule(
        &self,
        request: Request<pb::DeleteScheduleRequest>,
    ) -> Result<Response<pb::Deployment>, Status> {
        let request = request.into_inner();
        let deployment = schedules::delete(&self.state, &request.deployment, &request.slug)
            .await
            .map_err(status)?;
        Ok(Response::new(convert::deployment(&deployment)))
    }

    async fn get_upcoming_runs(
        &self,
        request: Request<pb::GetUpcomingRunsRequest>,
    ) -> Result<Response<pb::GetUpcomingRunsResponse>, Status> {
        let request = request.into_inner();
        let upcoming = schedules::upcoming(
            &self.state,
            &request.deployment,
            request.count as usize,
            request.show_skipped,
        )
        .await
        .map_err(status)?;
        Ok(Response::new(pb::GetUpcomingRunsResponse {
            deployment: upcoming.deployment.full_name(),
            paused: upcoming.deployment.paused,
            runs: upcoming.runs.into_iter().map(upcoming_run).collect(),
            empty_reason: upcoming.empty_reason,
        }))
    }
}
