//! Subflow runs: a flow calling another flow asks for a flow run of its own
//! for the call (docs/flow-protocol.md, "Subflow runs").
//!
//! Least privilege: the caller (usually the parent's own run credential)
//! may create subflow runs of the run it may report on only
//! ([`crate::ops::access::run`]); the new run gets its own run credential,
//! valid for that run only until it ends, with which the parent's process
//! reports the subflow's states, task runs, logs and artifacts. The parent's
//! credential gains nothing over its children, and a child's nothing over
//! its parent or siblings.

use orch_core::TraceParent;
use orch_store::{CreatedSubflowRun, JsonObject, NewSubflowRun};

use super::{OpsError, OpsResult};
use crate::caller::Caller;
use crate::effects;
use crate::state::AppState;

/// What a caller asks for: the fields of `CreateSubflowRunRequest`.
#[derive(Debug, Clone, Default)]
pub struct SubflowRequest {
    /// The calling run.
    pub parent_flow_run_id: String,
    /// The parent's task run standing for the call; empty for none.
    pub parent_task_run_id: String,
    /// The subflow's name.
    pub flow: String,
    /// Its parameters: a JSON object, or empty.
    pub parameters_json: String,
    /// The span its run span is a child of; empty: the parent run's span.
    pub traceparent: String,
}

/// A subflow run made for a caller.
#[derive(Debug)]
pub struct Created {
    /// The run and its credential.
    pub created: CreatedSubflowRun,
    /// The `traceparent` of the subflow run's own span.
    pub traceparent: TraceParent,
}

/// Creates the subflow run `request` asks for, if `caller` may report on the
/// parent run; with authentication on, with its own run credential.
pub async fn create(
    state: &AppState,
    caller: &Caller,
    request: &SubflowRequest,
) -> OpsResult<Created> {
    if request.parent_flow_run_id.is_empty() {
        return Err(OpsError::Invalid(
            "parent_flow_run_id is required: the id of the run calling the subflow \
             (ORCH_FLOW_RUN_ID)"
                .into(),
        ));
    }
    super::access::run(state, caller, &request.parent_flow_run_id).await?;
    let parameters = parameters(&request.parameters_json)?;
    let store = state.store();
    let parent = store
        .flow_runs()
        .flow_run(&request.parent_flow_run_id)
        .await?;
    let trace_parent = match request.traceparent.trim() {
        "" => parent.trace().traceparent(),
        text => TraceParent::parse(text).map_err(OpsError::Invalid)?,
    };
    let new = NewSubflowRun {
        parent_flow_run_id: parent.id,
        parent_task_run_id: Some(request.parent_task_run_id.clone()).filter(|id| !id.is_empty()),
        flow: request.flow.clone(),
        parameters,
        trace_parent: Some(trace_parent),
    };
    let changed = store
        .flow_runs()
        .create_subflow_run(&new, state.config().auth)
        .await?;
    effects::apply(state, &changed.transitions);
    let created = changed.value;
    let traceparent = created.run.trace().traceparent();
    Ok(Created {
        created,
        traceparent,
    })
}

/// The parameters' JSON text as an object (empty text: none).
fn parameters(text: &str) -> OpsResult<JsonObject> {
    if text.trim().is_empty() {
        return Ok(JsonObject::new());
    }
    match serde_json::from_str(text) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(OpsError::Invalid(
            "parameters_json must be a JSON object, e.g. {\"symbol\": \"GOOG\"}".into(),
        )),
        Err(error) => Err(OpsError::Invalid(format!(
            "parameters_json is not valid JSON: {error}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_a_json_object_or_nothing() {
        assert!(parameters("").unwrap().is_empty());
        assert_eq!(parameters(r#"{"n":1}"#).unwrap()["n"], 1);
        let error = parameters("[1]").unwrap_err().to_string();
        assert!(error.contains("must be a JSON object"), "{error}");
        let error = parameters("{").unwrap_err().to_string();
        assert!(error.contains("not valid JSON"), "{error}");
    }
}
