//! A deploy file's deployments and schedules on the wire: the one mapping
//! from `orch_core`'s specs to the API's, used by the CLI (to apply a deploy
//! file) and the server (to answer with a deployment).

use crate::v1 as pb;

/// The wire form of deployment `spec`, whose relative entrypoints are
/// resolved against `base_dir`.
pub fn deployment_spec(spec: &orch_core::DeploymentSpec, base_dir: &str) -> pb::DeploymentSpec {
    pb::DeploymentSpec {
        flow: spec.flow.clone(),
        name: spec.name.clone(),
        entrypoint: spec.entrypoint.clone(),
        work_pool: spec.work_pool.clone(),
        parameters_json: serde_json::Value::Object(spec.parameters.clone()).to_string(),
        tags: spec.tags.clone(),
        description: spec.description.clone(),
        retries: spec.retries,
        retry_delay_seconds: spec.retry_delay_seconds,
        schedules: spec.schedules.iter().map(schedule_spec).collect(),
        base_dir: base_dir.to_owned(),
        catch_up: spec.policy.catch_up.as_str().to_owned(),
        max_lateness_seconds: spec.policy.max_lateness_seconds,
        concurrency_limit: spec.policy.concurrency_limit,
        collision_strategy: spec.policy.collision_strategy.as_str().to_owned(),
        retention_runs_days: spec.retention.runs_days,
        retention_logs_days: spec.retention.logs_days,
        env: spec.environment.env.clone().into_iter().collect(),
        secrets: spec.environment.secrets.clone(),
        container_json: spec.container.to_json(),
    }
}

/// The wire form of a schedule.
pub fn schedule_spec(schedule: &orch_core::ScheduleSpec) -> pb::ScheduleSpec {
    pb::ScheduleSpec {
        slug: schedule.slug.clone(),
        cron: schedule.cron.clone(),
        interval_seconds: schedule.interval_seconds,
        anchor: schedule.anchor.clone(),
        rrule: schedule.rrule.clone(),
        timezone: schedule.timezone.clone(),
        active: schedule.active,
        parameters_json: serde_json::Value::Object(schedule.parameters.clone()).to_string(),
        calendar_json: schedule
            .calendar
            .as_ref()
            .map(|calendar| serde_json::to_string(calendar).unwrap_or_default())
            .unwrap_or_default(),
        skip_after_close: Some(schedule.skip_after_close),
    }
}
