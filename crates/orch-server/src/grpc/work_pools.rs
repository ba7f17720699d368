//! `WorkPoolService`.

use orch_proto::v1 as pb;
use orch_proto::v1::work_pool_service_server::WorkPoolService;
use orch_store::WorkPoolUpdate;
use tonic::{Request, Response, Status};

use crate::convert;
use crate::error::{invalid, status};
use crate::ops::work_pools;
use crate::state::AppState;

/// Serves work pool requests.
#[derive(Debug, Clone)]
pub struct WorkPoolApi {
    pub(crate) state: AppState,
}

#[tonic::async_trait]
impl WorkPoolService for WorkPoolApi {
    async fn create_work_pool(
        &self,
        request: Request<pb::CreateWorkPoolRequest>,
    ) -> Result<Response<pb::WorkPool>, Status> {
        let request = request.into_inner();
        let pool = work_pools::create(
            &self.state,
            work_pools::NewPool {
                name: request.name,
                pool_type: request.r#type,
                description: request.description,
                concurrency_limit: request.concurrency_limit,
                container_json: request.container_json,
            },
        )
        .await
        .map_err(status)?;
        Ok(Response::new(convert::work_pool(&pool)))
    }

    async fn list_work_pools(
        &self,
        _request: Request<pb::ListWorkPoolsRequest>,
    ) -> Result<Response<pb::ListWorkPoolsResponse>, Status> {
        let pools = work_pools::list(&self.state).await.map_err(status)?;
        Ok(Response::new(pb::ListWorkPoolsResponse {
            work_pools: pools.iter().map(convert::work_pool).collect(),
        }))
    }

    async fn get_work_pool(
        &self,
        request: Request<pb::GetWorkPoolRequest>,
    ) -> Result<Response<pb::WorkPool>, Status> {
        let pool = work_pools::get(&self.state, &request.into_inner().name)
            .await
            .map_err(status)?;
        Ok(Response::new(convert::work_pool(&pool)))
    }

    async fn update_work_pool(
        &self,
        request: Request<pb::UpdateWorkPoolRequest>,
    ) -> Result<Response<pb::WorkPool>, Status> {
        let caller = crate::auth::caller(&request);
        let request = request.into_inner();
        if request.clear_concurrency_limit && request.concurrency_limit.is_some() {
            return Err(invalid("set a concurrency limit or clear it, not both"));
        }
        let update = WorkPoolUpdate {
            paused: request.paused,
            concurrency_limit: if request.clear_concurrency_limit {
                Some(None)
            } else {
                request.concurrency_limit.map(Some)
            },
        };
        let pool = work_pools::update(&self.state, &caller, &request.name, update)
            .await
            .map_err(status)?;
        Ok(Response::new(convert::work_pool(&pool)))
    }

    async fn delete_work_pool(
        &self,
        request: Request<pb::DeleteWorkPoolRequest>,
    ) -> Result<Response<pb::DeleteWorkPoolResponse>, Status> {
        work_pools::delete(&self.state, &request.into_inner().name)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::DeleteWorkPoolResponse {}))
    }
}
