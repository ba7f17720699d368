//! `data-collection-flow`: collect, validate, export a clean dataset.

use std::sync::Arc;

use orch_sdk::FlowContext;
use serde::Deserialize;

use super::{fetch_task, honor_retry_after};
use crate::app::Sentinel;
use crate::pipeline::collect::Dataset;

/// Parameters of `data-collection-flow`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CollectionParams {
    /// Ticker (default `collection.symbol`, e.g. BTC-USD).
    pub symbol: Option<String>,
    /// Days of history (default `collection.default_days`).
    pub days: Option<u32>,
    /// Bar interval (default `collection.interval`).
    pub interval: Option<String>,
}

/// Collects history, validates it and stores the clean dataset with its report.
pub async fn data_collection(
    ctx: FlowContext,
    p: CollectionParams,
    s: Arc<Sentinel>,
) -> anyhow::Result<Dataset> {
    let c = &s.config.collection;
    let symbol = p.symbol.unwrap_or_else(|| c.symbol.clone());
    let interval = p.interval.unwrap_or_else(|| c.interval.clone());
    let days = p.days.unwrap_or(c.default_days);
    let bars = fetch_task(&ctx, &s, "collect-history")
        .run(|| honor_retry_after(&s, s.collect_history(&symbol, &interval, days)))
        .await?;
    let validated = ctx
        .task("validate")
        .run(|| async { s.validate_history(&bars, &interval) })
        .await?;
    let (clean, report) = &*validated;
    tracing::info!(
        rows_in = report.rows_in,
        rows_out = report.rows_out,
        "validated: {} duplicates, {} non-positive, {} inconsistent removed; {} gaps, {} outliers flagged",
        report.duplicates,
        report.non_positive,
        report.inconsistent,
        report.gaps.len(),
        report.outliers.len()
    );
    let dataset = ctx
        .task("store-dataset")
        .run(|| s.save_dataset(clean, report))
        .await?;
    let dataset = dataset.into_inner();
    super::artifacts::validation(&ctx, &dataset).await;
    Ok(dataset)
}
