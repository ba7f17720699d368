//! Model retraining: collect, prepare features, train and save, evaluate
//! against the baselines and the active model on the same held-back window,
//! activate only if better. Each step is a function so the flow can run it
//! as a task; the registry and the database carry data between steps.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::app::Sentinel;
use crate::config::ModelConfig;
use crate::error::{Result, SentinelError};
use crate::features::{self, Series};
use crate::market::{Bar, Window};
use crate::model::eval::{self, Evaluation, Metrics, Verdict};
use crate::model::{self, ModelMetadata};

/// The training data collected (bars stay in the database).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingData {
    /// Ticker.
    pub symbol: String,
    /// Interval.
    pub interval: String,
    /// The collection window.
    pub window: Window,
    /// Bars fetched from the source now.
    pub fetched: usize,
    /// Bars available in the window (fetched now or stored before).
    pub bars: usize,
}

/// The prepared features, summarised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSummary {
    /// Feature names.
    pub features: Vec<String>,
    /// Feature rows.
    pub rows: usize,
    /// Training samples.
    pub train_samples: usize,
    /// Held-back validation samples.
    pub validation_samples: usize,
    /// First validation target bar.
    pub validation_start: Option<DateTime<Utc>>,
}

/// The candidate against the active model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Candidate version.
    pub candidate: String,
    /// Candidate and baselines on the validation window.
    pub evaluation: Evaluation,
    /// The active model and its metrics on the same window.
    pub active: Option<(String, Metrics)>,
    /// The decision.
    pub verdict: Verdict,
}

/// What `model-retraining-flow` returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrainResult {
    /// The candidate was trained, saved and evaluated.
    pub success: bool,
    /// Its version.
    pub version: String,
    /// Its validation metrics.
    pub metrics: Metrics,
    /// Baselines on the same window.
    pub baselines: Baselines,
    /// Whether it became the active model.
    pub activated: bool,
    /// Why (not).
    pub reason: String,
    /// The model active before, with its metrics on the same window.
    pub previous: Option<(String, Metrics)>,
    /// Training wall time, seconds.
    pub training_seconds: f64,
    /// True when the active model was kept (retrain-if-needed said no).
    #[serde(default)]
    pub skipped: bool,
    /// The retrain-if-needed check, when the flow made one.
    #[serde(default)]
    pub check: Option<super::staleness::RetrainCheck>,
    /// The volatility model's retraining.
    #[serde(default)]
    pub volatility: Option<super::volatility::VolOutcome>,
}

/// The naive baselines.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Baselines {
    /// Zero return.
    pub persistence: Metrics,
    /// Last return again.
    pub last_direction: Metrics,
    /// Training-window mean return.
    pub drift: Metrics,
}

impl Sentinel {
    /// Fetches `days` of bars of `symbol` at the market interval, stores them
    /// and reports how many the window holds.
    pub async fn collect_training_data(&self, symbol: &str, days: u32) -> Result<TrainingData> {
        let interval = self.config.market.interval.clone();
        let window = Window::last_days(self.now(), days);
        let fetched = self.prices.bars(symbol, &interval, window).await?;
        self.store
            .upsert_bars(&fetched, self.now().timestamp())
            .await?;
        let bars = self.training_bars(symbol, &interval, window).await?.len();
        if bars == 0 {
            return Err(SentinelError::NoData(format!(
                "no {interval} bars of {symbol} in the last {days} days"
            )));
        }
        Ok(TrainingData {
            symbol: symbol.to_string(),
            interval,
            window,
            fetched: fetched.len(),
            bars,
        })
    }

    /// Stored bars of a series inside a window.
    pub async fn training_bars(
        &self,
        symbol: &str,
        interval: &str,
        window: Window,
    ) -> Result<Vec<Bar>> {
        let all = self.store.bars(symbol, interval, None).await?;
        Ok(all.into_iter().filter(|b| window.contains(b.ts)).collect())
    }

    /// Builds the features and the chronological split.
    pub async fn prepare_features(
        &self,
        data: &TrainingData,
        hp: &ModelConfig,
    ) -> Result<FeatureSummary> {
        let bars = self
            .training_bars(&data.symbol, &data.interval, data.window)
            .await?;
        let series = Series::from_bars(&bars)?;
        let (train, val) = features::split(series.len(), hp.window, hp.validation_fraction)?;
        Ok(FeatureSummary {
            features: features::FEATURE_NAMES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            rows: series.len(),
            train_samples: train.len(),
            validation_samples: val.len(),
            validation_start: DateTime::from_timestamp(series.ts[val.start], 0),
        })
    }

    /// Trains a candidate (on a blocking thread) and saves it in the registry.
    pub async fn train_and_save(
        self: &Arc<Self>,
        data: &TrainingData,
        hp: &ModelConfig,
    ) -> Result<ModelMetadata> {
        let bars = self
            .training_bars(&data.symbol, &data.interval, data.window)
            .await?;
        let (hp, now, this) = (hp.clone(), self.now(), Arc::clone(self));
        tokio::task::spawn_blocking(move || {
            let mut candidate = model::train(&bars, &hp, now)?;
            this.registry.register(&mut candidate.model)?;
            tracing::info!(
                version = %candidate.model.meta.version,
                seconds = candidate.model.meta.training.seconds,
                "trained; validation RMSE {:.6}",
                candidate.model.meta.evaluation.model.rmse
            );
            Ok(candidate.model.meta)
        })
        .await
        .map_err(|e| SentinelError::Model(format!("training thread failed: {e}")))?
    }

    /// Evaluates the active model (if any) on the candidate's validation
    /// window and applies the activation rule.
    pub async fn compare(&self, data: &TrainingData, version: &str) -> Result<Comparison> {
        let candidate = self.registry.metadata(version)?;
        let bars = self
            .training_bars(&data.symbol, &data.interval, data.window)
            .await?;
        let series = Series::from_bars(&bars)?;
        let hp = &candidate.hyper_parameters;
        let (_, val) = features::split(series.len(), hp.window, hp.validation_fraction)?;
        let targets: Vec<usize> = val.collect();
        let active = match self.registry.active()?.get(&data.symbol) {
            Some(v) if v != version => {
                let m = self.registry.load(v)?;
                Some((v.clone(), m.metrics_on(&series, &targets)?))
            }
            _ => None,
        };
        let verdict = eval::verdict(
            &candidate.evaluation,
            active.as_ref().map(|(v, m)| (v.as_str(), m)),
            self.config.model.min_improvement,
        );
        tracing::info!(
            candidate = version,
            activate = verdict.activate,
            "{}",
            verdict.reason
        );
        Ok(Comparison {
            candidate: version.to_string(),
            evaluation: candidate.evaluation,
            active,
            verdict,
        })
    }

    /// Activates the candidate of a comparison.
    pub fn activate(&self, comparison: &Comparison) -> Result<()> {
        self.registry
            .activate(&comparison.candidate, &comparison.verdict.reason)?;
        Ok(())
    }

    /// All steps in one call (the flow runs the same steps as tasks).
    pub async fn retrain(
        self: &Arc<Self>,
        symbol: &str,
        days: u32,
        hp: &ModelConfig,
    ) -> Result<RetrainResult> {
        let data = self.collect_training_data(symbol, days).await?;
        self.prepare_features(&data, hp).await?;
        let meta = self.train_and_save(&data, hp).await?;
        let comparison = self.compare(&data, &meta.version).await?;
        if comparison.verdict.activate {
            self.activate(&comparison)?;
        }
        let mut result = retrain_result(&meta, &comparison);
        result.volatility = Some(self.retrain_volatility(&data, hp).await?);
        Ok(result)
    }
}

/// The flow's result from the saved model and the comparison.
pub fn retrain_result(meta: &ModelMetadata, c: &Comparison) -> RetrainResult {
    let e = &c.evaluation;
    RetrainResult {
        success: true,
        version: meta.version.clone(),
        metrics: e.model,
        baselines: Baselines {
            persistence: e.persistence,
            last_direction: e.last_direction,
            drift: e.drift,
        },
        activated: c.verdict.activate,
        reason: c.verdict.reason.clone(),
        previous: c.active.clone(),
        training_seconds: meta.training.seconds,
        skipped: false,
        check: None,
        volatility: None,
    }
}
