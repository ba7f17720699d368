//! Checks the rules that TOML types cannot express, and turns the raw file
//! into [`DeploymentSpec`]s.

use std::collections::HashMap;

use toml::Spanned;

use super::calendars::Declared;
use super::parameters::parameters;
use super::raw::{RawDeployment, RawFile};
use super::schedule::schedule;
use super::source::Source;
use super::{DeploymentSpec, ScheduleSpec};
use crate::error::{Error, Result};
use crate::identifier::name_problem;
use crate::policy::RunPolicy;
use crate::settings;

/// Validates every deployment of the file, in order.
pub(super) fn deployments(
    source: &Source<'_>,
    raw: RawFile,
    calendars: &Declared,
) -> Result<Vec<DeploymentSpec>> {
    if raw.deployments.is_empty() {
        return Err(source.error(
            None,
            "no deployments are declared; add a [[deployments]] table with \
             flow, name, entrypoint and work_pool",
        ));
    }
    let mut first_seen: HashMap<(String, String), usize> = HashMap::new();
    let mut specs = Vec::with_capacity(raw.deployments.len());
    for raw in raw.deployments {
        let name_offset = raw.get_ref().name.span().start;
        let spec = deployment(source, raw.into_inner(), calendars)?;
        let key = (spec.flow.clone(), spec.name.clone());
        if let Some(&first) = first_seen.get(&key) {
            return Err(source.error(
                Some(name_offset),
                format!(
                    "deployment \"{}/{}\" is declared twice (first at line {}); \
                     give each deployment of a flow its own name",
                    spec.flow,
                    spec.name,
                    source.line(first)
                ),
            ));
        }
        first_seen.insert(key, name_offset);
        specs.push(spec);
    }
    Ok(specs)
}

/// Validates one deployment and its schedules.
fn deployment(
    source: &Source<'_>,
    mut raw: RawDeployment,
    calendars: &Declared,
) -> Result<DeploymentSpec> {
    let policy = policy(source, &raw)?;
    let retention = retention(source, &raw)?;
    let environment = environment(source, &mut raw)?;
    let container = super::container::container(source, &mut raw)?;
    let flow = identifier(source, "flow", raw.flow)?;
    let name = identifier(source, "name", raw.name)?;
    let entrypoint = entrypoint(source, raw.entrypoint)?;
    let work_pool = identifier(source, "work_pool", raw.work_pool)?;
    let parameters = parameters(source, raw.parameters)?;
    let deployment = format!("{flow}/{name}");
    let mut schedules: Vec<ScheduleSpec> = Vec::with_capacity(raw.schedules.len());
    let mut slug_offsets: Vec<usize> = Vec::with_capacity(raw.schedules.len());
    for (index, raw) in raw.schedules.into_iter().enumerate() {
        let offset = raw
            .get_ref()
            .slug
            .as_ref()
            .map_or(raw.span().start, |slug| slug.span().start);
        let spec = schedule(source, &deployment, index, raw, calendars)?;
        if let Some(first) = schedules.iter().position(|s| s.slug == spec.slug) {
            return Err(source.error(
                Some(offset),
                format!(
                    "schedule slug \"{}\" is used twice in deployment \"{deployment}\" \
                     (first at line {}); give each schedule its own slug",
                    spec.slug,
                    source.line(slug_offsets[first])
                ),
            ));
        }
        slug_offsets.push(offset);
        schedules.push(spec);
    }
    Ok(DeploymentSpec {
        retention,
        flow,
        name,
        entrypoint,
        work_pool,
        parameters,
        tags: raw.tags,
        description: raw.description.unwrap_or_default(),
        retries: in_range(source, "retries", &raw.retries, &settings::RETRIES)?.unwrap_or(0) as u32,
        retry_delay_seconds: in_range(
            source,
            "retry_delay_seconds",
            &raw.retry_delay_seconds,
            &settings::RETRY_DELAY_SECONDS,
        )?
        .unwrap_or(0),
        paused: raw.paused,
        schedules,
        policy,
        environment,
        container,
    })
}

/// The deployment's `env` table and `secrets` list: valid variable names,
/// none set twice.
fn environment(source: &Source<'_>, raw: &mut RawDeployment) -> Result<crate::FlowEnvironment> {
    let mut environment = crate::FlowEnvironment::default();
    for (name, value) in raw.env.take().map(Spanned::into_inner).unwrap_or_default() {
        if let Some(problem) = crate::flow_env::variable_name_problem(name.get_ref()) {
            return Err(source.error(Some(name.span().start), format!("`env`: {problem}")));
        }
        environment
            .env
            .insert(name.into_inner(), value.into_inner());
    }
    for name in std::mem::take(&mut raw.secrets) {
        let offset = Some(name.span().start);
        let name = name.into_inner();
        if let Some(problem) = crate::flow_env::variable_name_problem(&name) {
            return Err(source.error(offset, format!("`secrets`: {problem}")));
        }
        if environment.env.contains_key(&name) || environment.secrets.contains(&name) {
            return Err(source.error(
                offset,
                format!(
                    "`secrets`: \"{name}\" is set twice (in `env` or earlier in `secrets`); \
                     a variable comes from one place"
                ),
            ));
        }
        environment.secrets.push(name);
    }
    Ok(environment)
}

/// The deployment's own retention (`retention = { runs_days, logs_days }`).
fn retention(source: &Source<'_>, raw: &RawDeployment) -> Result<crate::Retention> {
    let Some(table) = &raw.retention else {
        return Ok(crate::Retention::default());
    };
    let days = |key: &str, value: &Option<Spanned<i64>>| -> Result<Option<u32>> {
        value
            .as_ref()
            .map(|days| {
                crate::retention::check_retention_days(key, *days.get_ref())
                    .map_err(|message| source.error(Some(days.span().start), message))
            })
            .transpose()
    };
    Ok(crate::Retention {
        runs_days: days("retention.runs_days", &table.runs_days)?,
        logs_days: days("retention.logs_days", &table.logs_days)?,
    })
}

/// The deployment's catch-up and concurrency settings.
fn policy(source: &Source<'_>, raw: &RawDeployment) -> Result<RunPolicy> {
    let choice = |value: &Option<Spanned<String>>| -> Result<Option<(String, usize)>> {
        Ok(value
            .as_ref()
            .map(|v| (v.get_ref().clone(), v.span().start)))
    };
    let mut policy = RunPolicy::default();
    if let Some((text, at)) = choice(&raw.catch_up)? {
        policy.catch_up = text.parse().map_err(|e| setting_error(source, at, e))?;
    }
    if let Some((text, at)) = choice(&raw.collision_strategy)? {
        policy.collision_strategy = text.parse().map_err(|e| setting_error(source, at, e))?;
    }
    policy.max_lateness_seconds = in_range(
        source,
        "max_lateness_seconds",
        &raw.max_lateness_seconds,
        &settings::MAX_LATENESS_SECONDS,
    )?;
    policy.concurrency_limit = in_range(
        source,
        "concurrency_limit",
        &raw.concurrency_limit,
        &settings::CONCURRENCY_LIMIT,
    )?
    .map(|limit| limit as u32);
    Ok(policy)
}

fn setting_error(source: &Source<'_>, at: usize, error: Error) -> Error {
    match error {
        Error::InvalidSetting { key, message } => {
            source.error(Some(at), format!("`{key}`: {message}"))
        }
        other => other,
    }
}

/// A whole number within `range` (see [`crate::settings`]), when given.
fn in_range(
    source: &Source<'_>,
    key: &str,
    value: &Option<Spanned<i64>>,
    range: &settings::Range,
) -> Result<Option<u64>> {
    value
        .as_ref()
        .map(|value| {
            range
                .check_whole(key, i128::from(*value.get_ref()))
                .map_err(|message| source.error(Some(value.span().start), message))
        })
        .transpose()
}

/// A name used in commands and URLs; see [`crate::identifier`].
pub(super) fn identifier(source: &Source<'_>, key: &str, value: Spanned<String>) -> Result<String> {
    let offset = value.span().start;
    let value = value.into_inner();
    match name_problem(&value) {
        None => Ok(value),
        Some(problem) if value.is_empty() => {
            Err(source.error(Some(offset), format!("`{key}` {problem}")))
        }
        Some(problem) => Err(source.error(Some(offset), format!("`{key}` {value:?} {problem}"))),
    }
}

/// The program and its arguments: at least the program, which is not "".
fn entrypoint(source: &Source<'_>, value: Spanned<Vec<Spanned<String>>>) -> Result<Vec<String>> {
    let offset = value.span().start;
    let args = value.into_inner();
    match args.first() {
        None => Err(source.error(
            Some(offset),
            "`entrypoint` is empty; give the program to run and its arguments, \
             e.g. entrypoint = [\"python\", \"-m\", \"my_flow\"]",
        )),
        Some(program) if program.get_ref().is_empty() => Err(source.error(
            Some(program.span().start),
            "the first element of `entrypoint` is empty; it must name the program to run",
        )),
        Some(_) => {
            // A NUL cannot reach exec (every run would fail to start), and
            // control characters are never meant: both are refused here.
            if let Some((arg, bad)) = args.iter().find_map(|arg| {
                arg.get_ref()
                    .chars()
                    .find(|c| c.is_control())
                    .map(|bad| (arg, bad))
            }) {
                return Err(source.error(
                    Some(arg.span().start),
                    format!(
                        "`entrypoint` element {:?} contains the control character {bad:?}; \
                         programs and arguments must be plain text",
                        arg.get_ref()
                    ),
                ));
            }
            Ok(args.into_iter().map(Spanned::into_inner).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::deploy_file::parse_deploy_file;
    use crate::deploy_file::test_support::{deployment, error, schedule};

    #[test]
    fn env_and_secrets_are_variables_with_valid_names() {
        let text = deployment("env = { LOG_LEVEL = \"info\" }\nsecrets = [\"NEWSAPI_KEY\"]\n");
        let spec = &parse_deploy_file("orch.toml", &text).unwrap()[0];
        assert_eq!(spec.environment.env["LOG_LEVEL"], "info");
        assert_eq!(spec.environment.secrets, ["NEWSAPI_KEY"]);
        let (line, _, message) = error(&deployment("secrets = [\"ORCH_API_URL\"]\n"));
        assert_eq!(line, 6);
        assert!(message.contains("reserved"), "{message}");
        let (_, _, message) = error(&deployment("env = { \"MY-VAR\" = \"x\" }\n"));
        assert!(
            message.starts_with("`env`: \"MY-VAR\" is not a valid"),
            "{message}"
        );
        let (_, _, message) = error(&deployment("env = { KEY = \"x\" }\nsecrets = [\"KEY\"]\n"));
        assert!(message.contains("set twice"), "{message}");
    }

    #[test]
    fn an_empty_entrypoint_is_refused() {
        let text = deployment("").replace("[\"run\"]", "[]");
        let (line, column, message) = error(&text);
        assert_eq!((line, column), (4, 14));
        assert!(message.starts_with("`entrypoint` is empty;"), "{message}");
    }

    #[test]
    fn control_characters_in_the_entrypoint_are_refused() {
        let text = deployment("").replace("[\"run\"]", "[\"run\", \"a\\u0000b\"]");
        let (line, _, message) = error(&text);
        assert_eq!(line, 4);
        assert!(message.contains("control character '\\0'"), "{message}");
        let text = deployment("").replace("[\"run\"]", "[\"r\\u001b[2Jun\"]");
        let (_, _, message) = error(&text);
        assert!(message.contains("control character"), "{message}");
    }

    #[test]
    fn an_empty_program_is_refused() {
        let text = deployment("").replace("[\"run\"]", "[\"\", \"x\"]");
        let (line, column, message) = error(&text);
        assert_eq!((line, column), (4, 15));
        assert_eq!(
            message,
            "the first element of `entrypoint` is empty; it must name the program to run"
        );
    }

    #[test]
    fn empty_names_are_refused() {
        let text = deployment("").replace("work_pool = \"p\"", "work_pool = \"\"");
        assert_eq!(
            error(&text),
            (
                5,
                13,
                "`work_pool` must not be empty; use ASCII letters, digits, '-', '_' and '.'".into()
            )
        );
    }

    #[test]
    fn names_with_other_characters_are_refused_naming_them() {
        let text = deployment("").replace("flow = \"f\"", "flow = \"my flow/v2 x\"");
        assert_eq!(
            error(&text),
            (
                2,
                8,
                "`flow` \"my flow/v2 x\" contains ' ' and '/'; \
                 use only ASCII letters, digits, '-', '_' and '.'"
                    .into()
            )
        );
        let text = deployment("").replace("name = \"n\"", "name = \"näme\"");
        let (line, _, message) = error(&text);
        assert_eq!(line, 3);
        assert!(
            message.starts_with("`name` \"näme\" contains 'ä';"),
            "{message}"
        );
    }

    #[test]
    fn names_may_use_letters_digits_dashes_underscores_and_dots() {
        let text = deployment("").replace("flow = \"f\"", "flow = \"Flow_2.v-1\"");
        assert_eq!(
            parse_deploy_file("f.toml", &text).unwrap()[0].flow,
            "Flow_2.v-1"
        );
    }

    #[test]
    fn duplicate_deployments_are_refused_at_the_second() {
        let text = format!("{}\n{}", deployment(""), deployment(""));
        assert_eq!(
            error(&text),
            (
                9,
                8,
                "deployment \"f/n\" is declared twice (first at line 3); \
                 give each deployment of a flow its own name"
                    .into()
            )
        );
    }

    #[test]
    fn the_same_name_in_different_flows_is_fine() {
        let other = deployment("").replace("flow = \"f\"", "flow = \"g\"");
        let text = format!("{}\n{other}", deployment(""));
        assert_eq!(parse_deploy_file("f.toml", &text).unwrap().len(), 2);
    }

    #[test]
    fn duplicate_schedule_slugs_are_refused() {
        let text = deployment(
            "[[deployments.schedules]]\nslug = \"s\"\ncron = \"* * * * *\"\n\
             [[deployments.schedules]]\nslug = \"s\"\nrrule = \"FREQ=DAILY\"\n",
        );
        assert_eq!(
            error(&text),
            (
                10,
                8,
                "schedule slug \"s\" is used twice in deployment \"f/n\" (first at line 7); \
                 give each schedule its own slug"
                    .into()
            )
        );
    }

    #[test]
    fn a_slug_equal_to_a_default_position_collides() {
        let text = deployment(
            "[[deployments.schedules]]\ncron = \"* * * * *\"\n\
             [[deployments.schedules]]\nslug = \"0\"\nrrule = \"FREQ=DAILY\"\n",
        );
        let (line, _, message) = error(&text);
        assert_eq!(line, 9);
        assert!(
            message.starts_with("schedule slug \"0\" is used twice"),
            "{message}"
        );
    }

    #[test]
    fn catch_up_and_concurrency_settings_are_read() {
        let text = deployment(
            "catch_up = \"all\"\nmax_lateness_seconds = 600\nconcurrency_limit = 1\n\
             collision_strategy = \"cancel-new\"\n",
        );
        let policy = parse_deploy_file("f.toml", &text).unwrap()[0].policy;
        assert_eq!(policy.catch_up, crate::CatchUp::All);
        assert_eq!(policy.max_lateness_seconds, Some(600));
        assert_eq!(policy.concurrency_limit, Some(1));
        assert_eq!(
            policy.collision_strategy,
            crate::CollisionStrategy::CancelNew
        );
        let defaults = parse_deploy_file("f.toml", &deployment("")).unwrap()[0].policy;
        assert_eq!(defaults, crate::RunPolicy::default());
    }

    #[test]
    fn a_deployment_may_set_its_own_retention() {
        let text = deployment("retention = { runs_days = 7, logs_days = 1 }\n");
        let spec = &parse_deploy_file("f.toml", &text).unwrap()[0];
        assert_eq!(
            spec.retention,
            crate::Retention {
                runs_days: Some(7),
                logs_days: Some(1)
            }
        );
        let defaults = &parse_deploy_file("f.toml", &deployment("")).unwrap()[0];
        assert!(defaults.retention.is_empty());
        let (line, _, message) = error(&deployment("retention = { runs_days = 0 }\n"));
        assert_eq!(line, 6);
        assert!(
            message.starts_with("`retention.runs_days` must be a positive whole number"),
            "{message}"
        );
        let (_, _, message) = error(&deployment("retention = { days = 3 }\n"));
        assert!(message.contains("unknown field `days`"), "{message}");
    }

    #[test]
    fn bad_catch_up_and_concurrency_settings_are_refused_at_the_value() {
        assert_eq!(
            error(&deployment("catch_up = \"newest\"\n")),
            (
                6,
                12,
                "`catch_up`: \"newest\" is not one of \"all\", \"latest\", \"skip\"".into()
            )
        );
        let (line, column, message) = error(&deployment("collision_strategy = \"cancel\"\n"));
        assert_eq!((line, column), (6, 22));
        assert!(message.contains("did you mean \"cancel-new\""), "{message}");
        let (_, _, message) = error(&deployment("concurrency_limit = 0\n"));
        assert!(
            message.starts_with(
                "`concurrency_limit` must be a positive whole number (1 to 100000), not 0"
            ),
            "{message}"
        );
        let (_, _, message) = error(&deployment(&format!(
            "retry_delay_seconds = {}\n",
            i64::MAX
        )));
        assert_eq!(
            message,
            "`retry_delay_seconds` must be a whole number of seconds (0 to 31536000), not \
             9223372036854775807"
        );
        let (_, _, message) = error(&deployment("retries = -1\n"));
        assert!(
            message.starts_with("`retries` must be a whole number (0 to 1000), not -1"),
            "{message}"
        );
        let (_, _, message) = error(&deployment("max_lateness_seconds = -1\n"));
        assert!(
            message.starts_with("`max_lateness_seconds` must be a positive whole number"),
            "{message}"
        );
    }

    #[test]
    fn slugs_follow_the_name_rules() {
        let (line, _, message) = error(&schedule("slug = \"a b\"\ncron = \"* * * * *\"\n"));
        assert_eq!(line, 7);
        assert!(
            message.starts_with("`slug` \"a b\" contains ' ';"),
            "{message}"
        );
    }
}
