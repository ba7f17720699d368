//! Publishing artifacts from a flow: `ctx.artifact(key)`, then one of
//! `.markdown(..)`, `.table(rows)`, `.link(url)`, `.metric(name, value)` or
//! `.metrics(map)`, awaited. Each call publishes one artifact attached to the
//! run (and to the task run whose code calls it); artifacts with the same
//! key form a series across runs.
//!
//! ```no_run
//! # async fn flow(ctx: orch_sdk::FlowContext) -> anyhow::Result<()> {
//! ctx.artifact("decision-GOOG").markdown("**BUY** at 172.30").await?;
//! ctx.artifact("model-GOOG")
//!     .description("validation against the baselines")
//!     .metrics([("mae", 1.21), ("directional_accuracy", 0.57)])
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! The body is checked here with the server's rules (size limits, finite
//! metrics, http(s) links), so a bad artifact fails at the call with the
//! same message the server would give. Standalone (no server), artifacts
//! are checked and logged.

use orch_core::artifact::{self, ArtifactKind};
use orch_proto::v1 as pb;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::context::FlowContext;
use crate::output::current_task_run_id;

/// Why an artifact was not published.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ArtifactError {
    /// The artifact breaks a rule (size, shape, a metric that is not finite).
    #[error("{0}")]
    Invalid(String),
    /// The server refused it or could not be reached.
    #[error("cannot publish the artifact: {0}")]
    Server(String),
}

/// A published artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// Its id on the server (`local` when standalone).
    pub id: String,
}

/// An artifact being published; see the [module docs](self).
#[derive(Debug, Clone)]
#[must_use = "an artifact is published by awaiting .markdown(..), .table(..), .link(..), .metric(..) or .metrics(..)"]
pub struct ArtifactBuilder {
    context: FlowContext,
    key: String,
    description: String,
}

impl ArtifactBuilder {
    pub(crate) fn new(context: FlowContext, key: String) -> ArtifactBuilder {
        ArtifactBuilder {
            context,
            key,
            description: String::new(),
        }
    }

    /// A line saying what the artifact is.
    pub fn description(mut self, text: impl Into<String>) -> ArtifactBuilder {
        self.description = text.into();
        self
    }

    /// Publishes Markdown (shown rendered; raw HTML in it is shown as text).
    ///
    /// # Errors
    ///
    /// [`ArtifactError`] when it is too large or the server refuses it.
    pub async fn markdown(self, text: impl Into<String>) -> Result<Published, ArtifactError> {
        self.publish(ArtifactKind::Markdown, Value::String(text.into()))
            .await
    }

    /// Publishes a table: each row serialises to an object of column ->
    /// scalar (a struct with `#[derive(Serialize)]`, or a map).
    ///
    /// # Errors
    ///
    /// [`ArtifactError`] when a row is not an object of scalars, the table is
    /// too large, or the server refuses it.
    pub async fn table<R: Serialize>(
        self,
        rows: impl IntoIterator<Item = R>,
    ) -> Result<Published, ArtifactError> {
        let rows = rows
            .into_iter()
            .map(|row| serde_json::to_value(row))
            .collect::<Result<Vec<Value>, _>>()
            .map_err(|error| ArtifactError::Invalid(format!("a table row: {error}")))?;
        self.publish(ArtifactKind::Table, Value::Array(rows)).await
    }

    /// Publishes a link (http or https); the description is its title.
    ///
    /// # Errors
    ///
    /// [`ArtifactError`] for another scheme, or when the server refuses it.
    pub async fn link(self, url: impl Into<String>) -> Result<Published, ArtifactError> {
        let mut data = Map::new();
        data.insert("url".into(), Value::String(url.into()));
        if !self.description.is_empty() {
            data.insert("title".into(), Value::String(self.description.clone()));
        }
        self.publish(ArtifactKind::Link, Value::Object(data)).await
    }

    /// Publishes one metric.
    ///
    /// # Errors
    ///
    /// [`ArtifactError::Invalid`] for NaN or an infinity.
    pub async fn metric(
        self,
        name: impl Into<String>,
        value: f64,
    ) -> Result<Published, ArtifactError> {
        self.metrics([(name.into(), value)]).await
    }

    /// Publishes named metrics (a map, or pairs): the points of the key's
    /// trend charts.
    ///
    /// # Errors
    ///
    /// [`ArtifactError::Invalid`] for NaN or an infinity, naming the metric.
    pub async fn metrics<K: Into<String>>(
        self,
        metrics: impl IntoIterator<Item = (K, f64)>,
    ) -> Result<Published, ArtifactError> {
        let label = self.label();
        let mut data = Map::new();
        for (name, value) in metrics {
            let name = name.into();
            artifact::validate_metric_value(&label, &name, value)
                .map_err(|error| ArtifactError::Invalid(error.to_string()))?;
            data.insert(name, Value::from(value));
        }
        self.publish(ArtifactKind::Metrics, Value::Object(data))
            .await
    }

    fn label(&self) -> String {
        format!("artifact \"{}\"", self.key)
    }

    async fn publish(self, kind: ArtifactKind, data: Value) -> Result<Published, ArtifactError> {
        let invalid = |error: orch_core::Error| ArtifactError::Invalid(error.to_string());
        artifact::validate_key(&self.key).map_err(invalid)?;
        artifact::validate(&self.label(), kind, &self.description, &data).map_err(invalid)?;
        let Some(reporter) = self.context.reporter() else {
            tracing::info!(artifact = %self.key, kind = kind.as_str(), "{data}");
            return Ok(Published { id: "local".into() });
        };
        publish(
            reporter,
            self.context.flow_run_id(),
            current_task_run_id(self.context.flow_run_id()),
            &self.key,
            kind,
            &self.description,
            &data,
        )
        .await
    }
}

/// Sends an artifact the caller has validated to the server, attached to
/// `task_run_id` when given (flushing the queued task-run reports first: the
/// server refuses an artifact naming a task run it has not been told of).
pub(crate) async fn publish(
    reporter: &crate::reporter::Reporter,
    flow_run_id: &str,
    task_run_id: Option<String>,
    key: &str,
    kind: ArtifactKind,
    description: &str,
    data: &Value,
) -> Result<Published, ArtifactError> {
    if task_run_id.is_some() {
        reporter.flush(std::time::Duration::from_secs(10)).await;
    }
    let request = pb::CreateArtifactRequest {
        flow_run_id: flow_run_id.to_owned(),
        task_run_id: task_run_id.unwrap_or_default(),
        key: key.to_owned(),
        kind: kind.as_str().to_owned(),
        description: description.to_owned(),
        data_json: data.to_string(),
    };
    let client = reporter.api().artifacts();
    let reply = crate::emit::with_retries(|| {
        let (mut client, request) = (client.clone(), request.clone());
        async move { client.create_artifact(request).await }
    })
    .await;
    match reply {
        Ok(reply) => Ok(Published { id: reply.id }),
        Err(status) if status.code() == tonic::Code::InvalidArgument => {
            Err(ArtifactError::Invalid(status.message().to_owned()))
        }
        Err(status) => Err(ArtifactError::Server(status.message().to_owned())),
    }
}

impl FlowContext {
    /// An artifact of this run under `key` (letters, digits, `-`, `_`, `.`);
    /// finish with `.markdown(..)`, `.table(..)`, `.link(..)`, `.metric(..)`
    /// or `.metrics(..)` and await it.
    pub fn artifact(&self, key: impl Into<String>) -> ArtifactBuilder {
        ArtifactBuilder::new(self.clone(), key.into())
    }
}

#[cfg(test)]
mod tests {
    use tokio_util::sync::CancellationToken;

    use super::*;

    fn standalone() -> FlowContext {
        FlowContext::new("local-1".into(), "f".into(), None, CancellationToken::new())
    }

    #[tokio::test]
    async fn standalone_artifacts_are_checked_and_logged() {
        let ctx = standalone();
        assert_eq!(
            ctx.artifact("model-GOOG")
                .metric("mae", 1.5)
                .await
                .unwrap()
                .id,
            "local"
        );
        let error = ctx
            .artifact("model-GOOG")
            .metrics([("mae", f64::NAN)])
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "artifact \"model-GOOG\": metric \"mae\" is \"NaN\", not a finite number; publish \
             numbers only (NaN and infinities are refused)"
        );
        let error = ctx
            .artifact("links")
            .link("file:///etc/passwd")
            .await
            .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("is not an http:// or https:// URL"),
            "{error}"
        );
        let error = ctx.artifact("rows").table([1, 2]).await.unwrap_err();
        assert!(
            error.to_string().contains("row 0 is not an object"),
            "{error}"
        );
    }
}
