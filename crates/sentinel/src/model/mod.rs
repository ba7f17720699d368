//! The LSTM forecaster: training on a bar history with a held-back
//! validation window, evaluation against baselines, prediction of the next
//! bar's return. Weights live in safetensors, everything else in
//! [`ModelMetadata`] (JSON); [`crate::registry`] keeps both.

pub mod eval;
pub mod net;
pub mod vol_registry;
pub mod volatility;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::ModelConfig;
use crate::error::{Result, SentinelError};
use crate::features::{self, FEATURE_NAMES, Normalization, Series};
use crate::market::Bar;
use eval::{Evaluation, Metrics};
use net::{Net, Shape, TrainSettings};

/// Hyper-parameters a model was trained with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HyperParameters {
    /// Bars per input window.
    pub window: usize,
    /// LSTM hidden size.
    pub hidden: usize,
    /// Epochs.
    pub epochs: usize,
    /// Mini-batch size.
    pub batch_size: usize,
    /// AdamW learning rate.
    pub learning_rate: f64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Held-back fraction.
    pub validation_fraction: f64,
    /// Seed.
    pub seed: u64,
}

impl From<&ModelConfig> for HyperParameters {
    fn from(c: &ModelConfig) -> Self {
        HyperParameters {
            window: c.window,
            hidden: c.hidden,
            epochs: c.epochs,
            batch_size: c.batch_size,
            learning_rate: c.learning_rate,
            weight_decay: c.weight_decay,
            validation_fraction: c.validation_fraction,
            seed: c.seed,
        }
    }
}

/// A span of the data a model saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataWindow {
    /// First target bar.
    pub start: DateTime<Utc>,
    /// Last target bar.
    pub end: DateTime<Utc>,
    /// Samples (targets).
    pub samples: usize,
}

/// Training facts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingInfo {
    /// Last epoch's mean normalised MSE.
    pub final_loss: f64,
    /// Wall time on CPU, seconds.
    pub seconds: f64,
    /// Optimiser steps.
    pub steps: usize,
}

/// Everything about a model except its weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMetadata {
    /// Registry version, e.g. `v3`.
    pub version: String,
    /// Ticker it was trained on.
    pub symbol: String,
    /// Bar interval.
    pub interval: String,
    /// When it was trained.
    pub created_at: DateTime<Utc>,
    /// Input features, in order.
    pub features: Vec<String>,
    /// Hyper-parameters.
    pub hyper_parameters: HyperParameters,
    /// Feature statistics of the training window.
    pub normalization: Normalization,
    /// Mean log return of the training window.
    pub train_mean_return: f64,
    /// Training targets.
    pub training_window: DataWindow,
    /// Held-back targets.
    pub validation_window: DataWindow,
    /// Validation metrics of the model and the baselines.
    pub evaluation: Evaluation,
    /// Training facts.
    pub training: TrainingInfo,
}

/// A model in memory.
pub struct Model {
    /// The network.
    pub net: Net,
    /// Its metadata.
    pub meta: ModelMetadata,
}

/// A freshly trained model with the rows it was validated on.
pub struct Candidate {
    /// The model (version still empty until registered).
    pub model: Model,
    /// The feature series built from the training bars.
    pub series: Series,
    /// Row indices of the validation targets.
    pub validation_targets: Vec<usize>,
}

fn window_of(series: &Series, idx: &[usize]) -> DataWindow {
    let t = |j: usize| DateTime::from_timestamp(series.ts[j], 0).unwrap_or_default();
    DataWindow {
        start: idx.first().map(|&j| t(j)).unwrap_or_default(),
        end: idx.last().map(|&j| t(j)).unwrap_or_default(),
        samples: idx.len(),
    }
}

/// Trains a candidate on `bars` (one symbol, one interval, oldest first) and
/// evaluates it on the most recent `validation_fraction` of the samples,
/// which training never sees (normalisation included).
pub fn train(bars: &[Bar], hp: &ModelConfig, now: DateTime<Utc>) -> Result<Candidate> {
    let first = bars
        .first()
        .ok_or_else(|| SentinelError::InsufficientData("no bars to train on".into()))?;
    let series = Series::from_bars(bars)?;
    let (train_rows, val_rows) = features::split(series.len(), hp.window, hp.validation_fraction)?;
    let norm = Normalization::fit(&series.features[..train_rows.end]);
    let train_set = features::samples(&series, &norm, hp.window, train_rows.clone());
    let val_set = features::samples(&series, &norm, hp.window, val_rows);
    let shape = Shape {
        window: hp.window,
        hidden: hp.hidden,
    };
    let mut net = Net::new(shape, hp.seed)?;
    let settings = TrainSettings {
        epochs: hp.epochs,
        batch_size: hp.batch_size,
        learning_rate: hp.learning_rate,
        weight_decay: hp.weight_decay,
        seed: hp.seed,
    };
    let report = net.train(&train_set, settings)?;
    let pred: Vec<f64> = net
        .predict(&val_set.inputs)?
        .into_iter()
        .map(|z| norm.untarget(z))
        .collect();
    let train_returns = &series.returns[train_rows.clone()];
    let train_mean_return = train_returns.iter().sum::<f64>() / train_returns.len() as f64;
    let evaluation = eval::evaluate(&series, &val_set.target_index, &pred, train_mean_return);
    let meta = ModelMetadata {
        version: String::new(),
        symbol: first.symbol.clone(),
        interval: first.interval.clone(),
        created_at: now,
        features: FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
        hyper_parameters: hp.into(),
        normalization: norm,
        train_mean_return,
        training_window: window_of(&series, &train_set.target_index),
        validation_window: window_of(&series, &val_set.target_index),
        evaluation,
        training: TrainingInfo {
            final_loss: report.final_loss,
            seconds: report.seconds,
            steps: report.steps,
        },
    };
    Ok(Candidate {
        model: Model { net, meta },
        validation_targets: val_set.target_index,
        series,
    })
}

impl Model {
    /// Predicted log returns for the rows `targets` of `series` (each from
    /// the window of rows before it), using this model's own window and normalisation.
    pub fn predict_rows(&self, series: &Series, targets: &[usize]) -> Result<Vec<f64>> {
        let w = self.meta.hyper_parameters.window;
        if targets.iter().any(|&j| j < w || j > series.len()) {
            return Err(SentinelError::InsufficientData(format!(
                "model {} needs {w} rows before each target",
                self.meta.version
            )));
        }
        let norm = &self.meta.normalization;
        let inputs: Vec<f32> = targets
            .iter()
            .flat_map(|&j| series.features[j - w..j].iter().flat_map(|r| norm.apply(r)))
            .collect();
        Ok(self
            .net
            .predict(&inputs)?
            .into_iter()
            .map(|z| norm.untarget(z))
            .collect())
    }

    /// This model's metrics on someone else's validation targets.
    pub fn metrics_on(&self, series: &Series, targets: &[usize]) -> Result<Metrics> {
        Ok(eval::metrics(
            series,
            targets,
            &self.predict_rows(series, targets)?,
        ))
    }

    /// The predicted log return of the bar after the last of `bars`.
    pub fn predict_next(&self, bars: &[Bar]) -> Result<f64> {
        let series = Series::from_bars(bars)?;
        let inputs = features::latest_window(
            &series,
            &self.meta.normalization,
            self.meta.hyper_parameters.window,
        )?;
        let z = self.net.predict(&inputs)?;
        Ok(self.meta.normalization.untarget(z[0]))
    }
}
