//! `ConcurrencyLimitService`: tag limits and the slots task runs take.

use std::time::Duration;

use orch_proto::v1 as pb;
use orch_proto::v1::concurrency_limit_service_server::ConcurrencyLimitService;
use orch_store::ConcurrencyLimit;
use tonic::{Request, Response, Status};

use crate::error::{invalid, status};
use crate::state::AppState;

/// Longest an acquire waits before answering granted = false.
const MAX_WAIT: Duration = Duration::from_secs(30);
/// Default lease of a slot.
const DEFAULT_LEASE: Duration = Duration::from_secs(60);
/// Waiting acquires also retry this often (a lease may lapse unannounced).
const RETRY: Duration = Duration::from_secs(1);

/// Serves tag concurrency requests.
#[derive(Debug, Clone)]
pub struct ConcurrencyLimitApi {
    pub(crate) state: AppState,
}

fn limit_to_pb(limit: &ConcurrencyLimit) -> pb::ConcurrencyLimit {
    pb::ConcurrencyLimit {
        id: limit.id.clone(),
        tag: limit.tag.clone(),
        limit: limit.limit,
        created_at_micros: limit.created_at,
        updated_at_micros: limit.updated_at,
        holders: limit
            .holders
            .iter()
            .map(|holder| pb::SlotHolder {
                holder_id: holder.holder_id.clone(),
                flow_run_id: holder.flow_run_id.clone().unwrap_or_default(),
                acquired_at_micros: holder.acquired_at,
                lease_expires_micros: holder.lease_expires,
            })
            .collect(),
    }
}

#[tonic::async_trait]
impl ConcurrencyLimitService for ConcurrencyLimitApi {
    async fn create_concurrency_limit(
        &self,
        request: Request<pb::CreateConcurrencyLimitRequest>,
    ) -> Result<Response<pb::CreateConcurrencyLimitResponse>, Status> {
        let request = request.into_inner();
        let (limit, created) = self
            .state
            .store()
            .set_concurrency_limit(&request.tag, request.limit)
            .await
            .map_err(status)?;
        // A raised limit may let waiting holders in.
        self.state.slots_released();
        Ok(Response::new(pb::CreateConcurrencyLimitResponse {
            limit: Some(limit_to_pb(&limit)),
            created,
        }))
    }

    async fn list_concurrency_limits(
        &self,
        _request: Request<pb::ListConcurrencyLimitsRequest>,
    ) -> Result<Response<pb::ListConcurrencyLimitsResponse>, Status> {
        let limits = self
            .state
            .store()
            .list_concurrency_limits()
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ListConcurrencyLimitsResponse {
            limits: limits.iter().map(limit_to_pb).collect(),
        }))
    }

    async fn get_concurrency_limit(
        &self,
        request: Request<pb::GetConcurrencyLimitRequest>,
    ) -> Result<Response<pb::ConcurrencyLimit>, Status> {
        let limit = self
            .state
            .store()
            .concurrency_limit(&request.into_inner().tag)
            .await
            .map_err(status)?;
        Ok(Response::new(limit_to_pb(&limit)))
    }

    async fn delete_concurrency_limit(
        &self,
        request: Request<pb::DeleteConcurrencyLimitRequest>,
    ) -> Result<Response<pb::DeleteConcurrencyLimitResponse>, Status> {
        self.state
            .store()
            .delete_concurrency_limit(&request.into_inner().tag)
            .await
            .map_err(status)?;
        self.state.slots_released();
        Ok(Response::new(pb::DeleteConcurrencyLimitResponse {}))
    }

    async fn acquire_concurrency_slots(
        &self,
        request: Request<pb::AcquireConcurrencySlotsRequest>,
    ) -> Result<Response<pb::AcquireConcurrencySlotsResponse>, Status> {
        let caller = crate::auth::caller(&request);
        let request = request.into_inner();
        if caller.is_restricted() {
            crate::ops::access::run(&self.state, &caller, &request.flow_run_id).await?;
        }
        if request.holder_id.is_empty() {
            return Err(invalid(
                "holder_id is required: the id of the task run taking the slots",
            ));
        }
        let lease = match request.lease_seconds {
            0 => DEFAULT_LEASE,
            seconds => Duration::from_secs(u64::from(seconds)),
        };
        let wait = match request.wait_seconds {
            _ if request.no_wait => Duration::ZERO,
            0 => MAX_WAIT,
            seconds => Duration::from_secs(u64::from(seconds)).min(MAX_WAIT),
        };
        let deadline = tokio::time::Instant::now() + wait;
        let flow_run_id = Some(request.flow_run_id.as_str()).filter(|id| !id.is_empty());
        loop {
            // Listen before trying, so a release between the try and the wait is not missed.
            let released = self.state.slots_released_notify().notified();
            tokio::pin!(released);
            released.as_mut().enable();
            let outcome = self
                .state
                .store()
                .acquire_concurrency_slots(
                    &request.tags,
                    &request.holder_id,
                    flow_run_id,
                    lease.as_micros() as i64,
                )
                .await
                .map_err(status)?;
            if outcome.granted || tokio::time::Instant::now() >= deadline {
                return Ok(Response::new(pb::AcquireConcurrencySlotsResponse {
                    granted: outcome.granted,
                    full_tags: outcome.full.into_iter().map(|(tag, _)| tag).collect(),
                }));
            }
            tokio::select! {
                _ = released => {}
                _ = tokio::time::sleep(RETRY) => {}
                _ = tokio::time::sleep_until(deadline) => {}
                _ = self.state.shutting_down() => {
                    return Err(Status::unavailable("the server is shutting down; acquire again"));
                }
            }
        }
    }

    async fn release_concurrency_slots(
        &self,
        request: Request<pb::ReleaseConcurrencySlotsRequest>,
    ) -> Result<Response<pb::ReleaseConcurrencySlotsResponse>, Status> {
        let released = self
            .state
            .store()
            .release_concurrency_slots(&request.into_inner().holder_id)
            .await
            .map_err(status)?;
        if released > 0 {
            self.state.slots_released();
        }
        Ok(Response::new(pb::ReleaseConcurrencySlotsResponse {
            released,
        }))
    }
}
