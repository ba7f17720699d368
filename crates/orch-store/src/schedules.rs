//! Schedules of deployments: storing them, and changing them one at a time
//! (`orch deployment schedule create | pause | resume | delete`).
//!
//! Whenever a schedule is removed, deactivated or redefined, the runs it
//! made that are still waiting go with it, so that no run of an old
//! definition is ever started; the scheduler makes the new ones.

use orch_core::ScheduleSpec;

use crate::Schedules;
use crate::error::{Result, StoreError};
use crate::model::{Deployment, Schedule};
use crate::new_id;
use crate::rows::{from_json, sql, to_json};

/// Selects [`ScheduleRow`]s; append `WHERE ...` / `ORDER BY ...`.
pub(crate) const SCHEDULE_SELECT: &str = "SELECT deployment_id, slug, cron, interval_seconds, \
     anchor, rrule, timezone, active, parameters, calendar, skip_after_close, filled_until \
     FROM deployment_schedules";

/// Runs a schedule made that have not started (and are not retries).
const WAITING: &str = "schedule_slug IS NOT NULL AND state_type = 'SCHEDULED' \
     AND run_count = 0 AND state_name <> 'AwaitingRetry'";

/// A row of `deployment_schedules`.
#[derive(sqlx::FromRow)]
pub(crate) struct ScheduleRow {
    pub(crate) deployment_id: String,
    pub(crate) slug: String,
    cron: Option<String>,
    interval_seconds: Option<i64>,
    anchor: Option<String>,
    rrule: Option<String>,
    timezone: String,
    active: i64,
    parameters: String,
    calendar: Option<String>,
    skip_after_close: i64,
    pub(crate) filled_until: Option<i64>,
}

impl ScheduleRow {
    pub(crate) fn into_schedule(self) -> Result<Schedule> {
        Ok(Schedule {
            slug: self.slug,
            rule: orch_core::ScheduleRule {
                cron: self.cron,
                interval_seconds: self.interval_seconds.map(|s| s as u64),
                anchor: self.anchor,
                rrule: self.rrule,
                timezone: self.timezone,
                active: self.active != 0,
                parameters: from_json("deployment_schedules.parameters", &self.parameters)?,
            },
            calendar: self
                .calendar
                .map(|text| from_json("deployment_schedules.calendar", &text))
                .transpose()?,
            skip_after_close: self.skip_after_close != 0,
        })
    }
}

/// Whether two schedules fire at the same times.
fn same_times(a: &Schedule, b: &Schedule) -> bool {
    (
        &a.rule.cron,
        a.rule.interval_seconds,
        &a.rule.anchor,
        &a.rule.rrule,
        &a.rule.timezone,
        &a.calendar,
        a.skip_after_close,
    ) == (
        &b.rule.cron,
        b.rule.interval_seconds,
        &b.rule.anchor,
        &b.rule.rrule,
        &b.rule.timezone,
        &b.calendar,
        b.skip_after_close,
    )
}

/// Checks a schedule's cron, zone, anchor and rule.
pub(crate) fn validate(deployment: &str, spec: &ScheduleSpec) -> Result<()> {
    orch_core::Schedule::parse(spec)
        .map(|_| ())
        .map_err(|error| {
            StoreError::InvalidInput(format!(
                "deployment \"{deployment}\", schedule \"{}\": {error}",
                spec.slug
            ))
        })
}

pub(crate) async fn load_schedules(
    conn: &mut sqlx::AnyConnection,
    deployment_id: &str,
) -> Result<Vec<Schedule>> {
    let rows: Vec<ScheduleRow> = sqlx::query_as(sql(format!(
        "{SCHEDULE_SELECT} WHERE deployment_id = $1 ORDER BY position"
    )))
    .bind(deployment_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter().map(ScheduleRow::into_schedule).collect()
}

/// Deletes the waiting runs of a deployment's schedule (`slug`, or all
/// schedules for `None`) that are due after `after` (`i64::MIN`: all of them).
pub(crate) async fn forget_runs(
    conn: &mut sqlx::AnyConnection,
    deployment_id: &str,
    slug: Option<&str>,
    after: i64,
) -> Result<u64> {
    let deleted = sqlx::query(sql(format!(
        "DELETE FROM flow_runs WHERE deployment_id = $1 AND ($2 = '' OR schedule_slug = $2) \
         AND expected_start > $3 AND {WAITING}"
    )))
    .bind(deployment_id)
    .bind(slug.unwrap_or(""))
    .bind(after)
    .execute(&mut *conn)
    .await?;
    Ok(deleted.rows_affected())
}

/// Deletes the runs made ahead (due after `now`) by a deployment's
/// schedules and lets the scheduler make them again from `now`.
pub(crate) async fn forget_future_runs(
    conn: &mut sqlx::AnyConnection,
    deployment_id: &str,
    slug: Option<&str>,
    now: i64,
) -> Result<()> {
    forget_runs(conn, deployment_id, slug, now).await?;
    sqlx::query(
        "UPDATE deployment_schedules SET filled_until = $1 WHERE deployment_id = $2 \
         AND ($3 = '' OR slug = $3) AND filled_until > $1",
    )
    .bind(now)
    .bind(deployment_id)
    .bind(slug.unwrap_or(""))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Replaces a deployment's schedules. A schedule whose times are unchanged
/// keeps its progress; a removed, deactivated or redefined one loses its
/// waiting runs; one whose parameters changed loses the runs made ahead.
pub(crate) async fn replace_schedules(
    conn: &mut sqlx::AnyConnection,
    deployment_id: &str,
    schedules: &[ScheduleSpec],
    now: i64,
) -> Result<()> {
    let old: Vec<ScheduleRow> =
        sqlx::query_as(sql(format!("{SCHEDULE_SELECT} WHERE deployment_id = $1")))
            .bind(deployment_id)
            .fetch_all(&mut *conn)
            .await?;
    let mut progress: Vec<(String, Option<i64>)> = Vec::new();
    for row in old {
        let filled_until = row.filled_until;
        let before = row.into_schedule()?;
        let after = schedules.iter().find(|s| s.slug == before.slug).cloned();
        match after {
            Some(after) if after.rule.active && same_times(&before, &after) => {
                if !before.rule.active {
                    // Reactivated: the time it was off is not missed.
                    progress.push((after.slug.clone(), Some(now)));
                } else if before.rule.parameters != after.rule.parameters {
                    forget_runs(conn, deployment_id, Some(&before.slug), now).await?;
                    progress.push((after.slug.clone(), filled_until.map(|f| f.min(now))));
                } else {
                    progress.push((after.slug.clone(), filled_until));
                }
            }
            _ => {
                forget_runs(conn, deployment_id, Some(&before.slug), i64::MIN).await?;
            }
        }
    }
    sqlx::query("DELETE FROM deployment_schedules WHERE deployment_id = $1")
        .bind(deployment_id)
        .execute(&mut *conn)
        .await?;
    for (position, schedule) in schedules.iter().enumerate() {
        let filled_until = progress
            .iter()
            .find(|(slug, _)| *slug == schedule.slug)
            .and_then(|(_, filled)| *filled);
        insert_schedule(conn, deployment_id, position as i64, schedule, filled_until).await?;
    }
    Ok(())
}

async fn insert_schedule(
    conn: &mut sqlx::AnyConnection,
    deployment_id: &str,
    position: i64,
    schedule: &ScheduleSpec,
    filled_until: Option<i64>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO deployment_schedules (id, deployment_id, position, slug, cron, interval_seconds, \
         anchor, rrule, timezone, active, parameters, calendar, skip_after_close, filled_until) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(new_id())
    .bind(deployment_id)
    .bind(position)
    .bind(&schedule.slug)
    .bind(&schedule.rule.cron)
    .bind(schedule.rule.interval_seconds.map(|s| s as i64))
    .bind(&schedule.rule.anchor)
    .bind(&schedule.rule.rrule)
    .bind(&schedule.rule.timezone)
    .bind(i64::from(schedule.rule.active))
    .bind(to_json(&schedule.rule.parameters))
    .bind(schedule.calendar.as_ref().map(to_json))
    .bind(i64::from(schedule.skip_after_close))
    .bind(filled_until)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn schedule_not_found(deployment: &Deployment, slug: &str) -> StoreError {
    let mut error = StoreError::not_found(
        "schedule",
        slug,
        deployment.schedules.iter().map(|s| s.slug.as_str()),
    );
    if let StoreError::NotFound { hint, .. } = &mut error
        && hint.is_empty()
    {
        *hint = format!(
            " in deployment {}: list its schedules with 'orch deployment schedule ls {}'",
            deployment.full_name(),
            deployment.full_name()
        );
    }
    error
}

impl Schedules<'_> {
    /// Adds a schedule to a deployment. An empty slug becomes the first
    /// free position number. It lasts until the next `orch deploy` of the
    /// deployment replaces its schedules with the file's.
    pub async fn add_schedule(
        &self,
        deployment_ref: &str,
        mut spec: ScheduleSpec,
    ) -> Result<Deployment> {
        let deployment = self.deployments().deployment(deployment_ref).await?;
        let taken = |slug: &str| deployment.schedules.iter().any(|s| s.slug == slug);
        if spec.slug.is_empty() {
            let free = (deployment.schedules.len()..).find(|n| !taken(&n.to_string()));
            spec.slug = free.unwrap_or_default().to_string();
        }
        orch_core::NameKind::Schedule
            .check(&spec.slug)
            .map_err(|e| StoreError::InvalidInput(e.to_string()))?;
        if taken(&spec.slug) {
            return Err(StoreError::AlreadyExists {
                kind: "schedule",
                name: spec.slug.clone(),
                hint: format!(
                    " in deployment {}: pick another --slug, or delete it first",
                    deployment.full_name()
                ),
            });
        }
        validate(&deployment.full_name(), &spec)?;
        let mut tx = self.writer.begin().await?;
        let (position,): (i64,) = sqlx::query_as(
            "SELECT COALESCE(MAX(position) + 1, 0) FROM deployment_schedules WHERE deployment_id = $1",
        )
        .bind(&deployment.id)
        .fetch_one(&mut *tx)
        .await?;
        insert_schedule(&mut tx, &deployment.id, position, &spec, None).await?;
        sqlx::query("UPDATE deployments SET updated_at = $1 WHERE id = $2")
            .bind(self.now())
            .bind(&deployment.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.deployments().deployment(&deployment.id).await
    }

    /// Turns a schedule on or off. Off, its waiting runs are deleted; on
    /// again, it fills from now (the time it was off is not missed).
    pub async fn set_schedule_active(
        &self,
        deployment_ref: &str,
        slug: &str,
        active: bool,
    ) -> Result<Deployment> {
        let deployment = self.deployments().deployment(deployment_ref).await?;
        let Some(schedule) = deployment.schedules.iter().find(|s| s.slug == slug) else {
            return Err(schedule_not_found(&deployment, slug));
        };
        if schedule.rule.active == active {
            return Ok(deployment);
        }
        let now = self.now();
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "UPDATE deployment_schedules SET active = $1, filled_until = $2 \
             WHERE deployment_id = $3 AND slug = $4",
        )
        .bind(i64::from(active))
        .bind(now)
        .bind(&deployment.id)
        .bind(slug)
        .execute(&mut *tx)
        .await?;
        if !active {
            forget_runs(&mut tx, &deployment.id, Some(slug), i64::MIN).await?;
        }
        tx.commit().await?;
        self.deployments().deployment(&deployment.id).await
    }

    /// Deletes a schedule and its waiting runs.
    pub async fn delete_schedule(&self, deployment_ref: &str, slug: &str) -> Result<Deployment> {
        let deployment = self.deployments().deployment(deployment_ref).await?;
        if !deployment.schedules.iter().any(|s| s.slug == slug) {
            return Err(schedule_not_found(&deployment, slug));
        }
        let mut tx = self.writer.begin().await?;
        sqlx::query("DELETE FROM deployment_schedules WHERE deployment_id = $1 AND slug = $2")
            .bind(&deployment.id)
            .bind(slug)
            .execute(&mut *tx)
            .await?;
        forget_runs(&mut tx, &deployment.id, Some(slug), i64::MIN).await?;
        tx.commit().await?;
        self.deployments().deployment(&deployment.id).await
    }
}
