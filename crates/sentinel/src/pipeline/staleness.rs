//! Retrain if needed: the active model is kept while it is younger than
//! `model.max_model_age_days` and its RMSE on bars newer than its validation
//! window has not grown by more than `model.max_degradation` over its
//! validation RMSE. `force=true` retrains anyway. The reason is logged and
//! returned.

use serde::{Deserialize, Serialize};

use super::retrain::{Baselines, RetrainResult, TrainingData};
use crate::app::Sentinel;
use crate::error::Result;
use crate::features::Series;

/// Fewer new targets than this cannot measure degradation.
pub const MIN_NEW_SAMPLES: usize = 5;

/// Whether retraining is due, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrainCheck {
    /// Retrain now.
    pub needed: bool,
    /// Why, in words.
    pub reason: String,
    /// The active model, if any.
    pub active: Option<String>,
    /// Its age in days by sentinel's clock.
    pub age_days: Option<f64>,
    /// Targets newer than its validation window.
    pub new_samples: usize,
    /// Its RMSE on them.
    pub newest_rmse: Option<f64>,
    /// Its validation RMSE.
    pub validation_rmse: Option<f64>,
    /// `newest_rmse / validation_rmse − 1`.
    pub degradation: Option<f64>,
}

impl Sentinel {
    /// Decides whether the active model of `data.symbol` needs retraining.
    pub async fn retrain_check(&self, data: &TrainingData, force: bool) -> Result<RetrainCheck> {
        let m = &self.config.model;
        let mut check = RetrainCheck {
            needed: true,
            reason: String::new(),
            active: None,
            age_days: None,
            new_samples: 0,
            newest_rmse: None,
            validation_rmse: None,
            degradation: None,
        };
        let model = self
            .registry
            .load_active(&data.symbol)?
            .filter(|model| model.meta.interval == data.interval);
        let Some(model) = model else {
            check.reason = format!(
                "no active {} model of {}: training",
                data.interval, data.symbol
            );
            return Ok(check);
        };
        let meta = &model.meta;
        let age = (self.now() - meta.created_at).num_seconds() as f64 / 86_400.0;
        check.active = Some(meta.version.clone());
        check.age_days = Some(age);
        check.validation_rmse = Some(meta.evaluation.model.rmse);
        let bars = self
            .training_bars(&data.symbol, &data.interval, data.window)
            .await?;
        let series = Series::from_bars(&bars)?;
        let after = meta.validation_window.end.timestamp();
        let targets: Vec<usize> = (meta.hyper_parameters.window..series.len())
            .filter(|&j| series.ts[j] > after)
            .collect();
        check.new_samples = targets.len();
        if targets.len() >= MIN_NEW_SAMPLES {
            let newest = model.metrics_on(&series, &targets)?.rmse;
            check.newest_rmse = Some(newest);
            check.degradation = Some(newest / meta.evaluation.model.rmse.max(1e-12) - 1.0);
        }
        let v = &meta.version;
        (check.needed, check.reason) = if force {
            (
                true,
                format!("force=true: retraining (active {v} is {age:.1} days old)"),
            )
        } else if age > m.max_model_age_days {
            (
                true,
                format!(
                    "active {v} is {age:.1} days old (max {:.1}): retraining",
                    m.max_model_age_days
                ),
            )
        } else if let Some(deg) = check.degradation.filter(|d| *d > m.max_degradation) {
            (
                true,
                format!(
                    "active {v} degraded: RMSE {:.6} on {} newer bars is {:+.1}% over its validation RMSE {:.6} (max {:+.1}%): retraining",
                    check.newest_rmse.unwrap_or_default(),
                    check.new_samples,
                    deg * 100.0,
                    meta.evaluation.model.rmse,
                    m.max_degradation * 100.0
                ),
            )
        } else {
            let measured = match check.degradation {
                Some(deg) => format!(
                    "RMSE on {} newer bars {:+.1}% vs validation (max {:+.1}%)",
                    check.new_samples,
                    deg * 100.0,
                    m.max_degradation * 100.0
                ),
                None => format!(
                    "{} newer bars, too few to measure degradation (need {MIN_NEW_SAMPLES})",
                    check.new_samples
                ),
            };
            (
                false,
                format!(
                    "kept active {v}: {age:.1} days old (max {:.1}), {measured}; force=true retrains anyway",
                    m.max_model_age_days
                ),
            )
        };
        Ok(check)
    }

    /// The flow's result when retraining was skipped: the active model stays.
    pub fn skipped_result(&self, check: &RetrainCheck) -> Result<RetrainResult> {
        let version = check.active.clone().unwrap_or_default();
        let meta = self.registry.metadata(&version)?;
        let e = &meta.evaluation;
        Ok(RetrainResult {
            success: true,
            version,
            metrics: e.model,
            baselines: Baselines {
                persistence: e.persistence,
                last_direction: e.last_direction,
                drift: e.drift,
            },
            activated: false,
            reason: check.reason.clone(),
            previous: None,
            training_seconds: 0.0,
            skipped: true,
            check: Some(check.clone()),
            volatility: None,
        })
    }
}
