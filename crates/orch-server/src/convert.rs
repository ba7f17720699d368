//! Conversions between store records and API messages.

use orch_core::StateType;
use orch_proto::v1 as pb;
use orch_store::model;

use crate::error::invalid;

/// API enum -> store state type.
pub(crate) fn state_type_from_pb(value: i32) -> Result<StateType, tonic::Status> {
    orch_proto::state::state_type(value)
        .ok_or_else(|| invalid(format!("state type {value} is not a valid state type")))
}

pub(crate) fn state(state: &model::State) -> pb::State {
    orch_proto::runs::state_to_wire(state)
}

pub(crate) fn json(object: &model::JsonObject) -> String {
    serde_json::to_string(object).expect("JSON objects always serialise")
}

/// Parses a JSON object field; empty means `{}`.
pub(crate) fn json_object(field: &str, text: &str) -> Result<model::JsonObject, tonic::Status> {
    orch_proto::deploy::json_object(field, text).map_err(invalid)
}

/// The wire form of a run ([`orch_proto::runs`], the one mapping).
pub(crate) fn flow_run(run: &model::FlowRun) -> pb::FlowRun {
    orch_proto::runs::flow_run_to_wire(run)
}

/// The wire form of an artifact.
pub(crate) fn artifact(artifact: &orch_store::Artifact) -> pb::Artifact {
    pb::Artifact {
        id: artifact.id.clone(),
        flow_run_id: artifact.flow_run_id.clone(),
        flow_run_name: artifact.flow_run_name.clone(),
        flow: artifact.flow.clone(),
        task_run_id: artifact.task_run_id.clone().unwrap_or_default(),
        key: artifact.key.clone().unwrap_or_default(),
        kind: artifact.kind.as_str().to_owned(),
        description: artifact.description.clone(),
        data_json: artifact.data.to_string(),
        created_at_micros: artifact.created_at,
    }
}

/// A run with its history and task runs.
pub(crate) fn run_detail(detail: &model::RunDetail) -> pb::FlowRunDetail {
    pb::FlowRunDetail {
        run: Some(flow_run(&detail.run)),
        history: detail.history.iter().map(state).collect(),
        task_runs: detail.task_runs.iter().map(task_run).collect(),
        subflow_runs: detail.subflow_runs.iter().map(listed_flow_run).collect(),
    }
}

/// Parameters larger than this are left out of run listings: a page of runs
/// at the parameters limit would not fit in one message.
const LISTED_PARAMETERS_BYTES: usize = 16 * 1024;

/// [`flow_run`] for a listing: large parameters are replaced by a note
/// saying where to see them.
pub(crate) fn listed_flow_run(run: &model::FlowRun) -> pb::FlowRun {
    flow_run(&listed(run))
}

/// `run` as a listing shows it: parameters larger than
/// [`LISTED_PARAMETERS_BYTES`] replaced by a note saying where to see them.
pub(crate) fn listed(run: &model::FlowRun) -> model::FlowRun {
    let mut listed = run.clone();
    let size = json(&run.parameters).len();
    if size > LISTED_PARAMETERS_BYTES {
        listed.parameters = [(
            "parameters_elided".to_owned(),
            serde_json::Value::String(format!(
                "{} of parameters, left out of listings: see `orch flow-run inspect {}`",
                orch_core::limits::human_bytes(size),
                run.id
            )),
        )]
        .into_iter()
        .collect();
    }
    listed
}

pub(crate) fn work_pool(pool: &model::WorkPool) -> pb::WorkPool {
    pb::WorkPool {
        id: pool.id.clone(),
        name: pool.name.clone(),
        r#type: pool.pool_type.clone(),
        description: pool.description.clone(),
        paused: pool.paused,
        concurrency_limit: pool.concurrency_limit,
        created_at_micros: pool.created_at,
        updated_at_micros: pool.updated_at,
        runs_in_flight: pool.runs_in_flight,
        runs_waiting: pool.runs_waiting,
        workers_online: pool.workers_online,
        container_json: pool.container.to_json(),
    }
}

pub(crate) fn deployment(deployment: &model::Deployment) -> pb::Deployment {
    pb::Deployment {
        id: deployment.id.clone(),
        flow_id: deployment.flow_id.clone(),
        spec: Some(orch_proto::deploy::deployment_spec(
            &deployment.spec(),
            &deployment.base_dir,
        )),
        paused: deployment.paused,
        created_at_micros: deployment.created_at,
        updated_at_micros: deployment.updated_at,
    }
}

/// An API deployment spec -> the core's, with the same checks as a deploy file.
pub(crate) fn deployment_input(
    spec: pb::DeploymentSpec,
) -> Result<orch_store::DeploymentInput, tonic::Status> {
    let label = format!("deployment \"{}/{}\"", spec.flow, spec.name);
    let policy = run_policy(&label, &spec)?;
    let schedules = spec
        .schedules
        .into_iter()
        .map(|s| schedule_spec(&label, s))
        .collect::<Result<Vec<_>, tonic::Status>>()?;
    let environment = orch_core::FlowEnvironment {
        env: spec.env.into_iter().collect(),
        secrets: spec.secrets,
    };
    if let Some(problem) = environment
        .env
        .keys()
        .chain(&environment.secrets)
        .find_map(|name| orch_core::flow_env::variable_name_problem(name))
    {
        return Err(invalid(format!("{label}: {problem}")));
    }
    let container = orch_core::ContainerSettings::from_json(&spec.container_json)
        .map_err(|problem| invalid(format!("{label}: {problem}")))?;
    let core = orch_core::DeploymentSpec {
        environment,
        container,
        retention: orch_core::Retention {
            runs_days: spec.retention_runs_days,
            logs_days: spec.retention_logs_days,
        },
        parameters: json_object(&format!("{label}: parameters"), &spec.parameters_json)?,
        flow: spec.flow,
        name: spec.name,
        entrypoint: spec.entrypoint,
        work_pool: spec.work_pool,
        tags: spec.tags,
        description: spec.description,
        retries: spec.retries,
        retry_delay_seconds: spec.retry_delay_seconds,
        paused: false,
        schedules,
        policy,
    };
    if core.flow.is_empty() || core.name.is_empty() || core.work_pool.is_empty() {
        return Err(invalid(format!(
            "{label}: flow, name and work_pool are required"
        )));
    }
    if core
        .entrypoint
        .first()
        .is_none_or(|program| program.is_empty())
    {
        return Err(invalid(format!("{label}: entrypoint must name a program")));
    }
    // The deploy file's rules, with its messages (the store checks again).
    core.check().map_err(invalid)?;
    Ok(orch_store::DeploymentInput {
        spec: core,
        base_dir: spec.base_dir,
    })
}

/// An API schedule -> the core's (not yet checked: the store checks it).
pub(crate) fn schedule_spec(
    label: &str,
    s: pb::ScheduleSpec,
) -> Result<orch_core::ScheduleSpec, tonic::Status> {
    orch_proto::deploy::schedule_from_wire(label, &s).map_err(invalid)
}

/// The catch-up and concurrency fields of an API spec; empty strings are defaults.
fn run_policy(
    label: &str,
    spec: &pb::DeploymentSpec,
) -> Result<orch_core::RunPolicy, tonic::Status> {
    let mut policy = orch_core::RunPolicy::default();
    let setting = |error: orch_core::Error| invalid(format!("{label}: {error}"));
    if !spec.catch_up.is_empty() {
        policy.catch_up = spec.catch_up.parse().map_err(setting)?;
    }
    if !spec.collision_strategy.is_empty() {
        policy.collision_strategy = spec.collision_strategy.parse().map_err(setting)?;
    }
    policy.max_lateness_seconds = spec.max_lateness_seconds;
    policy.concurrency_limit = spec.concurrency_limit;
    Ok(policy)
}

pub(crate) fn log_line(line: &model::LogLine) -> pb::LogLine {
    pb::LogLine {
        id: line.id,
        flow_run_id: line.flow_run_id.clone(),
        emitter: line.emitter.clone(),
        seq: line.seq as u64,
        timestamp_micros: line.timestamp,
        stream: line.stream.clone(),
        level: line.level.clone(),
        message: line.message.clone(),
        task_run_id: line.task_run_id.clone(),
    }
}

pub(crate) fn worker(worker: &model::Worker, now: i64, online_since: i64) -> pb::Worker {
    pb::Worker {
        id: worker.id.clone(),
        name: worker.name.clone(),
        work_pool: worker.work_pool.clone(),
        hostname: worker.hostname.clone(),
        limit: worker.limit,
        online: worker.is_online(now, online_since),
        last_heartbeat_micros: worker.last_heartbeat,
        started_at_micros: worker.started_at,
        runs_in_flight: worker.runs_in_flight,
        version: worker.version.clone(),
        heartbeat_interval_seconds: worker
            .heartbeat_interval
            .map_or(0.0, |micros| micros as f64 / 1e6),
        stopped_at_micros: worker.stopped_at,
        work_pool_type: String::new(),
    }
}

/// The wire form of a task run ([`orch_proto::runs`], the one mapping).
pub(crate) fn task_run(task: &orch_store::TaskRun) -> pb::TaskRun {
    orch_proto::runs::task_run_to_wire(task)
}

/// The wire form of a record.
pub(crate) fn record(record: &orch_store::AuditRecord) -> pb::AuditRecord {
    pb::AuditRecord {
        id: record.id.clone(),
        at_micros: record.at,
        caller: record.caller.clone(),
        address: record.address.clone(),
        action: record.action.clone(),
        target: record.target.clone(),
        outcome: record.outcome.clone(),
        transport: record.transport.clone(),
    }
}

/// The wire form of a listed secret.
pub(crate) fn secret(info: &orch_store::SecretInfo) -> pb::Secret {
    pb::Secret {
        name: info.name.clone(),
        created_at_micros: info.created_at,
        updated_at_micros: info.updated_at,
        deployments: info.deployments.clone(),
    }
}

/// A token as the API shows it (never its key).
pub(crate) fn token(info: &orch_store::TokenInfo) -> pb::Token {
    pb::Token {
        name: info.name.clone(),
        scope: info.scope.as_str().to_owned(),
        pools: info.pools.clone(),
        created_micros: info.created_at,
        expires_micros: info.expires_at,
        revoked_micros: info.revoked_at,
        last_used_micros: info.last_used,
    }
}

/// The wire form of an automation and its unset `${NAME}`s.
pub(crate) fn automation(
    automation: &orch_store::Automation,
    unset: Vec<String>,
) -> pb::Automation {
    pb::Automation {
        id: automation.id.clone(),
        name: automation.name.clone(),
        description: automation.description.clone(),
        spec_json: automation.spec.clone(),
        paused: automation.paused != 0,
        last_fired_at_micros: automation.last_fired_at.unwrap_or(0),
        firings: automation.firings,
        suppressed: automation.suppressed,
        delivered: automation.delivered,
        failed: automation.failed,
        skipped: automation.skipped,
        pending: automation.pending,
        created_at_micros: automation.created_at,
        updated_at_micros: automation.updated_at,
        unset_variables: unset,
        loop_suppressed: automation.loop_suppressed,
        loop_message: automation.loop_message.clone(),
        loop_suppressed_at_micros: automation.loop_suppressed_at.unwrap_or(0),
    }
}

/// The wire form of a history entry.
pub(crate) fn history_entry(entry: &orch_store::AutomationEntry) -> pb::AutomationHistoryEntry {
    pb::AutomationHistoryEntry {
        firing_id: entry.firing_id.clone(),
        kind: entry.kind.clone(),
        flow_run_id: entry.flow_run_id.clone().unwrap_or_default(),
        action_type: entry.action_type.clone(),
        attempt: entry.attempt,
        outcome: entry.outcome.clone(),
        status_code: entry.status_code,
        error: entry.error.clone(),
        at_micros: entry.happened_at,
        duration_micros: entry.duration_micros,
    }
}
