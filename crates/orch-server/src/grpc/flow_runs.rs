//! `FlowRunService`: listing, transitions, cancellation, logs.

use std::pin::Pin;

use futures::Stream;
use orch_proto::v1 as pb;
use orch_proto::v1::flow_run_service_server::FlowRunService;
use orch_store::{NewState, Proposal, TransitionResult, model};
use tonic::{Request, Response, Status};

use crate::convert;
use crate::error::{invalid, status};
use crate::ops;
use crate::ops::run_reads::RunListRequest;
use crate::state::AppState;
use crate::watch::watch_flow_run;

/// Serves flow run requests.
#[derive(Debug, Clone)]
pub struct FlowRunApi {
    pub(crate) state: AppState,
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::FlowRunEvent, Status>> + Send>>;

#[tonic::async_trait]
impl FlowRunService for FlowRunApi {
    async fn list_flow_runs(
        &self,
        request: Request<pb::ListFlowRunsRequest>,
    ) -> Result<Response<pb::ListFlowRunsResponse>, Status> {
        let request = request.into_inner();
        let page = ops::run_reads::list(
            &self.state,
            &RunListRequest {
                flow: request.flow,
                deployment: request.deployment,
                state: request.state,
                work_pool: request.work_pool,
                tag: request.tag,
                since: request.since,
                until: request.until,
                limit: request.limit,
                cursor: request.cursor,
                top_level: request.top_level,
                parent: request.parent,
            },
        )
        .await
        .map_err(status)?;
        Ok(Response::new(pb::ListFlowRunsResponse {
            flow_runs: page.runs.iter().map(convert::listed_flow_run).collect(),
            next_cursor: page
                .next_cursor
                .map(|cursor| cursor.to_string())
                .unwrap_or_default(),
            total: u64::try_from(page.total).unwrap_or(0),
            total_exact: page.total_exact,
        }))
    }

    async fn get_flow_run(
        &self,
        request: Request<pb::GetFlowRunRequest>,
    ) -> Result<Response<pb::FlowRunDetail>, Status> {
        let caller = crate::auth::caller(&request);
        let reference = request.into_inner().flow_run;
        let detail = ops::flow_runs::detail(&self.state, &caller, &reference)
            .await
            .map_err(status)?;
        Ok(Response::new(convert::run_detail(&detail)))
    }

    async fn set_flow_run_state(
        &self,
        request: Request<pb::SetFlowRunStateRequest>,
    ) -> Result<Response<pb::SetFlowRunStateResponse>, Status> {
        let caller = crate::auth::caller(&request);
        let (run_id, proposal) = proposal(request.into_inner())?;
        let result = ops::flow_runs::set_state(&self.state, &caller, &run_id, proposal)
            .await
            .map_err(status)?;
        Ok(Response::new(state_response(&result)))
    }

    async fn set_flow_run_states(
        &self,
        request: Request<pb::SetFlowRunStatesRequest>,
    ) -> Result<Response<pb::SetFlowRunStatesResponse>, Status> {
        let caller = crate::auth::caller(&request);
        let reports = request.into_inner().reports;
        if reports.len() > orch_proto::MAX_STATE_REPORTS {
            return Err(invalid(format!(
                "{} state reports in one SetFlowRunStates call; send at most {} per call",
                reports.len(),
                orch_proto::MAX_STATE_REPORTS
            )));
        }
        // Malformed reports are answered here; the others are applied together.
        let mut answers = Vec::with_capacity(reports.len());
        let mut proposals = Vec::with_capacity(reports.len());
        for report in reports {
            match proposal(report) {
                Ok(proposal) => {
                    answers.push(None);
                    proposals.push(proposal);
                }
                Err(refused) => answers.push(Some(failed(&refused))),
            }
        }
        let mut applied = ops::flow_runs::set_states(&self.state, &caller, proposals)
            .await
            .into_iter();
        let results = answers
            .into_iter()
            .map(|answer| {
                answer.unwrap_or_else(|| match applied.next() {
                    Some(Ok(result)) => pb::SetFlowRunStateResult {
                        response: Some(state_response(&result)),
                        ..Default::default()
                    },
                    Some(Err(error)) => failed(&status(error)),
                    None => failed(&Status::internal("a state report was not answered")),
                })
            })
            .collect();
        Ok(Response::new(pb::SetFlowRunStatesResponse { results }))
    }

    async fn cancel_flow_run(
        &self,
        request: Request<pb::CancelFlowRunRequest>,
    ) -> Result<Response<pb::FlowRun>, Status> {
        let run = ops::flow_runs::cancel(&self.state, &request.into_inner().flow_run)
            .await
            .map_err(status)?;
        Ok(Response::new(convert::flow_run(&run)))
    }

    async fn retry_flow_run(
        &self,
        request: Request<pb::RetryFlowRunRequest>,
    ) -> Result<Response<pb::FlowRun>, Status> {
        let run = ops::flow_runs::retry(&self.state, &request.into_inner().flow_run)
            .await
            .map_err(status)?;
        Ok(Response::new(convert::flow_run(&run)))
    }

    async fn delete_flow_runs(
        &self,
        request: Request<pb::DeleteFlowRunsRequest>,
    ) -> Result<Response<pb::DeleteFlowRunsResponse>, Status> {
        let request = request.into_inner();
        let by_filter = !request.state.is_empty() || !request.before.is_empty();
        let (runs, deleted) = match (request.flow_runs.is_empty(), by_filter) {
            (false, true) => {
                return Err(invalid(
                    "name runs to delete or give a filter (state and before), not both",
                ));
            }
            (false, false) if request.dry_run => {
                return Err(invalid(
                    "a dry run counts the runs a filter takes: give state and before, not ids",
                ));
            }
            (false, false) => ops::flow_runs::delete(&self.state, &request.flow_runs)
                .await
                .map_err(status)?,
            (true, _) => {
                let deleted = ops::flow_runs::delete_matching(
                    &self.state,
                    &request.state,
                    &request.before,
                    request.dry_run,
                )
                .await
                .map_err(status)?;
                (Vec::new(), deleted)
            }
        };
        Ok(Response::new(pb::DeleteFlowRunsResponse {
            flow_runs: runs.iter().map(convert::flow_run).collect(),
            runs: deleted.runs,
            log_lines: deleted.log_lines,
            dry_run: request.dry_run,
        }))
    }

    async fn write_logs(
        &self,
        request: Request<pb::WriteLogsRequest>,
    ) -> Result<Response<pb::WriteLogsResponse>, Status> {
        let caller = crate::auth::caller(&request);
        let request = request.into_inner();
        let lines: Vec<model::LogLine> = request
            .lines
            .into_iter()
            .map(|line| model::LogLine {
                id: 0,
                flow_run_id: line.flow_run_id,
                emitter: line.emitter,
                seq: line.seq as i64,
                timestamp: line.timestamp_micros,
                stream: line.stream,
                level: line.level,
                message: line.message,
                task_run_id: line.task_run_id,
            })
            .collect();
        let stored = ops::flow_runs::write_logs(&self.state, &caller, &lines)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::WriteLogsResponse {
            stored: stored as u32,
        }))
    }

    async fn read_logs(
        &self,
        request: Request<pb::ReadLogsRequest>,
    ) -> Result<Response<pb::ReadLogsResponse>, Status> {
        let caller = crate::auth::caller(&request);
        let request = request.into_inner();
        let limit = request.limit.min(ops::run_reads::MAX_LOG_PAGE);
        let range = ops::run_reads::LogRange::After(request.after_id);
        let (_, lines) =
            ops::run_reads::logs(&self.state, &caller, &request.flow_run, range, limit)
                .await
                .map_err(status)?;
        Ok(Response::new(pb::ReadLogsResponse {
            lines: lines.iter().map(convert::log_line).collect(),
        }))
    }

    async fn create_subflow_run(
        &self,
        request: Request<pb::CreateSubflowRunRequest>,
    ) -> Result<Response<pb::CreateSubflowRunResponse>, Status> {
        let caller = crate::auth::caller(&request);
        let request = request.into_inner();
        let asked = ops::subflows::SubflowRequest {
            parent_flow_run_id: request.parent_flow_run_id,
            parent_task_run_id: request.parent_task_run_id,
            flow: request.flow,
            parameters_json: request.parameters_json,
            traceparent: request.traceparent,
        };
        let made = ops::subflows::create(&self.state, &caller, &asked)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::CreateSubflowRunResponse {
            run: Some(convert::flow_run(&made.created.run)),
            api_key: made.created.credential.unwrap_or_default(),
            traceparent: made.traceparent.to_string(),
        }))
    }

    type WatchFlowRunStream = EventStream;

    async fn watch_flow_run(
        &self,
        request: Request<pb::WatchFlowRunRequest>,
    ) -> Result<Response<Self::WatchFlowRunStream>, Status> {
        let permit = self
            .state
            .open_stream(crate::streams::client_of(request.extensions()))
            .map_err(Status::resource_exhausted)?;
        let caller = crate::auth::caller(&request);
        let request = request.into_inner();
        // Subscribe before the first read: nothing written after it can be missed.
        let events = self.state.events().subscribe();
        let run = ops::run_reads::run(&self.state, &caller, &request.flow_run)
            .await
            .map_err(status)?;
        let stream = watch_flow_run(
            self.state.clone(),
            run.id,
            request.after_log_id,
            events,
            permit,
        );
        Ok(Response::new(Box::pin(stream)))
    }
}

/// A state report as the run it is about and the proposal to apply.
fn proposal(request: pb::SetFlowRunStateRequest) -> Result<(String, Proposal), Status> {
    let proposed = request.state.ok_or_else(|| invalid("state is required"))?;
    let kind = convert::state_type_from_pb(proposed.r#type)?;
    let mut state = NewState::new(kind, &proposed.name, &proposed.message);
    state.exit_code = request.exit_code;
    if let Some(usage) = &request.usage {
        let usage = orch_proto::runs::usage_from_wire(usage);
        if !usage.is_valid() {
            return Err(invalid(format!(
                "usage must not be negative, got {usage:?}; report the figures the worker measured"
            )));
        }
        state.usage = Some(usage);
    }
    let proposal = Proposal {
        state,
        transition_id: request.transition_id,
        worker_id: Some(request.worker_id).filter(|w| !w.is_empty()),
    };
    Ok((request.flow_run_id, proposal))
}

/// What a report's outcome says on the wire.
fn state_response(result: &TransitionResult) -> pb::SetFlowRunStateResponse {
    let (outcome, reason) = match result {
        TransitionResult::Accepted(_) => (pb::TransitionOutcome::Accepted, String::new()),
        TransitionResult::Rejected { reason, .. } => {
            (pb::TransitionOutcome::Rejected, reason.clone())
        }
    };
    pb::SetFlowRunStateResponse {
        outcome: outcome as i32,
        state: Some(convert::state(&result.run().state)),
        reason,
    }
}

/// A report of a batch that failed alone, with the status it would have had alone.
fn failed(status: &Status) -> pb::SetFlowRunStateResult {
    pb::SetFlowRunStateResult {
        response: None,
        error_code: status.code() as i32,
        error_message: status.message().to_owned(),
    }
}
