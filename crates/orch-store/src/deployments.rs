//! Flows and deployments.

use orch_core::{DeploymentSpec, RunPolicy, StateType};

use crate::Deployments;
use crate::error::{Result, StoreError};
use crate::model::{Deployment, Flow, JsonObject, Schedule};
use crate::new_id;
use crate::rows::{from_json, sql, to_json};
use crate::schedules::{ScheduleRow, forget_future_runs, load_schedules, replace_schedules};
use crate::scheduling::scheduled;
use crate::state_change::{Cause, Changed, change_state};
use crate::transitions::NewState;

/// A deployment to create or update, as declared in a deploy file.
#[derive(Debug, Clone)]
pub struct DeploymentInput {
    /// The declaration.
    pub spec: DeploymentSpec,
    /// Absolute folder of the declaring file.
    pub base_dir: String,
}

/// What `apply_deployments` did to one deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// It did not exist.
    Created,
    /// Some fields changed.
    Updated,
    /// Nothing changed.
    Unchanged,
}

/// The outcome for one deployment of an apply.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentChange {
    /// Flow name.
    pub flow: String,
    /// Deployment name.
    pub name: String,
    /// What happened.
    pub kind: ChangeKind,
    /// Fields that changed (for `Updated`).
    pub changed_fields: Vec<String>,
    /// The flow was created by this apply.
    pub flow_created: bool,
}

#[derive(sqlx::FromRow)]
struct DeploymentRow {
    id: String,
    flow_id: String,
    flow: String,
    name: String,
    entrypoint: String,
    work_pool: String,
    work_pool_id: String,
    parameters: String,
    tags: String,
    description: String,
    retries: i64,
    retry_delay_seconds: i64,
    base_dir: String,
    paused: i64,
    created_at: i64,
    updated_at: i64,
    catch_up: String,
    max_lateness_seconds: Option<i64>,
    concurrency_limit: Option<i64>,
    collision_strategy: String,
    retention_runs_days: Option<i64>,
    retention_logs_days: Option<i64>,
    env: String,
    secrets: String,
    container: String,
}

const DEPLOYMENT_SELECT: &str = "SELECT d.id, d.flow_id, f.name AS flow, d.name, d.entrypoint, \
     p.name AS work_pool, d.work_pool_id, d.parameters, d.tags, d.description, d.retries, d.retry_delay_seconds, \
     d.base_dir, d.paused, d.created_at, d.updated_at, d.catch_up, d.max_lateness_seconds, \
     d.concurrency_limit, d.collision_strategy, d.retention_runs_days, d.retention_logs_days, \
     d.env, d.secrets, d.container FROM deployments d JOIN flows f ON f.id = d.flow_id JOIN work_pools p ON p.id = d.work_pool_id ";

impl DeploymentRow {
    fn into_deployment(self, schedules: Vec<Schedule>) -> Result<Deployment> {
        let corrupt = |column: &str, value: &str| {
            StoreError::Conflict(format!("corrupt {column} {value:?} in the database"))
        };
        let policy = RunPolicy {
            catch_up: self
                .catch_up
                .parse()
                .map_err(|_| corrupt("deployments.catch_up", &self.catch_up))?,
            max_lateness_seconds: self.max_lateness_seconds.map(|s| s as u64),
            concurrency_limit: self.concurrency_limit.map(|l| l as u32),
            collision_strategy: self
                .collision_strategy
                .parse()
                .map_err(|_| corrupt("deployments.collision_strategy", &self.collision_strategy))?,
        };
        let days = |value: Option<i64>| value.map(|d| d.clamp(0, i64::from(u32::MAX)) as u32);
        Ok(Deployment {
            retention: orch_core::Retention {
                runs_days: days(self.retention_runs_days),
                logs_days: days(self.retention_logs_days),
            },
            policy,
            environment: orch_core::FlowEnvironment {
                env: from_json("deployments.env", &self.env)?,
                secrets: from_json("deployments.secrets", &self.secrets)?,
            },
            container: crate::container::from_column("deployments.container", &self.container)?,
            entrypoint: from_json("deployments.entrypoint", &self.entrypoint)?,
            parameters: from_json("deployments.parameters", &self.parameters)?,
            tags: from_json("deployments.tags", &self.tags)?,
            id: self.id,
            flow_id: self.flow_id,
            flow: self.flow,
            name: self.name,
            work_pool: self.work_pool,
            work_pool_id: self.work_pool_id,
            description: self.description,
            retries: self.retries as u32,
            retry_delay_seconds: self.retry_delay_seconds as u64,
            base_dir: self.base_dir,
            paused: self.paused != 0,
            schedules,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// Names of the fields of `current` that `input` would change.
fn changed_fields(current: &Deployment, input: &DeploymentInput) -> Vec<String> {
    let spec = &input.spec;
    let schedules: Vec<Schedule> = spec.schedules.clone();
    let policy = &spec.policy;
    let checks: [(&str, bool); 17] = [
        ("container", current.container != spec.container),
        ("retention", current.retention != spec.retention),
        ("env", current.environment.env != spec.environment.env),
        (
            "secrets",
            current.environment.secrets != spec.environment.secrets,
        ),
        ("entrypoint", current.entrypoint != spec.entrypoint),
        ("work_pool", current.work_pool != spec.work_pool),
        ("parameters", current.parameters != spec.parameters),
        ("tags", current.tags != spec.tags),
        ("description", current.description != spec.description),
        ("retries", current.retries != spec.retries),
        (
            "retry_delay_seconds",
            current.retry_delay_seconds != spec.retry_delay_seconds,
        ),
        ("base_dir", current.base_dir != input.base_dir),
        ("schedules", current.schedules != schedules),
        ("catch_up", current.policy.catch_up != policy.catch_up),
        (
            "max_lateness_seconds",
            current.policy.max_lateness_seconds != policy.max_lateness_seconds,
        ),
        (
            "concurrency_limit",
            current.policy.concurrency_limit != policy.concurrency_limit,
        ),
        (
            "collision_strategy",
            current.policy.collision_strategy != policy.collision_strategy,
        ),
    ];
    checks
        .iter()
        .filter(|(_, changed)| *changed)
        .map(|(name, _)| name.to_string())
        .collect()
}

impl Deployments<'_> {
    /// Creates or updates flows and deployments in one transaction; nothing is
    /// written if any of them is invalid (e.g. names a missing pool).
    /// A deployment's `paused` flag is taken from the file only when it is created.
    pub async fn apply_deployments(
        &self,
        inputs: &[DeploymentInput],
    ) -> Result<Vec<DeploymentChange>> {
        for input in inputs {
            input.spec.check().map_err(StoreError::InvalidInput)?;
            let label = format!("{}/{}", input.spec.flow, input.spec.name);
            for schedule in &input.spec.schedules {
                crate::schedules::validate(&label, schedule)?;
            }
            let pool = self.work_pools().work_pool(&input.spec.work_pool, 0).await;
            if let Err(StoreError::NotFound { hint, .. }) = pool {
                return Err(StoreError::InvalidInput(format!(
                    "deployment \"{}/{}\" uses work pool \"{}\", which does not exist{hint}",
                    input.spec.flow, input.spec.name, input.spec.work_pool
                )));
            }
            pool?;
            self.secrets()
                .check_secrets_exist(&label, &input.spec.environment.secrets)
                .await?;
        }
        let now = self.now();
        let mut tx = self.writer.begin().await?;
        let mut changes = Vec::with_capacity(inputs.len());
        for input in inputs {
            let spec = &input.spec;
            let (pool_id,): (String,) = sqlx::query_as("SELECT id FROM work_pools WHERE name = $1")
                .bind(&spec.work_pool)
                .fetch_one(&mut *tx)
                .await?;
            let flow_created = sqlx::query(
                "INSERT INTO flows (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
            )
            .bind(new_id())
            .bind(&spec.flow)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            let (flow_id,): (String,) = sqlx::query_as("SELECT id FROM flows WHERE name = $1")
                .bind(&spec.flow)
                .fetch_one(&mut *tx)
                .await?;
            let existing: Option<DeploymentRow> = sqlx::query_as(sql(format!(
                "{DEPLOYMENT_SELECT} WHERE d.flow_id = $1 AND d.name = $2"
            )))
            .bind(&flow_id)
            .bind(&spec.name)
            .fetch_optional(&mut *tx)
            .await?;
            let (deployment_id, kind, fields) = match existing {
                None => {
                    let id = new_id();
                    sqlx::query(
                        "INSERT INTO deployments (id, flow_id, name, entrypoint, work_pool_id, parameters, tags, \
                         description, retries, retry_delay_seconds, base_dir, paused, created_at, updated_at, \
                         catch_up, max_lateness_seconds, concurrency_limit, collision_strategy) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14, $15, $16, $17)",
                    )
                    .bind(&id)
                    .bind(&flow_id)
                    .bind(&spec.name)
                    .bind(to_json(&spec.entrypoint))
                    .bind(&pool_id)
                    .bind(to_json(&spec.parameters))
                    .bind(to_json(&spec.tags))
                    .bind(&spec.description)
                    .bind(i64::from(spec.retries))
                    .bind(spec.retry_delay_seconds as i64)
                    .bind(&input.base_dir)
                    .bind(i64::from(spec.paused))
                    .bind(now)
                    .bind(spec.policy.catch_up.as_str())
                    .bind(spec.policy.max_lateness_seconds.map(|s| s as i64))
                    .bind(spec.policy.concurrency_limit.map(i64::from))
                    .bind(spec.policy.collision_strategy.as_str())
                    .execute(&mut *tx)
                    .await?;
                    (id, ChangeKind::Created, Vec::new())
                }
                Some(row) => {
                    let id = row.id.clone();
                    let schedules = load_schedules(&mut tx, &id).await?;
                    let current = row.into_deployment(schedules)?;
                    let fields = changed_fields(&current, input);
                    if fields.is_empty() {
                        (id, ChangeKind::Unchanged, fields)
                    } else {
                        sqlx::query(
                            "UPDATE deployments SET entrypoint = $1, work_pool_id = $2, parameters = $3, \
                             tags = $4, description = $5, retries = $6, retry_delay_seconds = $7, \
                             base_dir = $8, updated_at = $9, catch_up = $11, max_lateness_seconds = $12, \
                             concurrency_limit = $13, collision_strategy = $14 WHERE id = $10",
                        )
                        .bind(to_json(&spec.entrypoint))
                        .bind(&pool_id)
                        .bind(to_json(&spec.parameters))
                        .bind(to_json(&spec.tags))
                        .bind(&spec.description)
                        .bind(i64::from(spec.retries))
                        .bind(spec.retry_delay_seconds as i64)
                        .bind(&input.base_dir)
                        .bind(now)
                        .bind(&id)
                        .bind(spec.policy.catch_up.as_str())
                        .bind(spec.policy.max_lateness_seconds.map(|s| s as i64))
                        .bind(spec.policy.concurrency_limit.map(i64::from))
                        .bind(spec.policy.collision_strategy.as_str())
                        .execute(&mut *tx)
                        .await?;
                        (id, ChangeKind::Updated, fields)
                    }
                }
            };
            if kind == ChangeKind::Created || fields.iter().any(|f| f == "retention") {
                crate::retention::set_deployment_retention(
                    &mut tx,
                    &deployment_id,
                    &spec.retention,
                )
                .await?;
            }
            if kind == ChangeKind::Created || fields.iter().any(|f| f == "env" || f == "secrets") {
                crate::secrets::set_deployment_environment(
                    &mut tx,
                    &deployment_id,
                    &spec.environment,
                )
                .await?;
            }
            if kind == ChangeKind::Created || fields.iter().any(|f| f == "container") {
                crate::container::set_deployment_container(
                    &mut tx,
                    &deployment_id,
                    &spec.container,
                )
                .await?;
            }
            if kind == ChangeKind::Created || fields.iter().any(|f| f == "schedules") {
                replace_schedules(&mut tx, &deployment_id, &spec.schedules, now).await?;
            }
            if fields.iter().any(|f| f == "parameters" || f == "tags") {
                // Runs made ahead carry the old values: make them again.
                forget_future_runs(&mut tx, &deployment_id, None, now).await?;
            }
            changes.push(DeploymentChange {
                flow: spec.flow.clone(),
                name: spec.name.clone(),
                kind,
                changed_fields: fields,
                flow_created,
            });
        }
        tx.commit().await?;
        Ok(changes)
    }

    /// All deployments, optionally of one flow, by flow then name.
    pub async fn list_deployments(&self, flow: Option<&str>) -> Result<Vec<Deployment>> {
        let rows: Vec<DeploymentRow> = sqlx::query_as(sql(format!(
            "{DEPLOYMENT_SELECT} WHERE ($1 = '' OR f.name = $1) ORDER BY f.name, d.name"
        )))
        .bind(flow.unwrap_or(""))
        .fetch_all(&self.reader)
        .await?;
        let schedule_rows: Vec<ScheduleRow> = sqlx::query_as(sql(format!(
            "{} ORDER BY deployment_id, position",
            crate::schedules::SCHEDULE_SELECT
        )))
        .fetch_all(&self.reader)
        .await?;
        let mut by_deployment: std::collections::HashMap<String, Vec<Schedule>> =
            Default::default();
        for row in schedule_rows {
            let id = row.deployment_id.clone();
            by_deployment
                .entry(id)
                .or_default()
                .push(row.into_schedule()?);
        }
        rows.into_iter()
            .map(|row| {
                let schedules = by_deployment.remove(&row.id).unwrap_or_default();
                row.into_deployment(schedules)
            })
            .collect()
    }

    /// A deployment by "flow/name" or by id.
    pub async fn deployment(&self, reference: &str) -> Result<Deployment> {
        let row = self.deployment_row(reference).await?;
        let mut conn = self.reader.acquire().await?;
        let schedules = load_schedules(&mut conn, &row.id).await?;
        row.into_deployment(schedules)
    }

    /// A deployment without its schedules (one query), for starting runs.
    pub(crate) async fn deployment_for_run(&self, reference: &str) -> Result<Deployment> {
        self.deployment_row(reference)
            .await?
            .into_deployment(Vec::new())
    }

    async fn deployment_row(&self, reference: &str) -> Result<DeploymentRow> {
        let row: Option<DeploymentRow> = match reference.split_once('/') {
            Some((flow, name)) => {
                sqlx::query_as(sql(format!(
                    "{DEPLOYMENT_SELECT} WHERE f.name = $1 AND d.name = $2"
                )))
                .bind(flow)
                .bind(name)
                .fetch_optional(&self.reader)
                .await?
            }
            None => {
                sqlx::query_as(sql(format!("{DEPLOYMENT_SELECT} WHERE d.id = $1")))
                    .bind(reference)
                    .fetch_optional(&self.reader)
                    .await?
            }
        };
        match row {
            Some(row) => Ok(row),
            None => Err(self.deployment_not_found(reference).await),
        }
    }

    async fn deployment_not_found(&self, reference: &str) -> StoreError {
        let names: Vec<(String,)> = sqlx::query_as(
            "SELECT f.name || '/' || d.name FROM deployments d JOIN flows f ON f.id = d.flow_id",
        )
        .fetch_all(&self.reader)
        .await
        .unwrap_or_default();
        let mut error =
            StoreError::not_found("deployment", reference, names.iter().map(|(n,)| n.as_str()));
        if let StoreError::NotFound { hint, .. } = &mut error
            && hint.is_empty()
        {
            *hint = if reference.contains('/') {
                ": list deployments with 'orch deployment ls', register them with 'orch deploy'"
                    .into()
            } else {
                ": name a deployment as FLOW/NAME, e.g. trading-flow/trading-production".into()
            };
        }
        error
    }

    /// Pauses or resumes a deployment. Slots that pass while it is paused
    /// are not missed: on resume its schedules fill from now.
    pub async fn set_deployment_paused(&self, reference: &str, paused: bool) -> Result<Deployment> {
        let deployment = self.deployment(reference).await?;
        let now = self.now();
        let mut tx = self.writer.begin().await?;
        sqlx::query("UPDATE deployments SET paused = $1, updated_at = $2 WHERE id = $3")
            .bind(i64::from(paused))
            .bind(now)
            .bind(&deployment.id)
            .execute(&mut *tx)
            .await?;
        if deployment.paused && !paused {
            sqlx::query(
                "UPDATE deployment_schedules SET filled_until = $1 \
                 WHERE deployment_id = $2 AND (filled_until IS NULL OR filled_until < $1)",
            )
            .bind(now)
            .bind(&deployment.id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.deployment(&deployment.id).await
    }

    /// Deletes a deployment; its runs that have not started are cancelled
    /// (the transitions returned), its history is kept.
    pub async fn delete_deployment(&self, reference: &str) -> Result<Changed<Deployment>> {
        let deployment = self.deployment(reference).await?;
        let now = self.now();
        let lock = match self.backend {
            crate::Backend::Postgres => " FOR UPDATE",
            crate::Backend::Sqlite => "",
        };
        let mut tx = self.writer.begin().await?;
        let waiting: Vec<(String, String)> = sqlx::query_as(sql(format!(
            "SELECT id, state_name FROM flow_runs WHERE deployment_id = $1 \
             AND state_type = 'SCHEDULED'{lock}"
        )))
        .bind(&deployment.id)
        .fetch_all(&mut *tx)
        .await?;
        let state = NewState::new(StateType::Cancelled, "Cancelled", "deployment deleted");
        let mut transitions = Vec::with_capacity(waiting.len());
        for (run_id, name) in &waiting {
            let change = scheduled(run_id, name, &state, Cause::DeploymentDeleted);
            transitions.push(change_state(&mut tx, self.backend, change, now).await?);
        }
        sqlx::query("DELETE FROM deployments WHERE id = $1")
            .bind(&deployment.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Changed {
            value: deployment,
            transitions,
        })
    }

    /// All flows with their deployment counts.
    pub async fn list_flows(&self) -> Result<Vec<Flow>> {
        let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
            "SELECT f.id, f.name, f.created_at, \
             (SELECT COUNT(*) FROM deployments d WHERE d.flow_id = f.id) FROM flows f ORDER BY f.name",
        )
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, name, created_at, deployment_count)| Flow {
                id,
                name,
                created_at,
                deployment_count,
            })
            .collect())
    }
}

/// Parameters of a run of `deployment`: its defaults with `overrides` on top.
pub(crate) fn run_parameters(deployment: &Deployment, overrides: &JsonObject) -> JsonObject {
    orch_core::merge_parameters(&deployment.parameters, overrides)
}
