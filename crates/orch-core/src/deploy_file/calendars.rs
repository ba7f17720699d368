//! `[[calendars]]` tables: user calendars that schedules name with
//! `calendar = "..."`, next to the built-in ones (`XNYS`).
//!
//! ```toml
//! [[calendars]]
//! name = "plant"
//! timezone = "Europe/London"          # default UTC
//! weekend = ["Sat", "Sun"]            # days of the week always closed
//! closed = ["2026-12-25", "2026-12-28"]
//! early_closes = { "2026-12-24" = "12:00" }
//! file = "plant-holidays.txt"         # more days: "YYYY-MM-DD" or "YYYY-MM-DD HH:MM" a line
//! ```

use std::collections::BTreeMap;

use toml::Spanned;

use super::convert::identifier;
use super::raw::RawCalendar;
use super::source::Source;
use crate::calendar::{BUILT_IN, Calendar, CalendarSpec, CustomDays, unknown_calendar};
use crate::error::{Error, Result};

/// Reads a file a deploy file names (a calendar `file`), relative to the
/// deploy file; returns its text or why it could not be read.
pub type ReadFile<'a> = &'a dyn Fn(&str) -> std::result::Result<String, String>;

/// The calendars a deploy file declares, by name.
#[derive(Debug, Default)]
pub(super) struct Declared {
    calendars: BTreeMap<String, CalendarSpec>,
}

impl Declared {
    /// Validates every `[[calendars]]` table.
    pub(super) fn parse(
        source: &Source<'_>,
        raw: Vec<Spanned<RawCalendar>>,
        read: ReadFile<'_>,
    ) -> Result<Declared> {
        let mut declared = Declared::default();
        for raw in raw {
            let offset = raw.span().start;
            let raw = raw.into_inner();
            let name_at = raw.name.span().start;
            let name = identifier(source, "name", raw.name)?;
            if BUILT_IN.iter().any(|b| b.eq_ignore_ascii_case(&name))
                || declared.calendars.contains_key(&name)
            {
                return Err(source.error(
                    Some(name_at),
                    format!(
                        "calendar \"{name}\" is declared twice or shadows a built-in \
                         calendar ({}); give it another name",
                        BUILT_IN.join(", ")
                    ),
                ));
            }
            let at =
                |offset: usize| move |error: Error| source.error(Some(offset), error.to_string());
            let mut days = CustomDays {
                timezone: raw
                    .timezone
                    .as_ref()
                    .map(|t| t.get_ref().clone())
                    .unwrap_or_default(),
                weekend: raw.weekend.unwrap_or_default(),
                ..CustomDays::default()
            };
            for date in raw.closed {
                crate::calendar::parse_date(&name, date.get_ref())
                    .map_err(at(date.span().start))?;
                days.closed.push(date.into_inner());
            }
            if let Some(early) = raw.early_closes {
                let table_at = early.span().start;
                for (date, time) in early.into_inner() {
                    crate::calendar::parse_date(&name, &date).map_err(at(table_at))?;
                    crate::calendar::parse_time(&name, &time).map_err(at(table_at))?;
                    days.early_closes.insert(date, time);
                }
            }
            if let Some(file) = raw.file {
                let file_at = file.span().start;
                let text = read(file.get_ref()).map_err(|reason| {
                    source.error(
                        Some(file_at),
                        format!(
                            "calendar \"{name}\": cannot read `file` {:?}: {reason}; \
                             paths are relative to the deploy file",
                            file.get_ref()
                        ),
                    )
                })?;
                days.add_file(&name, file.get_ref(), &text)
                    .map_err(at(file_at))?;
            }
            let spec = CalendarSpec {
                name: name.clone(),
                custom: Some(days),
            };
            let zone_at = raw.timezone.as_ref().map_or(offset, |t| t.span().start);
            Calendar::from_spec(&spec).map_err(at(zone_at))?;
            declared.calendars.insert(name, spec);
        }
        Ok(declared)
    }

    /// The calendar a schedule names: a declared one, else a built-in one.
    pub(super) fn resolve(&self, name: &str) -> Result<CalendarSpec> {
        if let Some(spec) = self.calendars.get(name) {
            return Ok(spec.clone());
        }
        match Calendar::built_in(name) {
            Ok(calendar) => Ok(CalendarSpec::built_in(calendar.name())),
            Err(_) => Err(unknown_calendar(
                name,
                BUILT_IN
                    .iter()
                    .copied()
                    .chain(self.calendars.keys().map(String::as_str)),
            )),
        }
    }

    /// Every declared calendar, by name.
    pub(super) fn into_specs(self) -> Vec<CalendarSpec> {
        self.calendars.into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::deploy_file::test_support::{error, schedule};
    use crate::deploy_file::{parse_deploy_file, parse_deploy_file_with};

    #[test]
    fn a_schedule_may_name_xnys() {
        let text = schedule(
            "cron = \"*/15 9-15 * * 1-5\"\ntimezone = \"America/New_York\"\ncalendar = \"XNYS\"\n",
        );
        let specs = parse_deploy_file("f.toml", &text).unwrap();
        let schedule = &specs[0].schedules[0];
        assert_eq!(schedule.calendar.as_ref().unwrap().name, "XNYS");
        assert!(schedule.calendar.as_ref().unwrap().custom.is_none());
        assert!(schedule.skip_after_close);
    }

    #[test]
    fn an_unknown_calendar_is_refused_at_its_value() {
        let (line, column, message) =
            error(&schedule("cron = \"0 9 * * *\"\ncalendar = \"NYSE\"\n"));
        assert_eq!((line, column), (8, 12));
        assert!(
            message.starts_with("deployment \"f/n\", schedule \"0\": unknown calendar \"NYSE\""),
            "{message}"
        );
        assert!(
            message.contains("declare it in the deploy file"),
            "{message}"
        );
    }

    #[test]
    fn declared_calendars_are_resolved_into_the_schedules() {
        let text = format!(
            "[[calendars]]\nname = \"plant\"\nweekend = [\"Sat\", \"Sun\"]\nclosed = [\"2026-12-25\"]\n\
             early_closes = {{ \"2026-12-24\" = \"12:00\" }}\nfile = \"more.txt\"\n\n{}",
            schedule("cron = \"0 9 * * *\"\ncalendar = \"plant\"\nskip_after_close = false\n")
        );
        let read = |path: &str| {
            assert_eq!(path, "more.txt");
            Ok("2026-12-31 15:00\n".to_owned())
        };
        let file = parse_deploy_file_with("f.toml", &text, &read).unwrap();
        let schedule = &file.deployments[0].schedules[0];
        let days = schedule.calendar.as_ref().unwrap().custom.as_ref().unwrap();
        assert_eq!(days.closed, ["2026-12-25"]);
        assert_eq!(days.early_closes.len(), 2);
        assert!(!schedule.skip_after_close);
        assert_eq!(file.calendars.len(), 1);
    }

    #[test]
    fn a_malformed_calendar_date_is_refused_at_the_date() {
        let text = format!(
            "[[calendars]]\nname = \"plant\"\nclosed = [\"2026-12-25\", \"25/12/2026\"]\n\n{}",
            schedule("cron = \"0 9 * * *\"\n")
        );
        match parse_deploy_file("f.toml", &text) {
            Err(crate::Error::DeployFile {
                line,
                column,
                message,
                ..
            }) => {
                assert_eq!((line, column), (Some(3), Some(25)));
                assert_eq!(
                    message,
                    "calendar \"plant\": \"25/12/2026\" is not a date; write dates as \
                     YYYY-MM-DD, e.g. \"2026-12-24\""
                );
            }
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn a_calendar_file_needs_a_reader() {
        let text = format!(
            "[[calendars]]\nname = \"plant\"\nfile = \"days.txt\"\n\n{}",
            schedule("cron = \"0 9 * * *\"\n")
        );
        let message = parse_deploy_file("f.toml", &text).unwrap_err().to_string();
        assert!(
            message.starts_with("f.toml:3:8: calendar \"plant\": cannot read `file` \"days.txt\""),
            "{message}"
        );
    }
}
