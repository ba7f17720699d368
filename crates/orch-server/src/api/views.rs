//! The records the REST API serves. Store records go through the gRPC conversions
//! ([`crate::convert`]) into [`orch_proto::json`], the shapes the CLI's
//! `--output json` prints too, so both read the same field names and values.
//! Running durations are measured by the server's clock.

use orch_proto::json;
use orch_store::{Deployment, FlowRun, LogLine, WorkPool, Worker};

use crate::convert;
use crate::state::AppState;

pub use json::rfc3339 as time;

/// The record of a run.
pub fn run(state: &AppState, run: &FlowRun) -> json::FlowRun {
    json::FlowRun::from_proto(&convert::flow_run(run), state.now())
}

/// The records of many runs.
pub fn runs(state: &AppState, runs: &[FlowRun]) -> Vec<json::FlowRun> {
    let now = state.now();
    runs.iter()
        .map(|run| json::FlowRun::from_proto(&convert::flow_run(run), now))
        .collect()
}

/// A run with its state history and task runs.
pub fn run_detail(state: &AppState, detail: &orch_store::RunDetail) -> json::FlowRunDetail {
    json::FlowRunDetail::from_proto(&convert::run_detail(detail), state.now())
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
