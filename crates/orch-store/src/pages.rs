//! Filtered, paginated reads for the dashboard and the REST API: flow run
//! pages with a keyset cursor, the start-time/duration timeline, log pages
//! read backwards, and a deployment's last and upcoming runs.
//!
//! Every query is assembled from constant fragments for the filters actually
//! given (so SQLite can pick the index for that filter) with `$N` binds.

use std::fmt;
use std::str::FromStr;

use orch_core::StateType;

use crate::FlowRuns;
use crate::Logs;
use crate::error::{Result, StoreError};
use crate::model::{FlowRun, LogLine};
use crate::rows::{FLOW_RUN_SELECT, FlowRunRow, LogRow, sql, state_type};

/// Largest page of [`FlowRuns::flow_run_page`] and [`FlowRuns::flow_run_timeline`].
pub use orch_core::limits::MAX_PAGE_SIZE;
/// Counting stops here: a listing says "10,000+" instead of scanning everything.
pub const COUNT_CAP: i64 = 10_000;

/// Filters shared by run listings. Empty fields do not filter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlowRunQuery {
    /// Flow name.
    pub flow: Option<String>,
    /// Deployment id.
    pub deployment_id: Option<String>,
    /// Work pool name.
    pub work_pool: Option<String>,
    /// State type.
    pub state_type: Option<StateType>,
    /// State name (e.g. Late), compared case-insensitively.
    pub state_name: Option<String>,
    /// A tag the run carries.
    pub tag: Option<String>,
    /// Lower bound (µs, inclusive): creation time in a page, start time in the timeline.
    pub since: Option<i64>,
    /// Upper bound (µs, exclusive), same column as `since`.
    pub until: Option<i64>,
    /// Only runs that are no subflow run (top-level runs).
    pub top_level: bool,
    /// Only the subflow runs of this run (its id).
    pub parent_flow_run_id: Option<String>,
}

/// Where the next page starts: just after this run in newest-first order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunCursor {
    /// The last run's creation time.
    pub created_at: i64,
    /// The last run's id.
    pub id: String,
}

impl fmt::Display for RunCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}", self.created_at, self.id)
    }
}

impl FromStr for RunCursor {
    type Err = StoreError;

    fn from_str(text: &str) -> Result<RunCursor> {
        let invalid = || {
            StoreError::InvalidInput(format!(
                "invalid cursor \"{text}\": pass the next_cursor of a previous page as it is"
            ))
        };
        let (created_at, id) = text.split_once('_').ok_or_else(invalid)?;
        let created_at = created_at.parse().map_err(|_| invalid())?;
        if id.is_empty() {
            return Err(invalid());
        }
        Ok(RunCursor {
            created_at,
            id: id.to_string(),
        })
    }
}

/// One page of runs, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowRunPage {
    /// The runs.
    pub runs: Vec<FlowRun>,
    /// Cursor of the following page, if there is one.
    pub next_cursor: Option<RunCursor>,
    /// Runs matching the filters, counted up to [`COUNT_CAP`].
    pub total: i64,
    /// False when `total` stopped at the cap.
    pub total_exact: bool,
}

/// A run on the timeline: when it started and how long it took.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelinePoint {
    /// Run id.
    pub id: String,
    /// Run name.
    pub name: String,
    /// Flow name.
    pub flow: String,
    /// Current state type.
    pub state_type: StateType,
    /// Current state name.
    pub state_name: String,
    /// First time it entered Running.
    pub start_time: i64,
    /// When it ended; `None` while it runs.
    pub end_time: Option<i64>,
}

/// A bind value of an assembled query.
enum Bind {
    Text(String),
    Int(i64),
}

/// SQL text plus its binds, numbered `$1, $2, ...` as fragments are pushed.
#[derive(Default)]
struct Assembled {
    text: String,
    binds: Vec<Bind>,
}

impl Assembled {
    fn new(start: &str) -> Assembled {
        Assembled {
            text: start.to_string(),
            binds: Vec::new(),
        }
    }

    /// Appends `fragment` with each `?` replaced by the next `$N`, binding `values` in order.
    fn push(&mut self, fragment: &str, values: impl IntoIterator<Item = Bind>) {
        for (i, part) in fragment.split('?').enumerate() {
            if i > 0 {
                self.text.push_str(&format!("${}", self.binds.len() + i));
            }
            self.text.push_str(part);
        }
        self.binds.extend(values);
    }

    fn query_as<'q, T>(self) -> sqlx::query::QueryAs<'q, sqlx::Any, T, sqlx::any::AnyArguments>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        let mut query = sqlx::query_as(sql(self.text));
        for bind in self.binds {
            query = match bind {
                Bind::Text(text) => query.bind(text),
                Bind::Int(number) => query.bind(number),
            };
        }
        query
    }
}

/// How a listing with a tag filter reaches the run's tags (`flow_run_tags`,
/// kept by triggers with the runs: migration 0420).
#[derive(Debug, Clone, Copy, PartialEq)]
enum TagJoin {
    /// The tag table, aliased `t`, drives the query (see [`TAGGED_RUNS`]):
    /// its (tag, created_at, flow_run_id) key gives the tag's runs newest first.
    Driving,
    /// The runs drive (another order); each one is looked up in the tag table.
    Probe,
}

/// What [`FLOW_RUN_SELECT`] reads from, and what it reads from when the tag table drives.
const RUNS: &str = "FROM flow_runs r ";
const TAGGED_RUNS: &str = "FROM flow_run_tags t JOIN flow_runs r ON r.id = t.flow_run_id ";

/// Whether `filter` has a filter on the run row itself (besides the tag and
/// the creation-time bounds, which the tag table has too).
fn filters_run_columns(filter: &FlowRunQuery) -> bool {
    let rest = FlowRunQuery {
        tag: None,
        since: None,
        until: None,
        ..filter.clone()
    };
    rest != FlowRunQuery::default()
}

/// Appends ` AND ...` for each filter; `time_column` is what `since`/`until` bound.
fn push_filters(query: &mut Assembled, filter: &FlowRunQuery, time_column: &str, tags: TagJoin) {
    if let Some(flow) = &filter.flow {
        query.push(
            " AND r.flow_id = (SELECT id FROM flows WHERE name = ?)",
            [Bind::Text(flow.clone())],
        );
    }
    if let Some(deployment) = &filter.deployment_id {
        query.push(" AND r.deployment_id = ?", [Bind::Text(deployment.clone())]);
    }
    if let Some(pool) = &filter.work_pool {
        query.push(
            " AND r.work_pool_id = (SELECT id FROM work_pools WHERE name = ?)",
            [Bind::Text(pool.clone())],
        );
    }
    if let Some(kind) = filter.state_type {
        query.push(" AND r.state_type = ?", [Bind::Text(kind.as_str().into())]);
    }
    if let Some(name) = &filter.state_name {
        query.push(
            " AND LOWER(r.state_name) = LOWER(?)",
            [Bind::Text(name.clone())],
        );
    }
    if let Some(tag) = &filter.tag {
        let clause = match tags {
            TagJoin::Driving => " AND t.tag = ?",
            TagJoin::Probe => {
                " AND EXISTS (SELECT 1 FROM flow_run_tags t WHERE t.tag = ? \
                 AND t.created_at = r.created_at AND t.flow_run_id = r.id)"
            }
        };
        query.push(clause, [Bind::Text(tag.clone())]);
    }
    if filter.top_level {
        query.push(" AND r.parent_flow_run_id IS NULL", []);
    }
    if let Some(parent) = &filter.parent_flow_run_id {
        query.push(
            " AND r.parent_flow_run_id = ?",
            [Bind::Text(parent.clone())],
        );
    }
    if let Some(since) = filter.since {
        query.push(&format!(" AND {time_column} >= ?"), [Bind::Int(since)]);
    }
    if let Some(until) = filter.until {
        query.push(&format!(" AND {time_column} < ?"), [Bind::Int(until)]);
    }
}

/// `limit`, or the default for 0, at most [`MAX_PAGE_SIZE`].
fn page_size(limit: u32, default: u32) -> i64 {
    i64::from(if limit == 0 { default } else { limit }.min(MAX_PAGE_SIZE))
}

impl FlowRuns<'_> {
    /// A page of runs matching `filter`, newest first, starting after `cursor`.
    pub async fn flow_run_page(
        &self,
        filter: &FlowRunQuery,
        cursor: Option<&RunCursor>,
        limit: u32,
    ) -> Result<FlowRunPage> {
        let limit = page_size(limit, crate::DEFAULT_LIST_LIMIT);
        // With a tag, the tag's index gives its runs in the list's order (a
        // rare tag costs what it matches, not a pass over every run).
        let tagged = filter.tag.is_some();
        let (created, id) = if tagged {
            ("t.created_at", "t.flow_run_id")
        } else {
            ("r.created_at", "r.id")
        };
        let select = if tagged {
            FLOW_RUN_SELECT.replacen(RUNS, TAGGED_RUNS, 1)
        } else {
            FLOW_RUN_SELECT.to_string()
        };
        let mut query = Assembled::new(&format!("{select} WHERE 1 = 1"));
        push_filters(&mut query, filter, created, TagJoin::Driving);
        if let Some(cursor) = cursor {
            query.push(
                &format!(" AND ({created} < ? OR ({created} = ? AND {id} < ?))"),
                [
                    Bind::Int(cursor.created_at),
                    Bind::Int(cursor.created_at),
                    Bind::Text(cursor.id.clone()),
                ],
            );
        }
        // One more than asked tells whether a next page exists.
        query.push(
            &format!(" ORDER BY {created} DESC, {id} DESC LIMIT ?"),
            [Bind::Int(limit + 1)],
        );
        let rows: Vec<FlowRunRow> = query.query_as().fetch_all(&self.reader).await?;
        let mut runs = rows
            .into_iter()
            .map(FlowRun::try_from)
            .collect::<Result<Vec<_>>>()?;
        let next_cursor = if runs.len() as i64 > limit {
            runs.truncate(limit as usize);
            runs.last().map(|run| RunCursor {
                created_at: run.created_at,
                id: run.id.clone(),
            })
        } else {
            None
        };
        let from = match (tagged, filters_run_columns(filter)) {
            (false, _) => RUNS,
            (true, true) => TAGGED_RUNS,
            (true, false) => "FROM flow_run_tags t ",
        };
        let mut count =
            Assembled::new(&format!("SELECT COUNT(*) FROM (SELECT 1 {from}WHERE 1 = 1"));
        push_filters(&mut count, filter, created, TagJoin::Driving);
        count.push(" LIMIT ?) counted", [Bind::Int(COUNT_CAP + 1)]);
        let (total,): (i64,) = count.query_as().fetch_one(&self.reader).await?;
        Ok(FlowRunPage {
            runs,
            next_cursor,
            total: total.min(COUNT_CAP),
            total_exact: total <= COUNT_CAP,
        })
    }

    /// Runs that started in the filter's window (by start time), latest first, at most `limit`.
    pub async fn flow_run_timeline(
        &self,
        filter: &FlowRunQuery,
        limit: u32,
    ) -> Result<Vec<TimelinePoint>> {
        let limit = page_size(limit, 500);
        let mut query = Assembled::new(
            "SELECT r.id, r.name, f.name, r.state_type, r.state_name, r.start_time, r.end_time \
             FROM flow_runs r JOIN flows f ON f.id = r.flow_id WHERE r.start_time IS NOT NULL",
        );
        push_filters(&mut query, filter, "r.start_time", TagJoin::Probe);
        query.push(" ORDER BY r.start_time DESC LIMIT ?", [Bind::Int(limit)]);
        type Row = (String, String, String, String, String, i64, Option<i64>);
        let rows: Vec<Row> = query.query_as().fetch_all(&self.reader).await?;
        rows.into_iter()
            .map(|(id, name, flow, kind, state_name, start_time, end_time)| {
                Ok(TimelinePoint {
                    id,
                    name,
                    flow,
                    state_type: state_type(&kind)?,
                    state_name,
                    start_time,
                    end_time,
                })
            })
            .collect()
    }
}

impl Logs<'_> {
    /// Up to `limit` lines of a run with id below `before_id`, oldest first
    /// (the last lines of a run when `before_id` is `i64::MAX`).
    pub async fn read_logs_before(
        &self,
        run_id: &str,
        before_id: i64,
        limit: u32,
    ) -> Result<Vec<LogLine>> {
        let limit = i64::from(if limit == 0 {
            crate::logs::DEFAULT_LOG_PAGE
        } else {
            limit
        });
        let rows: Vec<LogRow> = sqlx::query_as(sql(crate::logs::page_by_size("<", "DESC")))
            .bind(run_id)
            .bind(before_id)
            .bind(limit)
            .bind(crate::logs::MAX_PAGE_BYTES)
            .fetch_all(&self.reader)
            .await?;
        let mut lines: Vec<LogLine> = rows.into_iter().map(LogLine::from).collect();
        lines.reverse();
        Ok(lines)
    }
}

impl FlowRuns<'_> {
    /// A deployment's most recent runs, newest first, leaving out runs
    /// scheduled for later (those are [`FlowRuns::upcoming_runs`]).
    pub async fn last_runs(&self, deployment_id: &str, limit: u32) -> Result<Vec<FlowRun>> {
        let rows: Vec<FlowRunRow> = sqlx::query_as(sql(format!(
            "{FLOW_RUN_SELECT} WHERE r.deployment_id = $1 \
             AND (r.state_type <> 'SCHEDULED' OR r.expected_start <= $2) \
             ORDER BY r.created_at DESC, r.id DESC LIMIT $3"
        )))
        .bind(deployment_id)
        .bind(self.now())
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter().map(FlowRun::try_from).collect()
    }

    /// A deployment's Scheduled runs due after now, soonest first.
    pub async fn upcoming_runs(&self, deployment_id: &str, limit: u32) -> Result<Vec<FlowRun>> {
        let rows: Vec<FlowRunRow> = sqlx::query_as(sql(format!(
            "{FLOW_RUN_SELECT} WHERE r.deployment_id = $1 AND r.state_type = 'SCHEDULED' \
             AND r.expected_start > $2 ORDER BY r.expected_start, r.id LIMIT $3"
        )))
        .bind(deployment_id)
        .bind(self.now())
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter().map(FlowRun::try_from).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let cursor = RunCursor {
            created_at: 1_700_000_000_000_000,
            id: "0b6f-ab_cd".into(),
        };
        assert_eq!(cursor.to_string().parse::<RunCursor>().unwrap(), cursor);
        for bad in ["", "abc", "12_", "x_id"] {
            let error = bad.parse::<RunCursor>().unwrap_err();
            assert!(error.to_string().contains("next_cursor"), "{error}");
        }
    }

    #[test]
    fn placeholders_are_numbered_in_push_order() {
        let mut query = Assembled::new("SELECT 1 WHERE 1 = 1");
        query.push(" AND a = ?", [Bind::Int(1)]);
        query.push(" AND (b < ? OR c = ?)", [Bind::Int(2), Bind::Int(3)]);
        assert_eq!(
            query.text,
            "SELECT 1 WHERE 1 = 1 AND a = $1 AND (b < $2 OR c = $3)"
        );
        assert_eq!(query.binds.len(), 3);
    }

    #[test]
    fn a_tag_filter_reads_runs_through_the_tag_table() {
        let select = FLOW_RUN_SELECT.replacen(RUNS, TAGGED_RUNS, 1);
        assert_eq!(
            FLOW_RUN_SELECT.matches(RUNS).count(),
            1,
            "{FLOW_RUN_SELECT}"
        );
        assert!(select.contains(
            "FROM flow_run_tags t JOIN flow_runs r ON r.id = t.flow_run_id JOIN flows f"
        ));
        let tag_only = FlowRunQuery {
            tag: Some("etl".into()),
            since: Some(1),
            ..FlowRunQuery::default()
        };
        assert!(!filters_run_columns(&tag_only));
        let with_state = FlowRunQuery {
            state_name: Some("Late".into()),
            ..tag_only
        };
        assert!(filters_run_columns(&with_state));
    }
}
