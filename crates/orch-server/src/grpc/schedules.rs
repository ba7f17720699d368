//! `ScheduleService`: a deployment's schedules one at a time, and its upcoming runs.

use orch_proto::v1 as pb;
use orch_proto::v1::schedule_service_server::ScheduleService;
use orch_store::{micros_to_utc, model};
use tonic::{Request, Response, Status};

use crate::convert;
use crate::error::{invalid, status};
use crate::state::AppState;

/// Most fire times `GetUpcomingRuns` lists.
const MAX_UPCOMING: u32 = 1000;

/// Serves schedule requests.
#[derive(Debug, Clone)]
pub struct ScheduleApi {
    pub(crate) state: AppState,
}

/// The next `count` fire times of the deployment's active schedules, soonest
/// first, with the runs already made for them.
fn upcoming(
    deployment: &model::Deployment,
    waiting: &[model::FlowRun],
    now: i64,
    count: usize,
    show_skipped: bool,
) -> Vec<pb::UpcomingRun> {
    let mut runs: Vec<pb::UpcomingRun> = Vec::new();
    for schedule in deployment.schedules.iter().filter(|s| s.active) {
        let Ok(parsed) = orch_core::Schedule::parse(&schedule.spec()) else {
            continue;
        };
        for slot in parsed.upcoming(micros_to_utc(now), count, show_skipped) {
            let micros = slot.time.timestamp_micros();
            let run = waiting.iter().find(|run| {
                run.expected_start == micros
                    && run.schedule_slug.as_deref() == Some(schedule.slug.as_str())
            });
            runs.push(pb::UpcomingRun {
                slug: schedule.slug.clone(),
                timezone: schedule.timezone.clone(),
                fire_time_micros: micros,
                flow_run_id: run.map(|r| r.id.clone()).unwrap_or_default(),
                flow_run_name: run.map(|r| r.name.clone()).unwrap_or_default(),
                state_name: run.map(|r| r.state.name.clone()).unwrap_or_default(),
                skipped: slot.skipped.unwrap_or_default(),
            });
        }
    }
    runs.sort_by(|a, b| (a.fire_time_micros, &a.slug).cmp(&(b.fire_time_micros, &b.slug)));
    // `count` slots that get a run, with the skipped ones among them.
    let mut kept = 0;
    runs.retain(|run| {
        let keep = kept < count;
        if run.skipped.is_empty() {
            kept += 1;
        }
        keep
    });
    runs
}

#[tonic::async_trait]
impl ScheduleService for ScheduleApi {
    async fn list_schedules(
        &self,
        request: Request<pb::ListSchedulesRequest>,
    ) -> Result<Response<pb::ListSchedulesResponse>, Status> {
        let deployment = self
            .state
            .store()
            .deployment(&request.into_inner().deployment)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ListSchedulesResponse {
            schedules: deployment.schedules.iter().map(convert::schedule).collect(),
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
        let deployment = self
            .state
            .store()
            .add_schedule(&request.deployment, spec)
            .await
            .map_err(status)?;
        self.state.wake_scheduler();
        Ok(Response::new(convert::deployment(&deployment)))
    }

    async fn update_schedule(
        &self,
        request: Request<pb::UpdateScheduleRequest>,
    ) -> Result<Response<pb::Deployment>, Status> {
        let request = request.into_inner();
        let store = self.state.store();
        let deployment = match request.active {
            Some(active) => {
                store
                    .set_schedule_active(&request.deployment, &request.slug, active)
                    .await
            }
            None => store.deployment(&request.deployment).await,
        }
        .map_err(status)?;
        self.state.wake_scheduler();
        Ok(Response::new(convert::deployment(&deployment)))
    }

    async fn delete_schedule(
        &self,
        request: Request<pb::DeleteScheduleRequest>,
    ) -> Result<Response<pb::Deployment>, Status> {
        let request = request.into_inner();
        let deployment = self
            .state
            .store()
            .delete_schedule(&request.deployment, &request.slug)
            .await
            .map_err(status)?;
        self.state.wake_scheduler();
        Ok(Response::new(convert::deployment(&deployment)))
    }

    async fn get_upcoming_runs(
        &self,
        request: Request<pb::GetUpcomingRunsRequest>,
    ) -> Result<Response<pb::GetUpcomingRunsResponse>, Status> {
        let request = request.into_inner();
        let count = match request.count {
            0 => 10,
            n => n.min(MAX_UPCOMING),
        } as usize;
        let store = self.state.store();
        let deployment = store
            .deployment(&request.deployment)
            .await
            .map_err(status)?;
        let waiting = store
            .waiting_scheduled_runs(&deployment.id)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::GetUpcomingRunsResponse {
            runs: upcoming(
                &deployment,
                &waiting,
                self.state.now(),
                count,
                request.show_skipped,
            ),
            deployment: deployment.full_name(),
            paused: deployment.paused,
        }))
    }
}
