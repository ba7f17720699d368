//! A deploy file's deployments and schedules on the wire: the one mapping
//! between `orch_core`'s specs and the API's, used by the CLI (to apply a
//! deploy file), the server (to read a schedule and to answer with a
//! deployment) and the JSON records ([`crate::json::Schedule`]).

use serde_json::{Map, Value};

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
    let rule = &schedule.rule;
    pb::ScheduleSpec {
        slug: schedule.slug.clone(),
        cron: rule.cron.clone(),
        interval_seconds: rule.interval_seconds,
        anchor: rule.anchor.clone(),
        rrule: rule.rrule.clone(),
        timezone: rule.timezone.clone(),
        active: rule.active,
        parameters_json: Value::Object(rule.parameters.clone()).to_string(),
        calendar_json: schedule
            .calendar
            .as_ref()
            .map(|calendar| serde_json::to_string(calendar).unwrap_or_default())
            .unwrap_or_default(),
        skip_after_close: Some(schedule.skip_after_close),
    }
}

/// The core form of wire schedule `schedule`, not yet checked (the store
/// checks it with the deploy file's rules). An empty time zone is UTC.
///
/// # Errors
///
/// Its parameters are not a JSON object, or its calendar is not a calendar;
/// the message starts with `label` (e.g. `deployment "etl/nightly"`).
pub fn schedule_from_wire(
    label: &str,
    schedule: &pb::ScheduleSpec,
) -> Result<orch_core::ScheduleSpec, String> {
    let parameters = json_object(
        &format!("{label}: schedule parameters"),
        &schedule.parameters_json,
    )?;
    let calendar = match schedule.calendar_json.trim() {
        "" => None,
        text => Some(
            serde_json::from_str::<orch_core::CalendarSpec>(text).map_err(|error| {
                format!(
                    "{label}: calendar_json is not a calendar ({error}); send \
                     {{\"name\": \"XNYS\"}} or a user calendar with its days"
                )
            })?,
        ),
    };
    Ok(orch_core::ScheduleSpec {
        slug: schedule.slug.clone(),
        rule: schedule_rule(schedule, parameters),
        calendar,
        skip_after_close: schedule.skip_after_close.unwrap_or(true),
    })
}

/// The rule part of wire schedule `schedule`, with its `parameters` already
/// read: the one field mapping behind [`schedule_from_wire`] and the JSON
/// record.
pub(crate) fn schedule_rule(
    schedule: &pb::ScheduleSpec,
    parameters: Map<String, Value>,
) -> orch_core::ScheduleRule {
    orch_core::ScheduleRule {
        cron: schedule.cron.clone(),
        interval_seconds: schedule.interval_seconds,
        anchor: schedule.anchor.clone(),
        rrule: schedule.rrule.clone(),
        timezone: if schedule.timezone.is_empty() {
            "UTC".to_owned()
        } else {
            schedule.timezone.clone()
        },
        active: schedule.active,
        parameters,
    }
}

/// A JSON object sent as text (`field` names it in the error); empty text is `{}`.
///
/// # Errors
///
/// The text is not JSON, or is JSON but not an object.
pub fn json_object(field: &str, text: &str) -> Result<Map<String, Value>, String> {
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(other) => Err(format!("{field} must be a JSON object, got {other}")),
        Err(error) => Err(format!("{field} is not valid JSON: {error}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire() -> pb::ScheduleSpec {
        pb::ScheduleSpec {
            slug: "nightly".into(),
            cron: Some("0 2 * * *".into()),
            timezone: "Europe/Paris".into(),
            active: true,
            parameters_json: r#"{"force": true}"#.into(),
            calendar_json: r#"{"name": "XNYS"}"#.into(),
            skip_after_close: Some(false),
            ..Default::default()
        }
    }

    #[test]
    fn a_schedule_goes_to_the_wire_and_back_unchanged() {
        let spec = schedule_from_wire("deployment \"etl/nightly\"", &wire()).unwrap();
        assert_eq!(spec.rule.cron.as_deref(), Some("0 2 * * *"));
        assert_eq!(spec.rule.parameters["force"], true);
        assert_eq!(
            spec.calendar.as_ref().map(|c| c.name.as_str()),
            Some("XNYS")
        );
        assert!(!spec.skip_after_close);
        assert_eq!(schedule_spec(&spec).slug, "nightly");
        let again = schedule_from_wire("again", &schedule_spec(&spec)).unwrap();
        assert_eq!(again, spec);
    }

    #[test]
    fn an_empty_zone_is_utc_and_bad_parameters_name_the_deployment() {
        let mut schedule = wire();
        schedule.timezone = String::new();
        let spec = schedule_from_wire("d", &schedule).unwrap();
        assert_eq!(spec.rule.timezone, "UTC");
        schedule.parameters_json = "[1]".into();
        let error = schedule_from_wire("deployment \"etl/nightly\"", &schedule).unwrap_err();
        assert_eq!(
            error,
            "deployment \"etl/nightly\": schedule parameters must be a JSON object, got [1]"
        );
        schedule.parameters_json = String::new();
        schedule.calendar_json = "{".into();
        let error = schedule_from_wire("d", &schedule).unwrap_err();
        assert!(
            error.starts_with("d: calendar_json is not a calendar ("),
            "{error}"
        );
        assert!(
            error.ends_with("; send {\"name\": \"XNYS\"} or a user calendar with its days"),
            "{error}"
        );
    }
}
