//! Features for the LSTM: per bar, the log return, the log high/low range
//! and the log volume change, z-scored with statistics of the training part
//! only; the target is the next bar's log return, z-scored the same way.

use serde::{Deserialize, Serialize};

use crate::error::{Result, SentinelError};
use crate::market::Bar;

/// Number of features per bar.
pub const N_FEATURES: usize = 3;
/// Their names, stored in model metadata.
pub const FEATURE_NAMES: [&str; N_FEATURES] =
    ["log_return", "log_high_low_range", "log_volume_change"];

/// Raw (not normalised) features of a bar series. Entry `j` describes bar
/// `j + 1` of the input (the first bar has no previous bar).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Features per bar.
    pub features: Vec<[f64; N_FEATURES]>,
    /// The log return of each bar (same as `features[j][0]`).
    pub returns: Vec<f64>,
    /// Close of the bar before each return.
    pub prev_close: Vec<f64>,
    /// Close of each bar.
    pub close: Vec<f64>,
    /// Start of each bar, Unix seconds.
    pub ts: Vec<i64>,
}

impl Series {
    /// Computes features from bars sorted by time. Bars must have positive prices.
    pub fn from_bars(bars: &[Bar]) -> Result<Series> {
        if let Some(b) = bars
            .iter()
            .find(|b| !(b.close > 0.0 && b.high > 0.0 && b.low > 0.0))
        {
            return Err(SentinelError::InvalidInput(format!(
                "bar {} of {} has a non-positive price; run data-collection-flow to clean the series",
                b.time(),
                b.symbol
            )));
        }
        if bars.windows(2).any(|w| w[1].ts <= w[0].ts) {
            return Err(SentinelError::InvalidInput(
                "bars are not strictly increasing in time".into(),
            ));
        }
        let mut s = Series {
            features: vec![],
            returns: vec![],
            prev_close: vec![],
            close: vec![],
            ts: vec![],
        };
        for w in bars.windows(2) {
            let (p, b) = (&w[0], &w[1]);
            let r = (b.close / p.close).ln();
            let range = (b.high / b.low.min(b.high)).ln();
            let vol = ((b.volume.max(0.0) + 1.0) / (p.volume.max(0.0) + 1.0)).ln();
            s.features.push([r, range, vol]);
            s.returns.push(r);
            s.prev_close.push(p.close);
            s.close.push(b.close);
            s.ts.push(b.ts);
        }
        Ok(s)
    }

    /// Number of feature rows.
    pub fn len(&self) -> usize {
        self.features.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.features.is_empty()
    }
}

/// Means and standard deviations of the features (and so of the target).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    /// Per-feature mean.
    pub mean: Vec<f64>,
    /// Per-feature standard deviation (never 0).
    pub std: Vec<f64>,
}

impl Normalization {
    /// Statistics of `rows`.
    pub fn fit(rows: &[[f64; N_FEATURES]]) -> Normalization {
        let n = rows.len().max(1) as f64;
        let mean: Vec<f64> = (0..N_FEATURES)
            .map(|k| rows.iter().map(|r| r[k]).sum::<f64>() / n)
            .collect();
        let std = (0..N_FEATURES)
            .map(|k| {
                let v = rows.iter().map(|r| (r[k] - mean[k]).powi(2)).sum::<f64>() / n;
                if v.sqrt() > 1e-12 { v.sqrt() } else { 1.0 }
            })
            .collect();
        Normalization { mean, std }
    }

    /// Z-scores one row.
    pub fn apply(&self, row: &[f64; N_FEATURES]) -> [f32; N_FEATURES] {
        std::array::from_fn(|k| ((row[k] - self.mean[k]) / self.std[k]) as f32)
    }

    /// A return as the model's target.
    pub fn target(&self, r: f64) -> f32 {
        ((r - self.mean[0]) / self.std[0]) as f32
    }

    /// A model output back to a log return.
    pub fn untarget(&self, z: f64) -> f64 {
        z * self.std[0] + self.mean[0]
    }
}

/// Samples: input windows of `window` rows and the index of the return each predicts.
#[derive(Debug, Clone)]
pub struct Samples {
    /// Flattened inputs, `len × window × N_FEATURES`.
    pub inputs: Vec<f32>,
    /// Normalised targets.
    pub targets: Vec<f32>,
    /// For each sample, the row index of its target return in the series.
    pub target_index: Vec<usize>,
}

/// Builds the samples whose targets are the rows in `targets` (each needs
/// `window` rows before it).
pub fn samples(
    series: &Series,
    norm: &Normalization,
    window: usize,
    targets: std::ops::Range<usize>,
) -> Samples {
    let mut out = Samples {
        inputs: vec![],
        targets: vec![],
        target_index: vec![],
    };
    for j in targets.start.max(window)..targets.end.min(series.len()) {
        for row in &series.features[j - window..j] {
            out.inputs.extend_from_slice(&norm.apply(row));
        }
        out.targets.push(norm.target(series.returns[j]));
        out.target_index.push(j);
    }
    out
}

/// The input window that ends with the latest row (to predict the next bar).
pub fn latest_window(series: &Series, norm: &Normalization, window: usize) -> Result<Vec<f32>> {
    if series.len() < window {
        return Err(SentinelError::InsufficientData(format!(
            "{} bars give {} feature rows; the model needs {window} (+1 bar)",
            series.len() + 1,
            series.len()
        )));
    }
    Ok(series.features[series.len() - window..]
        .iter()
        .flat_map(|r| norm.apply(r))
        .collect())
}

/// Splits rows chronologically: the last `fraction` of the samples (rows
/// with a full window before them) is the validation window.
pub fn split(
    series_len: usize,
    window: usize,
    fraction: f64,
) -> Result<(std::ops::Range<usize>, std::ops::Range<usize>)> {
    let usable = series_len.saturating_sub(window);
    let val = ((usable as f64) * fraction).ceil() as usize;
    if usable < 20 || val < 5 || usable - val < 10 {
        return Err(SentinelError::InsufficientData(format!(
            "{series_len} feature rows with a window of {window} give {usable} samples; need at least 20 \
             (collect more days or lower model.window)"
        )));
    }
    let boundary = series_len - val;
    Ok((window..boundary, boundary..series_len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bars(closes: &[f64]) -> Vec<Bar> {
        closes
            .iter()
            .enumerate()
            .map(|(i, &c)| Bar {
                symbol: "X".into(),
                interval: "1d".into(),
                ts: i as i64 * 86400,
                open: c,
                high: c * 1.01,
                low: c * 0.99,
                close: c,
                volume: 100.0 + i as f64,
            })
            .collect()
    }

    #[test]
    fn features_align_with_returns_and_closes() {
        let s = Series::from_bars(&bars(&[100.0, 110.0, 99.0])).unwrap();
        assert_eq!(s.len(), 2);
        assert!((s.returns[0] - (1.1f64).ln()).abs() < 1e-12);
        assert_eq!((s.prev_close[1], s.close[1]), (110.0, 99.0));
        assert!((s.features[0][1] - (1.01f64 / 0.99).ln()).abs() < 1e-12);
    }

    #[test]
    fn samples_use_only_preceding_rows() {
        let closes: Vec<f64> = (0..60).map(|i| 100.0 + (i as f64).sin()).collect();
        let s = Series::from_bars(&bars(&closes)).unwrap();
        let (train, val) = split(s.len(), 5, 0.2).unwrap();
        assert_eq!(val.end, s.len());
        assert_eq!(train.end, val.start);
        let norm = Normalization::fit(&s.features[..train.end]);
        let smp = samples(&s, &norm, 5, val.clone());
        assert_eq!(smp.targets.len(), val.len());
        // The last input row of a sample is the row just before its target.
        let j = smp.target_index[0];
        let last_row = &smp.inputs[4 * N_FEATURES..5 * N_FEATURES];
        assert_eq!(last_row, norm.apply(&s.features[j - 1]));
        assert!((norm.untarget(smp.targets[0] as f64) - s.returns[j]).abs() < 1e-6);
    }

    #[test]
    fn bad_series_are_refused() {
        assert!(
            Series::from_bars(&bars(&[1.0, 0.0]))
                .unwrap_err()
                .to_string()
                .contains("non-positive")
        );
        let s = Series::from_bars(&bars(&[1.0; 12])).unwrap();
        assert!(
            split(s.len(), 5, 0.2)
                .unwrap_err()
                .to_string()
                .contains("need at least 20")
        );
    }
}
