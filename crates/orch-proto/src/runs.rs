//! The run records ([`orch_core::records`]) on the wire: the one mapping each
//! way between them and the API's messages, used by the server (to answer and
//! to read reports) and by every client (the CLI's views, `orch_proto::json`).

use orch_core::ResourceUsage;
use orch_core::records::{FlowRun, State, TaskRun, TaskRunState};
use serde_json::{Map, Value};

use crate::v1 as pb;

/// A message that does not make a record: what is missing or wrong, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError(pub String);

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WireError {}

/// The wire form of `state`.
pub fn state_to_wire(state: &State) -> pb::State {
    pb::State {
        r#type: crate::state::state_type_value(state.kind),
        name: state.name.clone(),
        message: state.message.clone(),
        timestamp_micros: state.timestamp,
    }
}

/// The record of wire state `state` of `what` (e.g. `flow run "r1"`). A
/// state without a name takes its type's display name (`Completed`).
///
/// # Errors
///
/// The state is missing, or its type is unspecified or unknown to this build.
pub fn state_from_wire(state: Option<&pb::State>, what: &str) -> Result<State, WireError> {
    let state = state.ok_or_else(|| WireError(format!("{what}: a state is required")))?;
    let kind = crate::state::state_type(state.r#type).ok_or_else(|| {
        WireError(format!(
            "{what}: state type {} is not a valid state type (a client and a server of \
             different orch versions? upgrade the older one)",
            state.r#type
        ))
    })?;
    Ok(State {
        kind,
        name: if state.name.is_empty() {
            kind.display_name().to_owned()
        } else {
            state.name.clone()
        },
        message: state.message.clone(),
        timestamp: state.timestamp_micros,
    })
}

/// The wire form of a run's resource usage.
pub fn usage_to_wire(usage: ResourceUsage) -> pb::ResourceUsage {
    pb::ResourceUsage {
        cpu_user_micros: usage.cpu_user_micros,
        cpu_system_micros: usage.cpu_system_micros,
        max_rss_bytes: usage.max_rss_bytes,
        wall_micros: usage.wall_micros,
    }
}

/// The domain value of wire usage `usage`.
pub fn usage_from_wire(usage: &pb::ResourceUsage) -> ResourceUsage {
    ResourceUsage {
        cpu_user_micros: usage.cpu_user_micros,
        cpu_system_micros: usage.cpu_system_micros,
        max_rss_bytes: usage.max_rss_bytes,
        wall_micros: usage.wall_micros,
    }
}

/// The wire form of `run`, with its trace id.
pub fn flow_run_to_wire(run: &FlowRun) -> pb::FlowRun {
    pb::FlowRun {
        id: run.id.clone(),
        name: run.name.clone(),
        flow: run.flow.clone(),
        deployment: run.deployment.clone(),
        deployment_id: run.deployment_id.clone().unwrap_or_default(),
        work_pool: run.work_pool.clone(),
        state: Some(state_to_wire(&run.state)),
        parameters_json: Value::Object(run.parameters.clone()).to_string(),
        expected_start_micros: run.expected_start,
        start_micros: run.start_time,
        end_micros: run.end_time,
        run_count: run.run_count,
        worker_id: run.worker_id.clone().unwrap_or_default(),
        worker_name: run.worker_name.clone(),
        created_at_micros: run.created_at,
        tags: run.tags.clone(),
        exit_code: run.exit_code,
        usage: run.usage.map(usage_to_wire),
        trace_id: run.trace().trace_id_hex(),
        schedule_slug: run.schedule_slug.clone().unwrap_or_default(),
        parent_flow_run_id: run.parent_flow_run_id.clone().unwrap_or_default(),
        parent_task_run_id: run.parent_task_run_id.clone().unwrap_or_default(),
    }
}

/// The record of wire run `run`. The wire does not carry its pool's id nor
/// the trace context it was created with (its trace id is in `run.trace_id`):
/// those are `None`. Parameters that are not a JSON object (which no server
/// sends) are kept as `{"parameters_unreadable": <the text>}`.
///
/// # Errors
///
/// Its state is missing or of a type this build does not know.
pub fn flow_run_from_wire(run: &pb::FlowRun) -> Result<FlowRun, WireError> {
    let what = format!("flow run \"{}\"", run.id);
    Ok(FlowRun {
        id: run.id.clone(),
        name: run.name.clone(),
        flow: run.flow.clone(),
        deployment: run.deployment.clone(),
        deployment_id: non_empty(&run.deployment_id),
        work_pool: run.work_pool.clone(),
        work_pool_id: None,
        state: state_from_wire(run.state.as_ref(), &what)?,
        parameters: readable_object(&run.parameters_json),
        tags: run.tags.clone(),
        expected_start: run.expected_start_micros,
        start_time: run.start_micros,
        end_time: run.end_micros,
        run_count: run.run_count,
        worker_id: non_empty(&run.worker_id),
        worker_name: run.worker_name.clone(),
        exit_code: run.exit_code,
        usage: run.usage.as_ref().map(usage_from_wire),
        trace_parent: None,
        trace_state: None,
        created_at: run.created_at_micros,
        schedule_slug: non_empty(&run.schedule_slug),
        parent_flow_run_id: non_empty(&run.parent_flow_run_id),
        parent_task_run_id: non_empty(&run.parent_task_run_id),
    })
}

/// The wire form of `task`.
pub fn task_run_to_wire(task: &TaskRun) -> pb::TaskRun {
    pb::TaskRun {
        id: task.id.clone(),
        flow_run_id: task.flow_run_id.clone(),
        name: task.name.clone(),
        tags: task.tags.clone(),
        state: Some(state_to_wire(&task.state)),
        attempt: task.attempt,
        max_retries: task.max_retries,
        start_micros: task.start_time,
        end_micros: task.end_time,
        error: task.error.clone(),
        result_json: task.result.clone(),
        upstream_ids: task.upstream_ids.clone(),
        history: task
            .history
            .iter()
            .map(|entry| pb::TaskRunState {
                seq: entry.seq,
                state: Some(state_to_wire(&entry.state)),
                attempt: entry.attempt,
            })
            .collect(),
        created_at_micros: task.created_at,
        cpu_micros: task.cpu_micros,
    }
}

/// The record of wire task run `task` (a report, or an answer). A negative
/// CPU time is no measurement.
///
/// # Errors
///
/// Its state, or a state of its history, is missing or of an unknown type.
pub fn task_run_from_wire(task: &pb::TaskRun) -> Result<TaskRun, WireError> {
    let what = format!("task run \"{}\" ({})", task.name, task.id);
    let history = task
        .history
        .iter()
        .map(|entry| {
            Ok(TaskRunState {
                seq: entry.seq,
                attempt: entry.attempt,
                state: state_from_wire(entry.state.as_ref(), &what)?,
            })
        })
        .collect::<Result<Vec<_>, WireError>>()?;
    Ok(TaskRun {
        state: state_from_wire(task.state.as_ref(), &what)?,
        id: task.id.clone(),
        flow_run_id: task.flow_run_id.clone(),
        name: task.name.clone(),
        tags: task.tags.clone(),
        attempt: task.attempt,
        max_retries: task.max_retries,
        start_time: task.start_micros,
        end_time: task.end_micros,
        error: task.error.clone(),
        result: task.result_json.clone(),
        upstream_ids: task.upstream_ids.clone(),
        history,
        created_at: task.created_at_micros,
        cpu_micros: task.cpu_micros.filter(|micros| *micros >= 0),
    })
}

/// `None` for an empty string.
fn non_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}

/// A JSON object sent as text; empty text is `{}`, and text that is not a
/// JSON object is kept under `parameters_unreadable` so that nothing is hidden.
pub(crate) fn readable_object(text: &str) -> Map<String, Value> {
    match crate::json::json_object(text) {
        Value::Object(object) => object,
        other => [("parameters_unreadable".to_owned(), other)]
            .into_iter()
            .collect(),
    }
}

#[cfg(test)]
#[path = "runs_tests.rs"]
mod tests;
