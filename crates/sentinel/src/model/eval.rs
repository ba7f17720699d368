//! Honest evaluation on the held-back validation window: the model against
//! naive baselines on the very same targets, and the activation rule.

use serde::{Deserialize, Serialize};

use crate::features::Series;

/// Forecast quality on a set of targets.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// RMSE of the predicted next-bar log return.
    pub rmse: f64,
    /// RMSE of the implied next close, in price units.
    pub price_rmse: f64,
    /// Share of bars whose direction (up/down) was right, over bars that
    /// moved; `None` for a forecaster that never predicts a direction.
    pub direction_accuracy: Option<f64>,
    /// Targets evaluated.
    pub samples: usize,
}

/// The model and the baselines, on the same validation targets.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The model.
    pub model: Metrics,
    /// Persistence: next close = last close (a zero return).
    pub persistence: Metrics,
    /// Last direction: next return = last return.
    pub last_direction: Metrics,
    /// Drift: next return = mean return of the training window.
    pub drift: Metrics,
}

/// Metrics of predicted log returns `pred` for the rows `target_index` of `series`.
pub fn metrics(series: &Series, target_index: &[usize], pred: &[f64]) -> Metrics {
    let n = target_index.len().min(pred.len());
    let (mut se, mut pse, mut hits, mut moved, mut directional) = (0.0, 0.0, 0usize, 0usize, false);
    for (&j, &p) in target_index.iter().zip(pred) {
        let actual = series.returns[j];
        se += (p - actual).powi(2);
        pse += (series.prev_close[j] * p.exp() - series.close[j]).powi(2);
        if p != 0.0 {
            directional = true;
        }
        if actual != 0.0 {
            moved += 1;
            if p != 0.0 && (p > 0.0) == (actual > 0.0) {
                hits += 1;
            }
        }
    }
    let nf = n.max(1) as f64;
    Metrics {
        rmse: (se / nf).sqrt(),
        price_rmse: (pse / nf).sqrt(),
        direction_accuracy: (directional && moved > 0).then(|| hits as f64 / moved as f64),
        samples: n,
    }
}

/// Evaluates model predictions and the baselines on `target_index`;
/// `train_mean` is the mean return of the training window (for drift).
pub fn evaluate(
    series: &Series,
    target_index: &[usize],
    model_pred: &[f64],
    train_mean: f64,
) -> Evaluation {
    let zeros = vec![0.0; target_index.len()];
    let last: Vec<f64> = target_index
        .iter()
        .map(|&j| if j > 0 { series.returns[j - 1] } else { 0.0 })
        .collect();
    let drift = vec![train_mean; target_index.len()];
    Evaluation {
        model: metrics(series, target_index, model_pred),
        persistence: metrics(series, target_index, &zeros),
        last_direction: metrics(series, target_index, &last),
        drift: metrics(series, target_index, &drift),
    }
}

/// The verdict on a candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Whether to activate it.
    pub activate: bool,
    /// Why, in words.
    pub reason: String,
}

/// The activation rule. A candidate is activated only if, on the same
/// validation window,
/// 1. its RMSE is below the best naive baseline's (persistence, last
///    direction or drift): it forecasts better than not forecasting, and
/// 2. its RMSE is below the active model's by at least `min_improvement`
///    (a fraction), when there is an active model for the symbol.
pub fn verdict(
    candidate: &Evaluation,
    active: Option<(&str, &Metrics)>,
    min_improvement: f64,
) -> Verdict {
    rule(
        "validation RMSE",
        candidate.model.rmse,
        &[
            ("persistence", candidate.persistence.rmse),
            ("last-direction", candidate.last_direction.rmse),
            ("drift", candidate.drift.rmse),
        ],
        active.map(|(v, m)| (v, m.rmse)),
        min_improvement,
    )
}

/// The activation rule on one error measure (lower is better), shared by
/// the return model and the volatility model: below the best baseline's, and
/// below the active model's (re-measured on the same window) by
/// `min_improvement`.
pub fn rule(
    what: &str,
    c: f64,
    baselines: &[(&str, f64)],
    active: Option<(&str, f64)>,
    min_improvement: f64,
) -> Verdict {
    let (best_name, best) = baselines
        .iter()
        .copied()
        .fold(("", f64::INFINITY), |a, b| if b.1 < a.1 { b } else { a });
    if c.is_nan() || c >= best {
        return Verdict {
            activate: false,
            reason: format!("{what} {c:.6} is not below the {best_name} baseline's {best:.6}"),
        };
    }
    match active {
        Some((version, m)) if c >= m * (1.0 - min_improvement) => Verdict {
            activate: false,
            reason: format!(
                "{what} {c:.6} does not beat active model {version} ({m:.6}) by {:.1}%",
                min_improvement * 100.0
            ),
        },
        Some((version, m)) => Verdict {
            activate: true,
            reason: format!(
                "{what} {c:.6} beats active model {version} ({m:.6}) and the {best_name} baseline ({best:.6})"
            ),
        },
        None => Verdict {
            activate: true,
            reason: format!(
                "no active model; {what} {c:.6} beats the {best_name} baseline ({best:.6})"
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(returns: &[f64]) -> Series {
        let mut close = 100.0;
        let mut s = Series {
            features: vec![],
            returns: vec![],
            prev_close: vec![],
            close: vec![],
            ts: vec![],
        };
        for (i, &r) in returns.iter().enumerate() {
            s.prev_close.push(close);
            close *= r.exp();
            s.close.push(close);
            s.returns.push(r);
            s.features.push([r, 0.0, 0.0]);
            s.ts.push(i as i64);
        }
        s
    }

    #[test]
    fn baselines_are_computed_on_the_same_targets() {
        let s = series(&[0.01, -0.02, 0.03, 0.01, -0.01]);
        let idx = [2, 3, 4];
        let e = evaluate(&s, &idx, &[0.03, 0.01, -0.01], 0.005);
        assert_eq!(e.model.rmse, 0.0);
        assert_eq!(e.model.direction_accuracy, Some(1.0));
        assert!(e.model.price_rmse < 1e-9);
        let p = (0.03f64.powi(2) + 0.01f64.powi(2) + 0.01f64.powi(2)) / 3.0;
        assert!((e.persistence.rmse - p.sqrt()).abs() < 1e-12);
        assert_eq!(e.persistence.direction_accuracy, None);
        // Last direction predicts -0.02, 0.03, 0.01: right once (0.03 vs 0.01).
        assert_eq!(e.last_direction.direction_accuracy, Some(1.0 / 3.0));
        assert_eq!(e.drift.direction_accuracy, Some(2.0 / 3.0));
    }

    fn eval_with(model_rmse: f64) -> Evaluation {
        let m = |rmse| Metrics {
            rmse,
            price_rmse: 0.0,
            direction_accuracy: None,
            samples: 10,
        };
        Evaluation {
            model: m(model_rmse),
            persistence: m(0.020),
            last_direction: m(0.028),
            drift: m(0.0199),
        }
    }

    #[test]
    fn verdict_requires_beating_baselines_and_the_active_model() {
        let v = verdict(&eval_with(0.0200), None, 0.0);
        assert!(!v.activate && v.reason.contains("drift"), "{v:?}");
        assert!(verdict(&eval_with(0.0190), None, 0.0).activate);
        let active = Metrics {
            rmse: 0.0185,
            price_rmse: 0.0,
            direction_accuracy: None,
            samples: 10,
        };
        let v = verdict(&eval_with(0.0190), Some(("v1", &active)), 0.0);
        assert!(!v.activate && v.reason.contains("v1"), "{v:?}");
        assert!(verdict(&eval_with(0.0180), Some(("v1", &active)), 0.0).activate);
        assert!(!verdict(&eval_with(0.0180), Some(("v1", &active)), 0.05).activate);
    }
}
