//! The volatility model: a forecast of the next bar's absolute log return.
//!
//! Return *direction* is close to unpredictable on real data (see
//! docs/benchmarks.md); return *magnitude* is not: volatility clusters. The
//! model is a HAR regression (Corsi, 2009) on absolute returns:
//! `|r(t+1)| = b0 + b1·|r(t)| + b5·mean(|r|, 5 bars) + b22·mean(|r|, 22 bars)`,
//! fitted by least squares on the training part only. It is compared, on the
//! same held-back targets, with three honest baselines: the last absolute
//! return, the rolling mean of the last 20, and RiskMetrics' EWMA variance
//! with λ = 0.94 (forecast `σ·√(2/π)`, the expected absolute value of a
//! normal return). Metrics: RMSE and MAE of the absolute return, and QLIKE
//! `mean(ln h + r²/h)` of the implied variance `h = (π/2)·f²` (forecasts are
//! floored at 1e-6 so a zero forecast is a large loss, not an infinity).

use serde::{Deserialize, Serialize};

use crate::error::{Result, SentinelError};

/// EWMA decay (RiskMetrics, daily).
pub const LAMBDA: f64 = 0.94;
/// Bars of the rolling-mean baseline.
pub const ROLLING: usize = 20;
/// The longest HAR lag: a forecast needs this many past returns.
pub const HAR_LAGS: usize = 22;
const FLOOR: f64 = 1e-6;
const ABS_TO_SIGMA: f64 = 1.253_314_137_315_500_3; // √(π/2)

/// Forecast quality of absolute returns on a set of targets.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VolMetrics {
    /// RMSE of the forecast absolute log return.
    pub rmse: f64,
    /// Mean absolute error.
    pub mae: f64,
    /// QLIKE of the implied variance (lower is better).
    pub qlike: f64,
    /// Targets evaluated.
    pub samples: usize,
}

/// The model and the baselines on the same held-back targets.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VolEvaluation {
    /// The HAR model.
    pub model: VolMetrics,
    /// Last absolute return.
    pub last_abs: VolMetrics,
    /// Mean of the last 20 absolute returns.
    pub rolling_mean: VolMetrics,
    /// EWMA (λ = 0.94).
    pub ewma: VolMetrics,
}

impl VolEvaluation {
    /// The baselines by name.
    pub fn baselines(&self) -> [(&'static str, VolMetrics); 3] {
        [
            ("last-abs-return", self.last_abs),
            ("rolling-mean", self.rolling_mean),
            ("ewma-0.94", self.ewma),
        ]
    }
}

/// A fitted HAR model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Har {
    /// `[b0, b1, b5, b22]`.
    pub coef: [f64; 4],
    /// Mean absolute return of the training part: the "normal" level.
    pub typical_abs_return: f64,
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len().max(1) as f64
}

/// HAR regressors for a forecast made after return `t` (uses `returns[..=t]`).
fn regressors(abs: &[f64], t: usize) -> Option<[f64; 4]> {
    (t + 1 >= HAR_LAGS).then(|| {
        [
            1.0,
            abs[t],
            mean(&abs[t + 1 - 5..=t]),
            mean(&abs[t + 1 - HAR_LAGS..=t]),
        ]
    })
}

impl Har {
    /// Fits on targets `1..train_end` of `returns` (targets need 22 past returns).
    pub fn fit(returns: &[f64], train_end: usize) -> Result<Har> {
        let abs: Vec<f64> = returns.iter().map(|r| r.abs()).collect();
        let end = train_end.min(abs.len());
        let (mut xtx, mut xty, mut n) = ([[0.0; 4]; 4], [0.0; 4], 0usize);
        for j in HAR_LAGS..end {
            let x = regressors(&abs, j - 1).expect("j - 1 >= 21");
            for (xa, (row, ya)) in x.iter().zip(xtx.iter_mut().zip(xty.iter_mut())) {
                *ya += xa * abs[j];
                for (cell, xb) in row.iter_mut().zip(&x) {
                    *cell += xa * xb;
                }
            }
            n += 1;
        }
        if n < 30 {
            return Err(SentinelError::InsufficientData(format!(
                "the volatility model needs 30 training targets after {HAR_LAGS} bars of history; got {n}"
            )));
        }
        // A touch of ridge on the slopes keeps nearly collinear means solvable.
        for (a, row) in xtx.iter_mut().enumerate().skip(1) {
            row[a] += 1e-9 * n as f64;
        }
        let coef = solve4(xtx, xty).ok_or_else(|| {
            SentinelError::Model("volatility regression is singular (constant prices?)".into())
        })?;
        Ok(Har {
            coef,
            typical_abs_return: mean(&abs[..end]),
        })
    }

    /// Forecast of the absolute return after `returns` (the newest last).
    pub fn forecast(&self, returns: &[f64]) -> Option<f64> {
        let abs: Vec<f64> = returns.iter().map(|r| r.abs()).collect();
        let x = regressors(&abs, abs.len().checked_sub(1)?)?;
        let f: f64 = x.iter().zip(&self.coef).map(|(x, b)| x * b).sum();
        Some(f.max(FLOOR))
    }
}

fn solve4(mut a: [[f64; 4]; 4], mut b: [f64; 4]) -> Option<[f64; 4]> {
    for col in 0..4 {
        let pivot = (col..4).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-300 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let (pivot_row, pivot_b) = (a[col], b[col]);
        for (row, (r, rb)) in a.iter_mut().zip(b.iter_mut()).enumerate() {
            if row != col {
                let f = r[col] / pivot_row[col];
                for (cell, p) in r.iter_mut().zip(&pivot_row).skip(col) {
                    *cell -= f * p;
                }
                *rb -= f * pivot_b;
            }
        }
    }
    Some([
        b[0] / a[0][0],
        b[1] / a[1][1],
        b[2] / a[2][2],
        b[3] / a[3][3],
    ])
}

/// Metrics of forecasts `f` of the absolute returns at `targets`.
pub fn metrics(returns: &[f64], targets: &[usize], f: &[f64]) -> VolMetrics {
    let (mut se, mut ae, mut ql) = (0.0, 0.0, 0.0);
    for (&j, &fc) in targets.iter().zip(f) {
        let fc = fc.max(FLOOR);
        let a = returns[j].abs();
        se += (fc - a).powi(2);
        ae += (fc - a).abs();
        let h = (fc * ABS_TO_SIGMA).powi(2);
        ql += h.ln() + returns[j].powi(2) / h;
    }
    let n = targets.len().min(f.len()).max(1) as f64;
    VolMetrics {
        rmse: (se / n).sqrt(),
        mae: ae / n,
        qlike: ql / n,
        samples: targets.len().min(f.len()),
    }
}

/// The EWMA σ forecast for each target (variance seeded with the mean square
/// of the returns before the first target).
pub fn ewma_forecasts(returns: &[f64], targets: &[usize]) -> Vec<f64> {
    let Some(&first) = targets.first() else {
        return Vec::new();
    };
    let seed = &returns[..first.max(1).min(returns.len())];
    let mut var = seed.iter().map(|r| r * r).sum::<f64>() / seed.len().max(1) as f64;
    let mut out = Vec::with_capacity(targets.len());
    let mut t = first;
    for &j in targets {
        for r in &returns[t..j] {
            var = LAMBDA * var + (1.0 - LAMBDA) * r * r;
        }
        t = j;
        out.push(var.sqrt() / ABS_TO_SIGMA);
    }
    out
}

/// Evaluates `har` and the baselines on `targets` (each needs 22 past returns).
pub fn evaluate(har: &Har, returns: &[f64], targets: &[usize]) -> VolEvaluation {
    let targets: Vec<usize> = targets
        .iter()
        .copied()
        .filter(|&j| j >= HAR_LAGS && j < returns.len())
        .collect();
    let model: Vec<f64> = targets
        .iter()
        .map(|&j| har.forecast(&returns[..j]).unwrap_or(FLOOR))
        .collect();
    let last: Vec<f64> = targets.iter().map(|&j| returns[j - 1].abs()).collect();
    let rolling: Vec<f64> = targets
        .iter()
        .map(|&j| {
            mean(
                &returns[j - ROLLING..j]
                    .iter()
                    .map(|r| r.abs())
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    // EWMA over the whole history before each target (seeded at the start).
    let mut ewma_all = ewma_forecasts(returns, &(1..returns.len()).collect::<Vec<_>>());
    ewma_all.insert(0, 0.0);
    let ewma: Vec<f64> = targets.iter().map(|&j| ewma_all[j]).collect();
    VolEvaluation {
        model: metrics(returns, &targets, &model),
        last_abs: metrics(returns, &targets, &last),
        rolling_mean: metrics(returns, &targets, &rolling),
        ewma: metrics(returns, &targets, &ewma),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A GARCH(1,1)-like series: volatility clusters, so magnitude is forecastable.
    fn clustered(n: usize) -> Vec<f64> {
        let (mut state, mut var, mut r) = (42u64, 1e-4f64, 0.0f64);
        (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                let u1 = ((state >> 11) as f64 / (1u64 << 53) as f64).max(1e-12);
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                let u2 = (state >> 11) as f64 / (1u64 << 53) as f64;
                let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
                var = 2e-6 + 0.1 * r * r + 0.88 * var;
                r = var.sqrt() * z;
                r
            })
            .collect()
    }

    #[test]
    fn har_beats_the_last_abs_return_on_clustered_volatility() {
        let r = clustered(3000);
        let har = Har::fit(&r, 2400).unwrap();
        let targets: Vec<usize> = (2400..3000).collect();
        let e = evaluate(&har, &r, &targets);
        assert_eq!(e.model.samples, 600);
        assert!(e.model.rmse < e.last_abs.rmse, "{e:?}");
        assert!(e.model.qlike < e.last_abs.qlike, "{e:?}");
        assert!(har.typical_abs_return > 0.0);
    }

    #[test]
    fn metrics_and_baselines_are_computed_by_hand() {
        let r = [0.01, -0.02, 0.03];
        let m = metrics(&r, &[1, 2], &[0.02, 0.01]);
        assert!((m.mae - 0.01).abs() < 1e-12);
        assert!((m.rmse - (0.0004f64 / 2.0).sqrt()).abs() < 1e-12);
        // EWMA seeded with 0.01²; one step with r = -0.02 before target 2.
        let f = ewma_forecasts(&r, &[1, 2]);
        assert!((f[0] - 0.01 / ABS_TO_SIGMA).abs() < 1e-12);
        let var: f64 = 0.94 * 1e-4 + 0.06 * 4e-4;
        assert!((f[1] - var.sqrt() / ABS_TO_SIGMA).abs() < 1e-12);
    }

    #[test]
    fn a_short_history_is_refused() {
        assert!(Har::fit(&[0.01; 40], 40).is_err());
        assert!(
            Har::fit(&[0.01; 10], 10)
                .unwrap_err()
                .to_string()
                .contains("30 training")
        );
    }
}
