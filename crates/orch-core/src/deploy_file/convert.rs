//! Checks the rules that TOML types cannot express, and turns the raw file
//! into [`DeploymentSpec`]s.

use std::collections::HashMap;

use toml::Spanned;

use super::parameters::parameters;
use super::raw::{RawDeployment, RawFile};
use super::schedule::schedule;
use super::source::Source;
use super::{DeploymentSpec, ScheduleSpec};
use crate::error::Result;
use crate::identifier::name_problem;

/// Validates every deployment of the file, in order.
pub(super) fn deployments(source: &Source<'_>, raw: RawFile) -> Result<Vec<DeploymentSpec>> {
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
        let spec = deployment(source, raw.into_inner())?;
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
fn deployment(source: &Source<'_>, raw: RawDeployment) -> Result<DeploymentSpec> {
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
        let spec = schedule(source, index, raw)?;
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
        flow,
        name,
        entrypoint,
        work_pool,
        parameters,
        tags: raw.tags,
        description: raw.description.unwrap_or_default(),
        retries: raw.retries,
        retry_delay_seconds: raw.retry_delay_seconds,
        paused: raw.paused,
        schedules,
    })
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
        Some(_) => Ok(args.into_iter().map(Spanned::into_inner).collect()),
    }
}

#[cfg(test)]
mod tests {
    use crate::deploy_file::parse_deploy_file;
    use crate::deploy_file::test_support::{deployment, error, schedule};

    #[test]
    fn an_empty_entrypoint_is_refused() {
        let text = deployment("").replace("[\"run\"]", "[]");
        let (line, column, message) = error(&text);
        assert_eq!((line, column), (4, 14));
        assert!(message.starts_with("`entrypoint` is empty;"), "{message}");
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
            (5, 13, "`work_pool` must not be empty".into())
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
    fn slugs_follow_the_name_rules() {
        let (line, _, message) = error(&schedule("slug = \"a b\"\ncron = \"* * * * *\"\n"));
        assert_eq!(line, 7);
        assert!(
            message.starts_with("`slug` \"a b\" contains ' ';"),
            "{message}"
        );
    }
}
