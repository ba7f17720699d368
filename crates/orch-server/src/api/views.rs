//! The records the REST API serves: the store's run records are the
//! records of [`orch_core::records`], printed through [`orch_proto::json`]
//! (the shapes the CLI's `--output json` prints too, so both read the same
//! field names and values); the other records go through the gRPC
//! conversions ([`crate::convert`]). Running durations are measured by the
//! server's clock.

use orch_proto::json;
use orch_store::{Deployment, FlowRun, LogLine, WorkPool, Worker};

use crate::convert;
use crate::state::AppState;

pub use json::rfc3339 as time;

/// The record of a run.
pub fn run(state: &AppState, run: &FlowRun) -> json::FlowRun {
    json::FlowRun::of(run.clone(), state.now())
}

/// The records of many runs.
pub fn runs(state: &AppState, runs: &[FlowRun]) -> Vec<json::FlowRun> {
    let now = state.now();
    runs.iter()
        .map(|run| json::FlowRun::of(run.clone(), now))
        .collect()
}

/// A run with its state history and task runs; its subflow runs as a
/// listing shows them (large parameters left out).
pub fn run_detail(state: &AppState, detail: &orch_store::RunDetail) -> json::FlowRunDetail {
    let now = state.now();
    json::FlowRunDetail {
        run: json::FlowRun::of(detail.run.clone(), now),
        history: detail.history.clone(),
        task_runs: detail
            .task_runs
            .iter()
            .map(|task| json::TaskRun::of(task.clone(), now))
            .collect(),
        subflow_runs: detail
            .subflow_runs
            .iter()
            .map(|run| json::FlowRun::of(convert::listed(run), now))
            .collect(),
    }
}

/// The records of log lines.
pub fn lines(lines: &[LogLine]) -> Vec<json::LogLine> {
    lines
        .iter()
        .map(|line| json::LogLine::from_proto(&convert::log_line(line)))
        .collect()
}

/// The record of a deployment with its newest and upcoming runs.
pub fn deployment(
    state: &AppState,
    deployment: &Deployment,
    last_runs: &[FlowRun],
    upcoming_runs: &[FlowRun],
) -> json::Deployment {
    let mut record = json::Deployment::from_proto(&convert::deployment(deployment));
    record.last_runs = Some(runs(state, last_runs));
    record.upcoming_runs = Some(runs(state, upcoming_runs));
    record
}

/// The record of a worker, online or not by the server's clock.
pub fn worker(state: &AppState, worker: &Worker) -> json::Worker {
    json::Worker::from_proto(&convert::worker(worker, state.now(), state.online_since()))
}

/// The record of a pool with its workers.
pub fn pool(pool: &WorkPool, workers: Vec<json::Worker>) -> json::WorkPool {
    let mut record = json::WorkPool::from_proto(&convert::work_pool(pool));
    record.workers = Some(workers);
    record
}

/// The record of an artifact.
pub fn artifact(artifact: &orch_store::Artifact) -> json::Artifact {
    json::Artifact::from_proto(&convert::artifact(artifact))
}
