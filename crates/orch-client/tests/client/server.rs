//! A small orch server on loopback for the client's tests: `WriteLogs`,
//! `ReportTaskRuns`, `SetFlowRunState` and `SetFlowRunStates` record what
//! they receive (and the `authorization` header that came with it), and fail
//! with the codes queued in `failures` first. State reports are accepted as
//! proposed, unless a code is queued for their run in `failing_runs`.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use orch_proto::v1 as pb;
use orch_proto::v1::flow_run_service_server::{FlowRunService, FlowRunServiceServer};
use orch_proto::v1::task_run_service_server::{TaskRunService, TaskRunServiceServer};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Request, Response, Status};

/// What the server received.
#[derive(Debug, Default)]
pub struct Recorder {
    /// Stored log lines, in the order stored.
    pub lines: Mutex<Vec<pb::LogLine>>,
    /// The size of each `WriteLogs` that was stored: lines, then bytes.
    pub batches: Mutex<Vec<(usize, usize)>>,
    /// Stored task run reports.
    pub task_runs: Mutex<Vec<pb::TaskRun>>,
    /// The `authorization` header of every call, `None` when absent.
    pub authorization: Mutex<Vec<Option<String>>>,
    /// Codes the next calls fail with, first to last.
    pub failures: Mutex<VecDeque<Code>>,
    /// Calls that failed because of `failures`.
    pub failed_calls: Mutex<usize>,
    /// State reports applied, in order, whichever call carried them.
    pub states: Mutex<Vec<pb::SetFlowRunStateRequest>>,
    /// `SetFlowRunState` calls answered.
    pub single_reports: Mutex<usize>,
    /// The number of reports in each `SetFlowRunStates` call answered.
    pub report_batches: Mutex<Vec<usize>>,
    /// Act as a server older than `SetFlowRunStates`: `UNIMPLEMENTED`.
    pub no_batches: Mutex<bool>,
    /// `SetFlowRunStates` calls refused as `UNIMPLEMENTED`.
    pub refused_batches: Mutex<usize>,
    /// Codes the next reports on a run fail with, by run id.
    pub failing_runs: Mutex<HashMap<String, VecDeque<Code>>>,
    /// `SetFlowRunStates` calls received (before `hold_batches`).
    pub arrived_batches: Mutex<usize>,
    /// While set, a `SetFlowRunStates` call waits until it is dropped.
    pub hold_batches: tokio::sync::RwLock<()>,
}

impl Recorder {
    /// Records the call's header, then fails it if a failure is queued.
    fn call<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let header = request
            .metadata()
            .get("authorization")
            .map(|value| value.to_str().unwrap_or("<not ascii>").to_owned());
        self.authorization.lock().unwrap().push(header);
        match self.failures.lock().unwrap().pop_front() {
            Some(code) => {
                *self.failed_calls.lock().unwrap() += 1;
                Err(Status::new(code, "injected by the test server"))
            }
            None => Ok(()),
        }
    }

    /// Applies one state report, or fails it with the code queued for its run.
    fn report(
        &self,
        report: pb::SetFlowRunStateRequest,
    ) -> Result<pb::SetFlowRunStateResponse, Status> {
        let failure = self
            .failing_runs
            .lock()
            .unwrap()
            .get_mut(&report.flow_run_id)
            .and_then(VecDeque::pop_front);
        if let Some(code) = failure {
            return Err(Status::new(code, format!("{} refused", report.flow_run_id)));
        }
        let state = report.state.clone();
        self.states.lock().unwrap().push(report);
        Ok(pb::SetFlowRunStateResponse {
            outcome: pb::TransitionOutcome::Accepted as i32,
            state,
            reason: String::new(),
        })
    }

    /// The messages of the stored lines, in order.
    pub fn messages(&self) -> Vec<String> {
        let lines = self.lines.lock().unwrap();
        lines.iter().map(|line| line.message.clone()).collect()
    }
}

#[derive(Clone)]
struct Service(Arc<Recorder>);

/// A server on loopback until dropped or stopped.
pub struct TestServer {
    pub address: SocketAddr,
    pub recorder: Arc<Recorder>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl TestServer {
    /// A server on a free port.
    pub async fn start() -> Self {
        Self::start_at("127.0.0.1:0".parse().unwrap(), Arc::default()).await
    }

    /// A server at `address`, recording into `recorder`.
    pub async fn start_at(address: SocketAddr, recorder: Arc<Recorder>) -> Self {
        let incoming = TcpIncoming::bind(address).expect("bind a loopback port");
        let address = incoming.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let service = Service(recorder.clone());
        let task = tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(FlowRunServiceServer::new(service.clone()))
                .add_service(TaskRunServiceServer::new(service))
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = stopped.await;
                })
                .await
                .expect("the test server runs");
        });
        Self {
            address,
            recorder,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Makes the next calls fail with `codes`, first to last.
    pub fn fail_next(&self, codes: impl IntoIterator<Item = Code>) {
        self.recorder.failures.lock().unwrap().extend(codes);
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Stops serving and closes the port: open connections are told to go
    /// away (HTTP/2 GOAWAY) and closed once their calls are answered.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take() {
            let drained = tokio::time::timeout(std::time::Duration::from_secs(5), &mut task).await;
            if drained.is_err() {
                task.abort();
                let _ = task.await;
            }
        }
    }
}

fn unused<T>() -> Result<Response<T>, Status> {
    Err(Status::unimplemented("not in the test server"))
}

#[tonic::async_trait]
impl FlowRunService for Service {
    async fn write_logs(
        &self,
        request: Request<pb::WriteLogsRequest>,
    ) -> Result<Response<pb::WriteLogsResponse>, Status> {
        self.0.call(&request)?;
        let lines = request.into_inner().lines;
        let bytes = lines.iter().map(|line| line.message.len()).sum();
        self.0.batches.lock().unwrap().push((lines.len(), bytes));
        let stored = u32::try_from(lines.len()).unwrap();
        self.0.lines.lock().unwrap().extend(lines);
        Ok(Response::new(pb::WriteLogsResponse { stored }))
    }

    async fn list_flow_runs(
        &self,
        _: Request<pb::ListFlowRunsRequest>,
    ) -> Result<Response<pb::ListFlowRunsResponse>, Status> {
        unused()
    }

    async fn get_flow_run(
        &self,
        _: Request<pb::GetFlowRunRequest>,
    ) -> Result<Response<pb::FlowRunDetail>, Status> {
        unused()
    }

    async fn set_flow_run_state(
        &self,
        request: Request<pb::SetFlowRunStateRequest>,
    ) -> Result<Response<pb::SetFlowRunStateResponse>, Status> {
        self.0.call(&request)?;
        *self.0.single_reports.lock().unwrap() += 1;
        self.0.report(request.into_inner()).map(Response::new)
    }

    async fn set_flow_run_states(
        &self,
        request: Request<pb::SetFlowRunStatesRequest>,
    ) -> Result<Response<pb::SetFlowRunStatesResponse>, Status> {
        if *self.0.no_batches.lock().unwrap() {
            *self.0.refused_batches.lock().unwrap() += 1;
            return Err(Status::unimplemented("not in this (older) server"));
        }
        *self.0.arrived_batches.lock().unwrap() += 1;
        let _held = self.0.hold_batches.read().await;
        self.0.call(&request)?;
        let reports = request.into_inner().reports;
        self.0.report_batches.lock().unwrap().push(reports.len());
        let results = reports
            .into_iter()
            .map(|report| match self.0.report(report) {
                Ok(response) => pb::SetFlowRunStateResult {
                    response: Some(response),
                    ..Default::default()
                },
                Err(status) => pb::SetFlowRunStateResult {
                    response: None,
                    error_code: status.code() as i32,
                    error_message: status.message().to_owned(),
                },
            })
            .collect();
        Ok(Response::new(pb::SetFlowRunStatesResponse { results }))
    }

    async fn cancel_flow_run(
        &self,
        _: Request<pb::CancelFlowRunRequest>,
    ) -> Result<Response<pb::FlowRun>, Status> {
        unused()
    }

    async fn retry_flow_run(
        &self,
        _: Request<pb::RetryFlowRunRequest>,
    ) -> Result<Response<pb::FlowRun>, Status> {
        unused()
    }

    async fn delete_flow_runs(
        &self,
        _: Request<pb::DeleteFlowRunsRequest>,
    ) -> Result<Response<pb::DeleteFlowRunsResponse>, Status> {
        unused()
    }

    async fn read_logs(
        &self,
        _: Request<pb::ReadLogsRequest>,
    ) -> Result<Response<pb::ReadLogsResponse>, Status> {
        unused()
    }

    type WatchFlowRunStream = std::pin::Pin<
        Box<dyn tokio_stream::Stream<Item = Result<pb::FlowRunEvent, Status>> + Send>,
    >;

    async fn watch_flow_run(
        &self,
        _: Request<pb::WatchFlowRunRequest>,
    ) -> Result<Response<Self::WatchFlowRunStream>, Status> {
        unused()
    }

    async fn create_subflow_run(
        &self,
        _: Request<pb::CreateSubflowRunRequest>,
    ) -> Result<Response<pb::CreateSubflowRunResponse>, Status> {
        unused()
    }
}

#[tonic::async_trait]
impl TaskRunService for Service {
    async fn report_task_runs(
        &self,
        request: Request<pb::ReportTaskRunsRequest>,
    ) -> Result<Response<pb::ReportTaskRunsResponse>, Status> {
        self.0.call(&request)?;
        let runs = request.into_inner().task_runs;
        self.0.task_runs.lock().unwrap().extend(runs);
        Ok(Response::new(pb::ReportTaskRunsResponse {}))
    }

    async fn list_task_runs(
        &self,
        _: Request<pb::ListTaskRunsRequest>,
    ) -> Result<Response<pb::ListTaskRunsResponse>, Status> {
        unused()
    }
}
