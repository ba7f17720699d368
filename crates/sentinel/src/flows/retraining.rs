//! `model-retraining-flow`: collect, prepare, train and save, evaluate,
//! activate only if better.

use std::sync::Arc;

use orch_sdk::FlowContext;
use serde::Deserialize;

use super::fetch_task;
use crate::app::Sentinel;
use crate::pipeline::retrain::{RetrainResult, retrain_result};

/// Parameters of `model-retraining-flow`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetrainingParams {
    /// Ticker (default: the first configured symbol).
    pub symbol: Option<String>,
    /// Days of history (default `model.default_days`).
    pub days: Option<u32>,
    /// Retrain even when the active model is young and has not degraded.
    pub force: bool,
}

/// Unless the active model is young and undegraded (or `force`), trains a
/// return model and a volatility model and activates each only if it beats
/// its naive baselines and the active one on the same held-back window.
pub async fn model_retraining(
    ctx: FlowContext,
    p: RetrainingParams,
    s: Arc<Sentinel>,
) -> anyhow::Result<RetrainResult> {
    let symbol = match p.symbol {
        Some(sym) => sym,
        None => s.config.tickers().into_iter().next().unwrap_or_default(),
    };
    let days = p.days.unwrap_or(s.config.model.default_days);
    let hp = s.config.model.clone();
    let data = fetch_task(&ctx, &s, "collect-training-data")
        .run(|| s.collect_training_data(&symbol, days))
        .await?;
    let check = ctx
        .task("check-model")
        .run(|| s.retrain_check(&data, p.force))
        .await?;
    tracing::info!(needed = check.needed, "{}", check.reason);
    if !check.needed {
        let result = s.skipped_result(&check)?;
        super::artifacts::retraining(&ctx, &symbol, &result).await;
        return Ok(result);
    }
    let features = ctx
        .task("prepare-features")
        .run(|| s.prepare_features(&data, &hp))
        .await?;
    tracing::info!(
        rows = features.rows,
        train = features.train_samples,
        validation = features.validation_samples,
        "features: {}",
        features.features.join(", ")
    );
    let meta = ctx
        .task("train")
        .after(&features)
        .run(|| s.train_and_save(&data, &hp))
        .await?;
    let comparison = ctx
        .task("evaluate")
        .run(|| s.compare(&data, &meta.version))
        .await?;
    if comparison.verdict.activate {
        ctx.task("activate")
            .run(|| async { s.activate(&comparison) })
            .await?;
    }
    let volatility = ctx
        .task("train-volatility")
        .after(&features)
        .run(|| s.retrain_volatility(&data, &hp))
        .await?;
    let mut result = retrain_result(&meta, &comparison);
    result.check = Some(check.into_inner());
    result.volatility = Some(volatility.into_inner());
    tracing::info!(version = %result.version, activated = result.activated, "{}", result.reason);
    super::artifacts::retraining(&ctx, &symbol, &result).await;
    Ok(result)
}
