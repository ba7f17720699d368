//! Retraining of the volatility model: fit on the training part, evaluate it,
//! the three baselines and the active volatility model on the same held-back
//! targets as the return model, activate under the same rule.

use serde::{Deserialize, Serialize};

use super::retrain::TrainingData;
use crate::app::Sentinel;
use crate::config::ModelConfig;
use crate::error::Result;
use crate::features::{self, Series};
use crate::model::DataWindow;
use crate::model::eval::{self, Verdict};
use crate::model::vol_registry::VolModel;
use crate::model::volatility::{self, Har, VolEvaluation, VolMetrics};

/// What retraining did with the volatility model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VolOutcome {
    /// The candidate's version.
    pub version: String,
    /// The candidate and the three baselines on the held-back targets.
    pub evaluation: VolEvaluation,
    /// The active volatility model on the same targets, if there is one.
    pub previous: Option<(String, VolMetrics)>,
    /// Whether the candidate became active.
    pub activated: bool,
    /// Why (not).
    pub reason: String,
}

impl Sentinel {
    /// Fits, registers, evaluates and (if better) activates a volatility model.
    pub async fn retrain_volatility(
        &self,
        data: &TrainingData,
        hp: &ModelConfig,
    ) -> Result<VolOutcome> {
        let bars = self
            .training_bars(&data.symbol, &data.interval, data.window)
            .await?;
        let series = Series::from_bars(&bars)?;
        let (_, val) = features::split(series.len(), hp.window, hp.validation_fraction)?;
        let targets: Vec<usize> = val.clone().collect();
        let har = Har::fit(&series.returns, val.start)?;
        let evaluation = volatility::evaluate(&har, &series.returns, &targets);
        let ts = |j: usize| chrono::DateTime::from_timestamp(series.ts[j], 0).unwrap_or_default();
        let mut candidate = VolModel {
            version: String::new(),
            symbol: data.symbol.clone(),
            interval: data.interval.clone(),
            created_at: self.now(),
            har,
            validation_window: DataWindow {
                start: ts(val.start),
                end: ts(val.end - 1),
                samples: evaluation.model.samples,
            },
            evaluation,
        };
        let previous = match self.vol_registry.load_active(&data.symbol)? {
            Some(active) => {
                let e = volatility::evaluate(&active.har, &series.returns, &targets);
                Some((active.version, e.model))
            }
            None => None,
        };
        let version = self.vol_registry.register(&mut candidate)?;
        let verdict = volatility_verdict(&evaluation, previous.as_ref(), hp.min_improvement);
        if verdict.activate {
            self.vol_registry.activate(&version)?;
        }
        tracing::info!(
            version,
            activated = verdict.activate,
            "volatility model: RMSE {:.6} (last-abs {:.6}, rolling {:.6}, ewma {:.6}); {}",
            evaluation.model.rmse,
            evaluation.last_abs.rmse,
            evaluation.rolling_mean.rmse,
            evaluation.ewma.rmse,
            verdict.reason
        );
        Ok(VolOutcome {
            version,
            evaluation,
            previous,
            activated: verdict.activate,
            reason: verdict.reason,
        })
    }
}

/// The activation rule of the return model, applied to the volatility
/// model's RMSE against its three baselines and the active volatility model.
pub fn volatility_verdict(
    e: &VolEvaluation,
    active: Option<&(String, VolMetrics)>,
    min_improvement: f64,
) -> Verdict {
    let baselines: Vec<(&str, f64)> = e.baselines().iter().map(|(n, m)| (*n, m.rmse)).collect();
    eval::rule(
        "volatility RMSE",
        e.model.rmse,
        &baselines,
        active.map(|(v, m)| (v.as_str(), m.rmse)),
        min_improvement,
    )
}
