//! `WorkerService`: registration, heartbeats, pushes and claims.

use std::pin::Pin;

use futures::Stream;
use orch_proto::v1 as pb;
use orch_proto::v1::worker_service_server::WorkerService;
use tokio::sync::broadcast::error::RecvError;
use tonic::{Request, Response, Status};

use crate::convert;
use crate::error::{invalid, status};
use crate::events::Event;
use crate::ops::access;
use crate::state::AppState;

/// A claim the worker has not reported this long after it was made was
/// never received (see `Store::release_unheld_claims`).
const CLAIM_GRACE: std::time::Duration = std::time::Duration::from_secs(15);

/// Workers that heartbeated within this window are listed by `worker ls`.
const LIST_WINDOW: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

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

impl WorkerApi {
    /// The credential the flow of claimed run `run_id` uses (empty without
    /// authentication). A run whose credential cannot be made still runs;
    /// its flow's own reports are then refused, and the worker's stand.
    async fn run_credential(&self, run_id: &str) -> String {
        if !self.state.config().auth {
            return String::new();
        }
        match self.state.store().create_run_credential(run_id).await {
            Ok(key) => key,
            Err(error) => {
                tracing::error!(run = %run_id, %error, "cannot make the run's credential");
                String::new()
            }
        }
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
        if request.name.trim().is_empty() {
            return Err(invalid("a worker needs a name"));
        }
        access::pool(&caller, &request.work_pool)?;
        let store = self.state.store();
        let mut worker = store
            .register_worker(
                &request.name,
                &request.work_pool,
                &request.hostname,
                request.limit,
                &request.version,
            )
            .await
            .map_err(status)?;
        let interval = request.heartbeat_interval_seconds;
        if interval.is_finite() && interval > 0.0 {
            worker = store
                .set_worker_heartbeat_interval(&worker.id, (interval * 1e6) as i64)
                .await
                .map_err(status)?;
        }
        tracing::info!(worker = %worker.name, pool = %worker.work_pool, "worker registered");
        Ok(Response::new(convert::worker(
            &worker,
            self.state.now(),
            self.state.online_since(),
        )))
    }

    async fn heartbeat(
        &self,
        request: Request<pb::HeartbeatRequest>,
    ) -> Result<Response<pb::HeartbeatResponse>, Status> {
        let caller = crate::auth::caller(&request);
        let request = request.into_inner();
        access::worker(&self.state, &caller, &request.worker_id).await?;
        let store = self.state.background_store();
        let cancels = store.heartbeat(&request.worker_id).await.map_err(status)?;
        // Claims the worker does not have (the response was lost) go back to
        // the queue; not right after a stall, when this heartbeat may be old.
        if !self.state.within_stall_grace() {
            match store
                .release_unheld_claims(
                    &request.worker_id,
                    &request.running_flow_run_ids,
                    self.state.micros_ago(CLAIM_GRACE),
                )
                .await
            {
                Ok(released) => {
                    for run in &released {
                        tracing::warn!(run = %run.id, worker = %request.worker_id, "released a claim its worker never received");
                        self.state.events().run_changed(&run.id);
                        self.state.events().runs_ready(run.work_pool_id.as_deref());
                    }
                }
                Err(error) => tracing::warn!(%error, "reconciling a worker's claims failed"),
            }
        }
        Ok(Response::new(pb::HeartbeatResponse {
            cancel_flow_run_ids: cancels,
        }))
    }

    type SubscribeStream = WorkerEventStream;

    async fn subscribe(
        &self,
        request: Request<pb::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let caller = crate::auth::caller(&request);
        let worker_id = request.into_inner().worker_id;
        access::worker(&self.state, &caller, &worker_id).await?;
        let worker = self
            .state
            .store()
            .worker(&worker_id)
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
        access::worker(&self.state, &caller, &request.worker_id).await?;
        let claimed = self
            .state
            .store()
            .claim_runs(&request.worker_id, request.max_runs)
            .await
            .map_err(status)?;
        let mut runs = Vec::with_capacity(claimed.len());
        for claim in &claimed {
            self.state.events().run_changed(&claim.run.id);
            crate::metrics::observe_claim(&claim.run);
            runs.push(pb::ClaimedRun {
                run: Some(convert::flow_run(&claim.run)),
                entrypoint: claim.entrypoint.clone(),
                base_dir: claim.base_dir.clone(),
                parameters_json: convert::json(&claim.run.parameters),
                api_key: self.run_credential(&claim.run.id).await,
            });
        }
        Ok(Response::new(pb::ClaimRunsResponse { runs }))
    }

    async fn list_workers(
        &self,
        request: Request<pb::ListWorkersRequest>,
    ) -> Result<Response<pb::ListWorkersResponse>, Status> {
        let pool = request.into_inner().work_pool;
        let workers = self
            .state
            .store()
            .list_workers(
                Some(pool.as_str()).filter(|p| !p.is_empty()),
                self.state.micros_ago(LIST_WINDOW),
            )
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
        access::worker(&self.state, &caller, &worker_id).await?;
        self.state
            .store()
            .deregister_worker(&worker_id)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::DeregisterWorkerResponse {}))
    }
}
