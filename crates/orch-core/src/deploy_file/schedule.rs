//! One `[[deployments.schedules]]` table: exactly one kind of recurrence,
//! and sensible values for it.

use toml::Spanned;

use super::calendars::Declared;
use super::convert::identifier;
use super::parameters::parameters;
use super::raw::RawSchedule;
use super::source::{Source, toml_kind};
use super::{ScheduleRule, ScheduleSpec};
use crate::error::{Error, Result};
use crate::schedule::Schedule;
use crate::suggest::join_prose;

/// Time zone of a schedule that does not name one.
const DEFAULT_TIMEZONE: &str = "UTC";

/// Validates the schedule at position `index` of `deployment` ("flow/name");
/// its slug defaults to that position. The cron expression, time zone,
/// anchor and rule are checked by [`Schedule::parse`].
pub(super) fn schedule(
    source: &Source<'_>,
    deployment: &str,
    index: usize,
    raw: Spanned<RawSchedule>,
    calendars: &Declared,
) -> Result<ScheduleSpec> {
    let offset = raw.span().start;
    let raw = raw.into_inner();
    let field_offset = |field: &str| -> usize {
        let span = match field {
            "cron" => raw.cron.as_ref().map(|v| v.span().start),
            "rrule" => raw.rrule.as_ref().map(|v| v.span().start),
            "timezone" => raw.timezone.as_ref().map(|v| v.span().start),
            "anchor" => raw.anchor.as_ref().map(|v| v.span().start),
            "interval_seconds" => raw.interval_seconds.as_ref().map(|v| v.span().start),
            _ => None,
        };
        span.unwrap_or(offset)
    };
    let offsets: Vec<(&'static str, usize)> =
        ["cron", "rrule", "timezone", "anchor", "interval_seconds"]
            .into_iter()
            .map(|field| (field, field_offset(field)))
            .collect();
    let given: Vec<String> = [
        ("cron", raw.cron.is_some()),
        ("interval_seconds", raw.interval_seconds.is_some()),
        ("rrule", raw.rrule.is_some()),
    ]
    .into_iter()
    .filter(|(_, given)| *given)
    .map(|(key, _)| format!("`{key}`"))
    .collect();
    if given.len() != 1 {
        let problem = if given.is_empty() {
            "none was given; add one, e.g. cron = \"0 9 * * *\"".to_owned()
        } else {
            format!(
                "{} were given; split it into one [[deployments.schedules]] table per kind",
                join_prose(&given, "and")
            )
        };
        return Err(source.error(
            Some(offset),
            format!(
                "a schedule needs exactly one of `cron`, `interval_seconds` or `rrule`, \
                 but {problem}"
            ),
        ));
    }
    let interval_seconds = match raw.interval_seconds {
        None => None,
        Some(seconds) => Some(
            u64::try_from(*seconds.get_ref())
                .ok()
                .filter(|&s| s > 0)
                .ok_or_else(|| {
                    source.error(
                        Some(seconds.span().start),
                        format!(
                            "`interval_seconds` must be a positive number of seconds, not {}",
                            seconds.get_ref()
                        ),
                    )
                })?,
        ),
    };
    let anchor = match raw.anchor {
        None => None,
        Some(anchor) if raw.cron.is_some() => {
            return Err(source.error(
                Some(anchor.span().start),
                "`anchor` only applies to `interval_seconds` and `rrule` schedules; remove it",
            ));
        }
        Some(anchor) => Some(self::anchor(source, anchor)?),
    };
    let mut spec = ScheduleSpec {
        slug: match raw.slug {
            Some(slug) => identifier(source, "slug", slug)?,
            None => index.to_string(),
        },
        rule: ScheduleRule {
            cron: non_empty(source, "cron", "\"*/15 9-15 * * 1-5\"", raw.cron)?,
            interval_seconds,
            anchor,
            rrule: non_empty(source, "rrule", "\"FREQ=DAILY;BYHOUR=9\"", raw.rrule)?,
            timezone: non_empty(source, "timezone", "\"America/New_York\"", raw.timezone)?
                .unwrap_or_else(|| DEFAULT_TIMEZONE.to_owned()),
            active: raw.active.unwrap_or(true),
            parameters: parameters(source, raw.parameters)?,
        },
        calendar: None,
        skip_after_close: raw.skip_after_close.unwrap_or(true),
    };
    if let Some(name) = &raw.calendar {
        spec.calendar = Some(calendars.resolve(name.get_ref()).map_err(|error| {
            source.error(
                Some(name.span().start),
                format!(
                    "deployment \"{deployment}\", schedule \"{}\": {error}",
                    spec.slug
                ),
            )
        })?);
    }
    if let Err(Error::InvalidSchedule { field, message }) = Schedule::parse(&spec) {
        let at = offsets
            .iter()
            .find(|(name, _)| *name == field)
            .map_or(offset, |(_, at)| *at);
        return Err(source.error(
            Some(at),
            format!(
                "deployment \"{deployment}\", schedule \"{}\": {message}",
                spec.slug
            ),
        ));
    }
    Ok(spec)
}

/// An optional string that, when given, must not be empty.
fn non_empty(
    source: &Source<'_>,
    key: &str,
    example: &str,
    value: Option<Spanned<String>>,
) -> Result<Option<String>> {
    match value {
        Some(value) if value.get_ref().trim().is_empty() => Err(source.error(
            Some(value.span().start),
            format!("`{key}` is empty; give a value such as {key} = {example} or leave it out"),
        )),
        value => Ok(value.map(Spanned::into_inner)),
    }
}

/// An interval anchor: a TOML date-time or a string holding one, as an
/// ISO 8601 date and time with an optional UTC offset.
fn anchor(source: &Source<'_>, value: Spanned<toml::Value>) -> Result<String> {
    let offset = value.span().start;
    let text = match value.into_inner() {
        toml::Value::String(s) => s,
        toml::Value::Datetime(dt) => dt.to_string(),
        other => {
            return Err(invalid_anchor(source, offset, toml_kind(&other)));
        }
    };
    let valid = chrono::DateTime::parse_from_rfc3339(&text).is_ok()
        || text.parse::<chrono::NaiveDateTime>().is_ok();
    if valid {
        Ok(text)
    } else {
        Err(invalid_anchor(source, offset, &format!("{text:?}")))
    }
}

fn invalid_anchor(source: &Source<'_>, offset: usize, got: &str) -> Error {
    source.error(
        Some(offset),
        format!(
            "`anchor` must be a date and time such as \"2026-01-01T00:00:00\" \
             or \"2026-01-01T00:00:00+01:00\", not {got}"
        ),
    )
}

#[cfg(test)]
mod tests {
    use crate::deploy_file::parse_deploy_file;
    use crate::deploy_file::test_support::{error, schedule};

    #[test]
    fn a_schedule_without_a_kind_is_refused() {
        let (line, _, message) = error(&schedule("timezone = \"UTC\"\n"));
        assert_eq!(line, 6);
        assert!(
            message.starts_with(
                "a schedule needs exactly one of `cron`, `interval_seconds` or `rrule`, \
                 but none was given;"
            ),
            "{message}"
        );
    }

    #[test]
    fn a_schedule_with_two_kinds_is_refused_naming_them() {
        let (line, _, message) = error(&schedule(
            "cron = \"* * * * *\"\ninterval_seconds = 60\nrrule = \"FREQ=DAILY\"\n",
        ));
        assert_eq!(line, 6);
        assert!(
            message.contains("but `cron`, `interval_seconds` and `rrule` were given;"),
            "{message}"
        );
    }

    #[test]
    fn interval_seconds_must_be_positive() {
        for value in ["0", "-5"] {
            let text = schedule(&format!("interval_seconds = {value}\n"));
            assert_eq!(
                error(&text),
                (
                    7,
                    20,
                    format!("`interval_seconds` must be a positive number of seconds, not {value}")
                )
            );
        }
    }

    #[test]
    fn an_anchor_needs_an_interval_schedule() {
        let text = schedule("cron = \"* * * * *\"\nanchor = \"2026-01-01T00:00:00\"\n");
        assert_eq!(
            error(&text),
            (
                8,
                10,
                "`anchor` only applies to `interval_seconds` and `rrule` schedules; remove it"
                    .into()
            )
        );
    }

    #[test]
    fn an_anchor_may_be_a_toml_date_time_or_a_string_with_an_offset() {
        for (anchor, expected) in [
            ("2026-01-01T00:00:00", "2026-01-01T00:00:00"),
            ("\"2026-01-01T09:30:00+01:00\"", "2026-01-01T09:30:00+01:00"),
        ] {
            let text = schedule(&format!("interval_seconds = 60\nanchor = {anchor}\n"));
            let specs = parse_deploy_file("f.toml", &text).unwrap();
            assert_eq!(specs[0].schedules[0].rule.anchor.as_deref(), Some(expected));
        }
    }

    #[test]
    fn an_anchor_that_is_not_a_date_time_is_refused() {
        let text = schedule("interval_seconds = 60\nanchor = \"tomorrow\"\n");
        let (line, column, message) = error(&text);
        assert_eq!((line, column), (8, 10));
        assert!(
            message.starts_with("`anchor` must be a date and time"),
            "{message}"
        );
        assert!(message.ends_with("not \"tomorrow\""), "{message}");
    }

    #[test]
    fn invalid_crons_time_zones_and_rules_are_refused_at_the_value_naming_the_schedule() {
        let (line, column, message) = error(&schedule(
            "slug = \"market\"\ncron = \"*/15 9-15 * *\"\ntimezone = \"America/New_York\"\n",
        ));
        assert_eq!((line, column), (8, 8));
        assert!(
            message.starts_with(
                "deployment \"f/n\", schedule \"market\": `cron` \"*/15 9-15 * *\" is not a \
                 valid cron expression: it has 4 fields;"
            ),
            "{message}"
        );
        let (line, column, message) = error(&schedule(
            "cron = \"0 9 * * *\"\ntimezone = \"Europe/Londn\"\n",
        ));
        assert_eq!((line, column), (8, 12));
        assert!(
            message
                .contains("schedule \"0\": `timezone` \"Europe/Londn\" is not an IANA time zone"),
            "{message}"
        );
        assert!(
            message.contains("did you mean \"Europe/London\""),
            "{message}"
        );
        let (line, _, message) = error(&schedule("rrule = \"FREQ=SOMETIMES\"\n"));
        assert_eq!(line, 7);
        assert!(
            message.contains("`rrule` \"FREQ=SOMETIMES\" is not a valid"),
            "{message}"
        );
    }

    #[test]
    fn an_rrule_may_have_an_anchor() {
        let text = schedule("rrule = \"FREQ=WEEKLY\"\nanchor = \"2026-01-05T09:00:00\"\n");
        let specs = parse_deploy_file("f.toml", &text).unwrap();
        assert_eq!(
            specs[0].schedules[0].rule.anchor.as_deref(),
            Some("2026-01-05T09:00:00")
        );
    }

    #[test]
    fn empty_schedule_strings_are_refused() {
        let (line, _, message) = error(&schedule("cron = \"\"\n"));
        assert_eq!(line, 7);
        assert!(message.starts_with("`cron` is empty;"), "{message}");
        let (line, _, message) = error(&schedule("cron = \"* * * * *\"\ntimezone = \" \"\n"));
        assert_eq!(line, 8);
        assert!(message.starts_with("`timezone` is empty;"), "{message}");
    }
}
