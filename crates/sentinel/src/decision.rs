//! Signal fusion: the LSTM's predicted return, news sentiment and price
//! momentum become one score in `[-1, 1]` with a confidence in `[0, 1]`,
//! then BUY / SELL / HOLD by thresholds.
//!
//! Each signal is squashed into `[-1, 1]` with `tanh`, scaled by its own
//! noise: the LSTM's prediction by the model's validation RMSE, momentum by
//! the bars' volatility. The score is the weighted mean of the signals
//! present (weights renormalised when one is missing). Confidence is
//! `coverage × agreement × (0.5 + 0.5 × evidence)`: the share of the weight
//! that is present, how much the present signals agree in sign, and how much
//! each signal can be trusted (model skill over a coin flip, number of
//! headlines, length of the momentum window).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::config::DecisionConfig;
use crate::market::Bar;

/// The decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Action {
    /// Go long.
    Buy,
    /// Go short / exit.
    Sell,
    /// Do nothing.
    Hold,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Buy => "BUY",
            Action::Sell => "SELL",
            Action::Hold => "HOLD",
        })
    }
}

impl std::str::FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "BUY" => Ok(Action::Buy),
            "SELL" => Ok(Action::Sell),
            "HOLD" => Ok(Action::Hold),
            other => Err(format!("unknown action {other:?}")),
        }
    }
}

/// The LSTM's contribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LstmSignal {
    /// The model that predicted.
    pub model_version: String,
    /// Predicted next-bar log return.
    pub predicted_return: f64,
    /// The model's validation RMSE (log return), the scale of its noise.
    pub validation_rmse: f64,
    /// The model's validation direction accuracy.
    pub validation_direction_accuracy: f64,
    /// `tanh(3 × predicted / rmse)`.
    pub signal: f64,
    /// Set when the model is not active: why (it did not beat the naive
    /// baselines). Its forecast is recorded and shown beside the decision
    /// (a shadow forecast, to watch a model before trusting it) but carries
    /// no weight in the fusion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<String>,
}

impl LstmSignal {
    /// Builds the signal from a prediction and the model's validation metrics.
    pub fn new(
        model_version: &str,
        predicted_return: f64,
        rmse: f64,
        direction_accuracy: f64,
    ) -> LstmSignal {
        let signal = if rmse > 0.0 {
            (3.0 * predicted_return / rmse).tanh()
        } else {
            0.0
        };
        LstmSignal {
            model_version: model_version.to_string(),
            predicted_return,
            validation_rmse: rmse,
            validation_direction_accuracy: direction_accuracy,
            signal,
            shadow: None,
        }
    }

    /// The same forecast from a model that is not active: recorded with
    /// `why`, weightless in the fusion.
    pub fn shadow(mut self, why: impl Into<String>) -> LstmSignal {
        self.shadow = Some(why.into());
        self
    }

    /// Whether the signal counts in the fusion (its model is active).
    pub fn counts(&self) -> bool {
        self.shadow.is_none()
    }
}

/// News sentiment's contribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentimentSignal {
    /// Mean headline score.
    pub mean: f64,
    /// Headlines counted.
    pub headlines: usize,
    /// True when no headline named the symbol and market-wide news was used.
    pub market_wide: bool,
    /// The mean, halved for market-wide news.
    pub signal: f64,
}

impl SentimentSignal {
    /// Builds the signal from headline scores; `None` without headlines.
    pub fn new(scores: &[f64], market_wide: bool) -> Option<SentimentSignal> {
        if scores.is_empty() {
            return None;
        }
        let mean = scores.iter().sum::<f64>() / scores.len() as f64;
        let signal = if market_wide { mean * 0.5 } else { mean };
        Some(SentimentSignal {
            mean,
            headlines: scores.len(),
            market_wide,
            signal,
        })
    }
}

/// Price momentum's contribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MomentumSignal {
    /// Log return over the window.
    pub window_return: f64,
    /// Bars in the window.
    pub bars: usize,
    /// Standard deviation of one-bar log returns in the window.
    pub volatility: f64,
    /// `tanh(window_return / (volatility × √bars))`.
    pub signal: f64,
}

impl MomentumSignal {
    /// Momentum over the last `k` bars (fewer if fewer exist); `None` under 3 bars.
    pub fn from_bars(bars: &[Bar], k: usize) -> Option<MomentumSignal> {
        let closes: Vec<f64> = bars.iter().map(|b| b.close).filter(|c| *c > 0.0).collect();
        if closes.len() < 3 {
            return None;
        }
        let tail = &closes[closes.len().saturating_sub(k + 1)..];
        let rets: Vec<f64> = tail.windows(2).map(|w| (w[1] / w[0]).ln()).collect();
        let n = rets.len() as f64;
        let mean = rets.iter().sum::<f64>() / n;
        let volatility = (rets.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / n).sqrt();
        let window_return = (tail[tail.len() - 1] / tail[0]).ln();
        let scale = volatility.max(1e-9) * n.sqrt();
        Some(MomentumSignal {
            window_return,
            bars: rets.len(),
            volatility,
            signal: (window_return / scale).tanh(),
        })
    }
}

/// The volatility model's forecast: not a direction, but how much to trust
/// one and how large a position to take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VolatilitySignal {
    /// The volatility model that forecast.
    pub model_version: String,
    /// Forecast absolute log return of the next bar.
    pub forecast: f64,
    /// Mean absolute return of the model's training window (the normal level).
    pub typical: f64,
    /// `forecast / typical`.
    pub ratio: f64,
    /// Position (fraction of equity) whose forecast volatility equals the
    /// target volatility, capped at `decision.max_position`.
    pub suggested_weight: f64,
}

impl VolatilitySignal {
    /// From a forecast; `target_per_bar` is the target volatility of one bar.
    pub fn new(
        model_version: &str,
        forecast: f64,
        typical: f64,
        target_per_bar: f64,
        max_position: f64,
    ) -> VolatilitySignal {
        let sigma = forecast * std::f64::consts::FRAC_PI_2.sqrt();
        VolatilitySignal {
            model_version: model_version.to_string(),
            forecast,
            typical,
            ratio: if typical > 0.0 {
                forecast / typical
            } else {
                1.0
            },
            suggested_weight: (target_per_bar / sigma.max(1e-9)).min(max_position),
        }
    }
}

/// The signals, each optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Signals {
    /// From the active model, if there is one.
    pub lstm: Option<LstmSignal>,
    /// From headlines, if there are any.
    pub sentiment: Option<SentimentSignal>,
    /// From recent bars, if there are enough.
    pub momentum: Option<MomentumSignal>,
    /// From the active volatility model, if there is one.
    #[serde(default)]
    pub volatility: Option<VolatilitySignal>,
}

/// A fused decision with everything that went into it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Row id once stored.
    pub id: Option<i64>,
    /// When it was decided, Unix seconds.
    pub decided_at: i64,
    /// Ticker.
    pub symbol: String,
    /// BUY / SELL / HOLD.
    pub action: Action,
    /// Fused score in `[-1, 1]`.
    pub score: f64,
    /// Confidence in `[0, 1]`.
    pub confidence: f64,
    /// Suggested position size (fraction of equity) for BUY/SELL, scaled to
    /// the target volatility when a volatility forecast exists.
    #[serde(default)]
    pub size: Option<f64>,
    /// Why, in words.
    pub reason: String,
    /// Last close.
    pub price: Option<f64>,
    /// The inputs.
    pub signals: Signals,
    /// True when decided with `force` outside market hours.
    pub forced: bool,
    /// The orch flow run that decided, if any.
    pub flow_run_id: Option<String>,
}

/// Fuses the signals into `(score, confidence)`.
pub fn fuse(cfg: &DecisionConfig, s: &Signals) -> (f64, f64) {
    // A shadow forecast (a model that was not activated) is shown, never used.
    let lstm = s.lstm.as_ref().filter(|l| l.counts());
    let lstm_evidence =
        lstm.map(|l| ((l.validation_direction_accuracy - 0.5) * 4.0).clamp(0.0, 1.0));
    let parts: [(f64, Option<(f64, f64)>); 3] = [
        (
            cfg.lstm_weight,
            lstm.map(|l| (l.signal, lstm_evidence.unwrap_or(0.0))),
        ),
        (
            cfg.sentiment_weight,
            s.sentiment
                .as_ref()
                .map(|x| (x.signal, x.headlines as f64 / (x.headlines as f64 + 3.0))),
        ),
        (
            cfg.momentum_weight,
            s.momentum
                .as_ref()
                .map(|m| (m.signal, (m.bars as f64 / 10.0).min(1.0))),
        ),
    ];
    let total_weight: f64 = parts.iter().map(|(w, _)| w).sum();
    let present: Vec<(f64, f64, f64)> = parts
        .iter()
        .filter_map(|(w, p)| p.map(|(sig, ev)| (*w, sig, ev)))
        .filter(|(w, _, _)| *w > 0.0)
        .collect();
    let present_weight: f64 = present.iter().map(|(w, _, _)| w).sum();
    if present_weight <= 0.0 {
        return (0.0, 0.0);
    }
    let weighted: f64 = present.iter().map(|(w, s, _)| w * s).sum();
    let magnitude: f64 = present.iter().map(|(w, s, _)| w * s.abs()).sum();
    let score = (weighted / present_weight).clamp(-1.0, 1.0);
    let agreement = if magnitude > 0.0 {
        weighted.abs() / magnitude
    } else {
        0.0
    };
    let coverage = present_weight / total_weight;
    let evidence = present.iter().map(|(w, _, e)| w * e).sum::<f64>() / present_weight;
    (
        score,
        (coverage * agreement * (0.5 + 0.5 * evidence)).clamp(0.0, 1.0),
    )
}

/// Decides for one symbol.
pub fn decide(
    cfg: &DecisionConfig,
    symbol: &str,
    signals: Signals,
    price: Option<f64>,
    now: i64,
) -> Decision {
    let (score, mut confidence) = fuse(cfg, &signals);
    // High forecast volatility makes any signal less trustworthy.
    if let Some(v) = &signals.volatility {
        confidence *= (1.0 / v.ratio.max(1e-9)).min(1.0);
    }
    let extreme = signals
        .volatility
        .as_ref()
        .filter(|v| v.ratio >= cfg.extreme_volatility_ratio);
    let (action, reason) = if let Some(v) = extreme {
        (
            Action::Hold,
            format!(
                "forecast volatility {:.2}% is {:.1}x its normal level (>= {:.1}x): HOLD",
                v.forecast * 100.0,
                v.ratio,
                cfg.extreme_volatility_ratio
            ),
        )
    } else if confidence < cfg.min_confidence {
        (
            Action::Hold,
            format!("confidence {confidence:.2} below {:.2}", cfg.min_confidence),
        )
    } else if score >= cfg.buy_threshold {
        (
            Action::Buy,
            format!("score {score:+.3} at or above {:+.2}", cfg.buy_threshold),
        )
    } else if score <= cfg.sell_threshold {
        (
            Action::Sell,
            format!("score {score:+.3} at or below {:+.2}", cfg.sell_threshold),
        )
    } else {
        (
            Action::Hold,
            format!("score {score:+.3} between thresholds"),
        )
    };
    let size = (action != Action::Hold).then(|| {
        signals
            .volatility
            .as_ref()
            .map_or(cfg.max_position, |v| v.suggested_weight)
    });
    Decision {
        id: None,
        decided_at: now,
        symbol: symbol.to_string(),
        action,
        score,
        confidence,
        size,
        reason,
        price,
        signals,
        forced: false,
        flow_run_id: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signals(lstm: f64, sentiment: f64, momentum: f64) -> Signals {
        Signals {
            lstm: Some(LstmSignal {
                signal: lstm,
                ..LstmSignal::new("v1", 0.0, 0.02, 0.75)
            }),
            sentiment: Some(SentimentSignal {
                mean: sentiment,
                headlines: 12,
                market_wide: false,
                signal: sentiment,
            }),
            momentum: Some(MomentumSignal {
                window_return: 0.0,
                bars: 10,
                volatility: 0.01,
                signal: momentum,
            }),
            volatility: None,
        }
    }

    #[test]
    fn a_shadow_forecast_is_recorded_but_weighs_nothing() {
        let cfg = DecisionConfig::default();
        let active = signals(0.9, 0.0, 0.1);
        let mut shadow = active.clone();
        shadow.lstm = shadow
            .lstm
            .map(|l| l.shadow("not below the drift baseline"));
        let mut without = active.clone();
        without.lstm = None;
        // Active, the strong LSTM signal moves the score; as a shadow it
        // leaves the decision exactly as if there were no model.
        assert_ne!(fuse(&cfg, &active), fuse(&cfg, &without));
        assert_eq!(fuse(&cfg, &shadow), fuse(&cfg, &without));
        let d = decide(&cfg, "GOOG", shadow, Some(100.0), 0);
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(
            json["signals"]["lstm"]["shadow"],
            "not below the drift baseline"
        );
        // Decisions recorded before shadows existed still read.
        let mut old = json.clone();
        old["signals"]["lstm"]
            .as_object_mut()
            .unwrap()
            .remove("shadow");
        let back: Decision = serde_json::from_value(old).unwrap();
        assert!(back.signals.lstm.unwrap().counts());
    }

    #[test]
    fn volatility_scales_size_and_confidence_and_holds_when_extreme() {
        let cfg = DecisionConfig::default();
        // Target 1% a bar, forecast |r| 1% (sigma 1.25%): weight 0.8.
        let calm = VolatilitySignal::new("v1", 0.01, 0.01, 0.01, 1.0);
        assert!((calm.suggested_weight - 0.01 / (0.01 * 1.2533141373155)).abs() < 1e-9);
        let mut s = signals(0.8, 0.6, 0.7);
        s.volatility = Some(calm);
        let d = decide(&cfg, "GOOG", s.clone(), Some(1.0), 0);
        assert_eq!(d.action, Action::Buy);
        assert!((d.size.unwrap() - 0.7979).abs() < 1e-3, "{d:?}");
        let base = decide(&cfg, "GOOG", signals(0.8, 0.6, 0.7), None, 0);
        assert_eq!(base.size, Some(cfg.max_position));
        // Twice the normal volatility halves the confidence.
        s.volatility = Some(VolatilitySignal::new("v1", 0.02, 0.01, 0.01, 1.0));
        let d = decide(&cfg, "GOOG", s.clone(), None, 0);
        assert!((d.confidence - base.confidence / 2.0).abs() < 1e-9);
        assert!(d.size.unwrap() < 0.5);
        s.volatility = Some(VolatilitySignal::new("v1", 0.05, 0.01, 0.01, 1.0));
        let d = decide(&cfg, "GOOG", s, None, 0);
        assert_eq!(d.action, Action::Hold);
        assert!(d.reason.contains("5.0x"), "{}", d.reason);
        assert_eq!(d.size, None);
    }

    #[test]
    fn agreeing_signals_buy_or_sell() {
        let cfg = DecisionConfig::default();
        let d = decide(&cfg, "GOOG", signals(0.8, 0.6, 0.7), Some(800.0), 0);
        assert_eq!(d.action, Action::Buy, "{d:?}");
        assert!(d.confidence > 0.8);
        let d = decide(&cfg, "GOOG", signals(-0.8, -0.6, -0.7), None, 0);
        assert_eq!(d.action, Action::Sell);
    }

    #[test]
    fn conflicting_signals_hold_with_low_confidence() {
        let cfg = DecisionConfig::default();
        let d = decide(&cfg, "GOOG", signals(0.8, -0.9, -0.7), None, 0);
        assert_eq!(d.action, Action::Hold);
        assert!(d.confidence < cfg.min_confidence, "{d:?}");
    }

    #[test]
    fn weak_agreeing_signals_hold_between_thresholds() {
        let d = decide(
            &DecisionConfig::default(),
            "X",
            signals(0.1, 0.1, 0.1),
            None,
            0,
        );
        assert_eq!(d.action, Action::Hold);
        assert!(d.reason.contains("between thresholds"), "{}", d.reason);
    }

    #[test]
    fn missing_signals_lower_coverage_and_renormalise() {
        let cfg = DecisionConfig::default();
        let mut s = signals(0.0, 0.9, 0.9);
        s.lstm = None;
        let (score, conf) = fuse(&cfg, &s);
        assert!((score - 0.9).abs() < 1e-9);
        assert!(conf < 0.5 && conf > 0.0, "{conf}");
        assert_eq!(fuse(&cfg, &Signals::default()), (0.0, 0.0));
    }

    #[test]
    fn momentum_and_lstm_signals_are_scaled_by_noise() {
        let bar = |c: f64| Bar {
            symbol: "X".into(),
            interval: "1d".into(),
            ts: 0,
            open: c,
            high: c,
            low: c,
            close: c,
            volume: 0.0,
        };
        let up: Vec<Bar> = (0..15)
            .map(|i| bar(100.0 * (1.0 + 0.01 * i as f64 + 0.003 * (i % 2) as f64)))
            .collect();
        let m = MomentumSignal::from_bars(&up, 10).unwrap();
        assert_eq!(m.bars, 10);
        assert!(m.signal > 0.9, "{m:?}");
        assert!(MomentumSignal::from_bars(&up[..2], 10).is_none());
        assert!(LstmSignal::new("v", 0.002, 0.02, 0.5).signal < 0.3);
        assert!(LstmSignal::new("v", -0.02, 0.02, 0.5).signal < -0.99);
        let s = SentimentSignal::new(&[0.4, 0.2], true).unwrap();
        assert!((s.signal - 0.15).abs() < 1e-12);
        assert!(SentimentSignal::new(&[], false).is_none());
    }
}
