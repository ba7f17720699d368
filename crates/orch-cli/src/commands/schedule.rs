//! `orch deployment schedule ...` and `orch deployment upcoming`.

use orch_proto::v1 as proto;

use super::Context;
use crate::cli::{ScheduleCommand, ScheduleCreateArgs, UpcomingArgs};
use crate::client::Reply;
use crate::error::usage;
use crate::outln;
use crate::output::{self, Format};
use crate::views::deployment::{DeploymentView, ScheduleView};
use crate::views::schedule::{self as view, UpcomingListView};

/// Runs an `orch deployment schedule` command.
pub async fn run(context: &Context, command: ScheduleCommand) -> anyhow::Result<()> {
    match command {
        ScheduleCommand::Ls { deployment, output } => {
            let api = context.connect().await?;
            let request = proto::ListSchedulesRequest {
                deployment: deployment.to_string(),
            };
            let reply = api.schedules().list_schedules(request).await.reply(&api)?;
            let schedules: Vec<ScheduleView> =
                reply.schedules.iter().map(ScheduleView::from).collect();
            match output.output {
                Format::Table => view::print_schedules(&schedules)?,
                Format::Json => output::print_json(&schedules)?,
            }
            Ok(())
        }
        ScheduleCommand::Create(args) => create(context, args).await,
        ScheduleCommand::Pause { deployment, slug } => {
            set_active(context, deployment.to_string(), slug, false).await
        }
        ScheduleCommand::Resume { deployment, slug } => {
            set_active(context, deployment.to_string(), slug, true).await
        }
        ScheduleCommand::Delete { deployment, slug } => {
            let api = context.connect().await?;
            let request = proto::DeleteScheduleRequest {
                deployment: deployment.to_string(),
                slug: slug.clone(),
            };
            api.schedules().delete_schedule(request).await.reply(&api)?;
            outln!("Deleted schedule {slug} of {deployment} and its waiting runs")?;
            Ok(())
        }
    }
}

/// Checks the schedule here, then adds it.
async fn create(context: &Context, args: ScheduleCreateArgs) -> anyhow::Result<()> {
    let parameters =
        orch_core::build_overrides(None, &args.params).map_err(|error| usage(error.to_string()))?;
    let spec = orch_core::ScheduleSpec {
        slug: args.slug.clone().unwrap_or_default(),
        rule: orch_core::ScheduleRule {
            cron: args.cron,
            interval_seconds: args.interval_seconds,
            anchor: args.anchor,
            rrule: args.rrule,
            timezone: args.timezone,
            active: !args.inactive,
            parameters,
        },
        calendar: args
            .calendar
            .as_deref()
            .map(|name| {
                orch_core::Calendar::built_in(name)
                    .map(|calendar| orch_core::CalendarSpec::built_in(calendar.name()))
            })
            .transpose()
            .map_err(|error| usage(error.to_string()))?,
        skip_after_close: !args.keep_after_close,
    };
    let checked = orch_core::Schedule::parse(&spec).map_err(|error| usage(error.to_string()))?;
    let api = context.connect().await?;
    let request = proto::CreateScheduleRequest {
        deployment: args.deployment.to_string(),
        schedule: Some(orch_proto::deploy::schedule_spec(&spec)),
    };
    let deployment = api.schedules().create_schedule(request).await.reply(&api)?;
    let deployment = DeploymentView::from(&deployment);
    let slug = deployment
        .schedules
        .last()
        .map_or_else(String::new, |s| s.slug.clone());
    outln!(
        "Added schedule {slug} to {}: {}",
        deployment.full_name,
        checked.describe()
    )?;
    outln!(
        "It lasts until the next 'orch deploy' of {} replaces its schedules. \
         See the next runs with 'orch deployment upcoming {}'.",
        deployment.full_name,
        deployment.full_name
    )?;
    Ok(())
}

/// Pauses or resumes one schedule.
async fn set_active(
    context: &Context,
    deployment: String,
    slug: String,
    active: bool,
) -> anyhow::Result<()> {
    let api = context.connect().await?;
    let request = proto::UpdateScheduleRequest {
        deployment: deployment.clone(),
        slug: slug.clone(),
        active: Some(active),
    };
    api.schedules().update_schedule(request).await.reply(&api)?;
    if active {
        outln!("Resumed schedule {slug} of {deployment}: it creates runs from now on")?;
    } else {
        outln!("Paused schedule {slug} of {deployment}: its waiting runs were deleted")?;
    }
    Ok(())
}

/// Lists the next fire times.
pub async fn upcoming(context: &Context, args: UpcomingArgs) -> anyhow::Result<()> {
    let api = context.connect().await?;
    let request = proto::GetUpcomingRunsRequest {
        deployment: args.deployment.to_string(),
        count: args.count,
        show_skipped: args.show_skipped,
    };
    let reply = api
        .schedules()
        .get_upcoming_runs(request)
        .await
        .reply(&api)?;
    let list = UpcomingListView::from(&reply);
    match args.output.output {
        Format::Table => view::print_upcoming(&list, &list.empty_message())?,
        Format::Json => output::print_json(&list)?,
    }
    Ok(())
}
