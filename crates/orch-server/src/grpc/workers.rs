//! `WorkerService`: registration, heartbeats, pushes and claims.

use std::pin::Pin;

use futures::Stream;
use orch_proto::v1 as pb;
use orch_proto::v1::worker_service_server::WorkerService;
use tokio::sync::broadcast::error::RecvError;
use tonic::{Request, Response, Status};

use crate::convert;
use crate::error::status;
use crate::events::Event;
use crate::ops;
use crate::state::AppState;

/// Serves worker requests.
#[derive(Debug, Clone)]
pub struct WorkerApi {
    pub(crate) state: AppState,
}

type WorkerEventStream = Pin<Box<dyn Stream<Item = Result<pb::WorkerEvent, Status>> + Send>>;

fn wake() -> pb::WorkerEvent {
    pb::WorkerEvent {
        event: Some(pb::worker_event::Event::Wake(pb::Wake {})),
    }
}

#[tonic::async_trait]
impl WorkerService for WorkerApi {
    async fn register_worker(
        &self,
        request: Request<pb::RegisterWorkerRequest>,
    ) -> Result<Response<pb::Worker>, Status> {
        let caller = crate::auth::caller(&request);
        let request = request.into_inner();
        let registration = ops::workers::Registration {
            name: request.name,
            work_pool: request.work_pool,
            hostname: request.hostname,
            limit: request.limit,
            version: request.version,
            heartbeat_interval_seconds: request.heartbeat_interval_seconds,
        };
        let worker = ops::workers::register(&self.state, &caller, registration)
            .await
            .map_err(status)?;
        let pool = ops::work_pools::get(&self.state, &worker.work_pool)
            .await
            .map_err(status)?;
        let mut registered = convert::worker(&worker, self.state.now(), self.state.online_since());
        // How the worker is to run what it claims.
        registered.work_pool_type = pool.pool_type;
        Ok(Response::new(registered))
    }

    async fn heartbeat(
        &self,
        request: Request<pb::HeartbeatRequest>,
    ) -> Result<Response<pb::HeartbeatResponse>, Status> {
        let caller = crate::auth::caller(&request);
        let request = request.into_inner();
        let answer = ops::workers::heartbeat(
            &self.state,
            &caller,
            &request.worker_id,
            &request.running_flow_run_ids,
        )
        .await
        .map_err(status)?;
        Ok(Response::new(pb::HeartbeatResponse {
            cancel_flow_run_ids: answer.cancel,
            lost_flow_run_ids: answer.lost,
        }))
    }

    type SubscribeStream = WorkerEventStream;

    async fn subscribe(
        &self,
        request: Request<pb::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let caller = crate::auth::caller(&request);
        let worker_id = request.into_inner().worker_id;
        let worker = ops::workers::subscribe(&self.state, &caller, &worker_id)
            .await
            .map_err(status)?;
        let state = self.state.clone();
        let stream = async_stream::stream! {
            let mut events = state.events().subscribe();
            // Whatever was queued before the worker connected.
            yield Ok(wake());
            loop {
                let event = tokio::select! {
                    event = events.recv() => event,
                    _ = state.shutting_down() => break,
                };
                match event {
                    Ok(Event::RunsReady { pool_id }) if pool_id == worker.work_pool_id => yield Ok(wake()),
                    Ok(Event::CancelRun { worker_id, run_id }) if worker_id == worker.id => {
                        yield Ok(pb::WorkerEvent {
                            event: Some(pb::worker_event::Event::Cancel(pb::CancelRun { flow_run_id: run_id })),
                        });
                    }
                    Ok(_) => {}
                    // Missed events: claiming again is always safe; cancels also reach
                    // the worker through its heartbeat.
                    Err(RecvError::Lagged(_)) => yield Ok(wake()),
                    Err(RecvError::Closed) => break,
                }
            }
        };
        Ok(Response::new(Box::pin(stream)))
    }

    async fn claim_runs(
        &self,
        request: Request<pb::ClaimRunsRequest>,
    ) -> Result<Response<pb::ClaimRunsResponse>, Status> {
        let caller = crate::auth::caller(&request);
        let request = request.into_inner();
        let claimed =
            ops::workers::claim(&self.state, &caller, &request.worker_id, request.max_runs)
                .await
                .map_err(status)?;
        let runs = claimed
            .into_iter()
            .map(
                |ops::workers::Claimed { claim, environment }| pb::ClaimedRun {
                    run: Some(convert::flow_run(&claim.run)),
                    entrypoint: claim.entrypoint,
                    base_dir: claim.base_dir,
                    parameters_json: convert::json(&claim.run.parameters),
                    env: environment.env,
                    secrets: environment.secrets,
                    missing_secrets: environment.missing,
                    api_key: claim.credential.unwrap_or_default(),
                    container_json: claim
                        .container
                        .map(|settings| settings.to_json())
                        .unwrap_or_default(),
                    traceparent: claim.run.trace().traceparent().to_string(),
                    tracestate: claim
                        .run
                        .trace_state
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                },
            )
            .collect();
        Ok(Response::new(pb::ClaimRunsResponse { runs }))
    }

    async fn list_workers(
        &self,
        request: Request<pb::ListWorkersRequest>,
    ) -> Result<Response<pb::ListWorkersResponse>, Status> {
        let pool = request.into_inner().work_pool;
        let workers = ops::work_pools::workers(&self.state, Some(&pool))
            .await
            .map_err(status)?;
        let online_since = self.state.online_since();
        let now = self.state.now();
        Ok(Response::new(pb::ListWorkersResponse {
            workers: workers
                .iter()
                .map(|w| convert::worker(w, now, online_since))
                .collect(),
        }))
    }

    async fn deregister_worker(
        &self,
        request: Request<pb::DeregisterWorkerRequest>,
    ) -> Result<Response<pb::DeregisterWorkerResponse>, Status> {
        let caller = crate::auth::caller(&request);
        let worker_id = request.into_inner().worker_id;
        ops::workers::deregister(&self.state, &caller, &worker_id)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::DeregisterWorkerResponse {}))
    }
}
