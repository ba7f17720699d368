//! `ConcurrencyLimitService`: tag limits and the slots task runs take;
//! [`crate::ops::concurrency`] over gRPC.

use std::time::Duration;

use orch_proto::v1 as pb;
use orch_proto::v1::concurrency_limit_service_server::ConcurrencyLimitService;
use orch_store::ConcurrencyLimit;
use tonic::{Request, Response, Status};

use crate::error::status;
use crate::ops::concurrency;
use crate::state::AppState;

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
        let (limit, created) = concurrency::set_limit(&self.state, &request.tag, request.limit)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::CreateConcurrencyLimitResponse {
            limit: Some(limit_to_pb(&limit)),
            created,
        }))
    }

    async fn list_concurrency_limits(
        &self,
        _request: Request<pb::ListConcurrencyLimitsRequest>,
    ) -> Result<Response<pb::ListConcurrencyLimitsResponse>, Status> {
        let limits = concurrency::list(&self.state).await.map_err(status)?;
        Ok(Response::new(pb::ListConcurrencyLimitsResponse {
            limits: limits.iter().map(limit_to_pb).collect(),
        }))
    }

    async fn get_concurrency_limit(
        &self,
        request: Request<pb::GetConcurrencyLimitRequest>,
    ) -> Result<Response<pb::ConcurrencyLimit>, Status> {
        let limit = concurrency::get(&self.state, &request.into_inner().tag)
            .await
            .map_err(status)?;
        Ok(Response::new(limit_to_pb(&limit)))
    }

    async fn delete_concurrency_limit(
        &self,
        request: Request<pb::DeleteConcurrencyLimitRequest>,
    ) -> Result<Response<pb::DeleteConcurrencyLimitResponse>, Status> {
        concurrency::delete(&self.state, &request.into_inner().tag)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::DeleteConcurrencyLimitResponse {}))
    }

    async fn acquire_concurrency_slots(
        &self,
        request: Request<pb::AcquireConcurrencySlotsRequest>,
    ) -> Result<Response<pb::AcquireConcurrencySlotsResponse>, Status> {
        let caller = crate::auth::caller(&request);
        let request = request.into_inner();
        let wait = match request.wait_seconds {
            _ if request.no_wait => Duration::ZERO,
            0 => concurrency::MAX_WAIT,
            seconds => Duration::from_secs(u64::from(seconds)),
        };
        let acquired = concurrency::acquire(
            &self.state,
            &caller,
            concurrency::Acquire {
                flow_run_id: Some(request.flow_run_id).filter(|id| !id.is_empty()),
                tags: request.tags,
                holder_id: request.holder_id,
                lease: Duration::from_secs(u64::from(request.lease_seconds)),
                wait,
            },
        )
        .await
        .map_err(status)?;
        Ok(Response::new(pb::AcquireConcurrencySlotsResponse {
            granted: acquired.granted,
            full_tags: acquired.full_tags,
        }))
    }

    async fn release_concurrency_slots(
        &self,
        request: Request<pb::ReleaseConcurrencySlotsRequest>,
    ) -> Result<Response<pb::ReleaseConcurrencySlotsResponse>, Status> {
        let released = concurrency::release(&self.state, &request.into_inner().holder_id)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ReleaseConcurrencySlotsResponse {
            released,
        }))
    }
}
