//! `orch calendar ls | show`: the calendars schedules can follow, and their
//! closed and short days. Calendars are pure rules (orch-core), so this
//! needs no server: built-in ones are compiled in, user ones are read from
//! the deploy file.

use chrono::Datelike;
use orch_core::{Calendar, CalendarSpec};

use crate::cli_results::{CalendarCommand, CalendarFileArgs, CalendarShowArgs};
use crate::error::usage;
use crate::output::{self, Format};

use crate::views::calendar::{self as view, CalendarDaysView, CalendarView};

/// Runs an `orch calendar` command.
pub fn run(command: CalendarCommand) -> anyhow::Result<()> {
    match command {
        CalendarCommand::Ls(args) => ls(&args),
        CalendarCommand::Show(args) => show(&args),
    }
}

/// The built-in calendars, then the deploy file's (when it exists).
fn calendars(args: &CalendarFileArgs) -> anyhow::Result<Vec<CalendarSpec>> {
    let mut specs: Vec<CalendarSpec> = orch_core::calendar::BUILT_IN
        .iter()
        .map(|name| CalendarSpec::built_in(name))
        .collect();
    if args.file.exists() {
        let text = super::deploy::read_deploy_file(&args.file)?;
        let file = args.file.display().to_string();
        specs.extend(super::deploy::parse_file(&args.file, &file, &text)?.calendars);
    }
    Ok(specs)
}

fn ls(args: &CalendarFileArgs) -> anyhow::Result<()> {
    let views = calendars(args)?
        .iter()
        .map(|spec| Calendar::from_spec(spec).map(|calendar| CalendarView::new(&calendar, spec)))
        .collect::<Result<Vec<_>, _>>()?;
    match args.output.output {
        Format::Table => view::print_calendars(&views)?,
        Format::Json => output::print_json(&views)?,
    }
    Ok(())
}

fn show(args: &CalendarShowArgs) -> anyhow::Result<()> {
    let specs = calendars(&args.file)?;
    let spec = specs
        .iter()
        .find(|spec| spec.name.eq_ignore_ascii_case(args.name.trim()))
        .ok_or_else(|| {
            usage(
                orch_core::calendar::unknown_calendar(
                    &args.name,
                    specs.iter().map(|spec| spec.name.as_str()),
                )
                .to_string(),
            )
        })?;
    let calendar = Calendar::from_spec(spec)?;
    let year = args.year.unwrap_or_else(|| chrono::Utc::now().year());
    let days = CalendarDaysView::new(&calendar, year);
    match args.file.output.output {
        Format::Table => view::print_days(&days)?,
        Format::Json => output::print_json(&days)?,
    }
    Ok(())
}
