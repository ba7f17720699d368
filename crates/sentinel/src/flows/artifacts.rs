//! What the flows publish on their run page (orch artifacts): the trading
//! decisions as a table and the paper portfolio as metrics, the retraining
//! run's candidate, active model and baselines as `model-<symbol>` metrics,
//! and data collection's validation report. A refused artifact is logged as
//! a warning: the decision or model it describes is already recorded.

use orch_sdk::FlowContext;
use serde::Serialize;

use crate::market::file_key;
use crate::pipeline::collect::Dataset;
use crate::pipeline::retrain::RetrainResult;
use crate::pipeline::trading::TradingOutcome;

#[derive(Serialize)]
struct DecisionRow {
    symbol: String,
    action: String,
    score: f64,
    confidence: f64,
    size: Option<f64>,
    price: Option<f64>,
    signals: String,
    reason: String,
}

fn warn(what: &str, result: Result<orch_sdk::Published, orch_sdk::ArtifactError>) {
    if let Err(e) = result {
        tracing::warn!("artifact {what} not published: {e}");
    }
}

/// The decisions table and one `portfolio-<symbol>` metrics artifact per mark.
pub async fn trading(ctx: &FlowContext, outcome: &TradingOutcome, initial_cash: f64) {
    if outcome.decisions.is_empty() {
        return;
    }
    let rows = outcome.decisions.iter().map(|d| {
        let s = &d.signals;
        let mut parts = Vec::new();
        if let Some(l) = &s.lstm {
            match &l.shadow {
                None => parts.push(format!("lstm {:+.2} ({})", l.signal, l.model_version)),
                Some(_) => parts.push(format!(
                    "lstm {:+.2} ({}, shadow: not active, no weight)",
                    l.signal, l.model_version
                )),
            }
        }
        if let Some(x) = &s.sentiment {
            parts.push(format!(
                "sentiment {:+.2} ({} headlines)",
                x.signal, x.headlines
            ));
        }
        if let Some(m) = &s.momentum {
            parts.push(format!("momentum {:+.2}", m.signal));
        }
        if let Some(v) = &s.volatility {
            parts.push(format!(
                "volatility {:.2}% ({:.1}x normal)",
                v.forecast * 100.0,
                v.ratio
            ));
        }
        DecisionRow {
            symbol: d.symbol.clone(),
            action: d.action.to_string(),
            score: (d.score * 1000.0).round() / 1000.0,
            confidence: (d.confidence * 1000.0).round() / 1000.0,
            size: d.size.map(|s| (s * 1000.0).round() / 1000.0),
            price: d.price,
            signals: parts.join(", "),
            reason: d.reason.clone(),
        }
    });
    warn(
        "decisions",
        ctx.artifact("decisions")
            .description(format!("trading decisions ({})", outcome.gate.reason))
            .table(rows.collect::<Vec<_>>())
            .await,
    );
    for m in &outcome.portfolio {
        let weight = if m.equity > 0.0 {
            m.units * m.price / m.equity
        } else {
            0.0
        };
        warn(
            "portfolio",
            ctx.artifact(format!("portfolio-{}", file_key(&m.symbol)))
                .description(format!(
                    "paper portfolio of {} after {}",
                    m.symbol, m.action
                ))
                .metrics([
                    ("equity", m.equity),
                    ("pnl", m.pnl(initial_cash)),
                    ("return_pct", (m.equity / initial_cash - 1.0) * 100.0),
                    ("drawdown_pct", m.drawdown * 100.0),
                    ("max_drawdown_pct", m.max_drawdown * 100.0),
                    ("position_weight", weight),
                    ("trades", m.trades as f64),
                    ("costs", m.costs),
                    ("buy_and_hold_equity", m.benchmark_equity),
                    (
                        "buy_and_hold_return_pct",
                        (m.benchmark_equity / initial_cash - 1.0) * 100.0,
                    ),
                ])
                .await,
        );
    }
}

/// `model-<symbol>`: the candidate, the active model and the baselines.
pub async fn retraining(ctx: &FlowContext, symbol: &str, r: &RetrainResult) {
    let mut metrics = vec![
        ("candidate_rmse".to_string(), r.metrics.rmse),
        ("persistence_rmse".into(), r.baselines.persistence.rmse),
        (
            "last_direction_rmse".into(),
            r.baselines.last_direction.rmse,
        ),
        ("drift_rmse".into(), r.baselines.drift.rmse),
        ("activated".into(), f64::from(u8::from(r.activated))),
        ("skipped".into(), f64::from(u8::from(r.skipped))),
    ];
    if let Some(a) = r.metrics.direction_accuracy {
        metrics.push(("candidate_direction_accuracy".into(), a));
    }
    if let Some((_, m)) = &r.previous {
        metrics.push(("active_rmse".into(), m.rmse));
    }
    if let Some(v) = &r.volatility {
        let e = &v.evaluation;
        metrics.extend([
            ("volatility_rmse".to_string(), e.model.rmse),
            ("volatility_qlike".into(), e.model.qlike),
            ("volatility_last_abs_rmse".into(), e.last_abs.rmse),
            ("volatility_rolling_mean_rmse".into(), e.rolling_mean.rmse),
            ("volatility_ewma_rmse".into(), e.ewma.rmse),
            (
                "volatility_activated".into(),
                f64::from(u8::from(v.activated)),
            ),
        ]);
        if let Some((_, m)) = &v.previous {
            metrics.push(("volatility_active_rmse".into(), m.rmse));
        }
    }
    let metrics: Vec<(String, f64)> = metrics.into_iter().filter(|(_, v)| v.is_finite()).collect();
    warn(
        "model",
        ctx.artifact(format!("model-{}", file_key(symbol)))
            .description(format!(
                "{} {}: {}",
                r.version,
                if r.skipped { "kept" } else { "candidate" },
                r.reason
            ))
            .metrics(metrics)
            .await,
    );
}

/// The validation report of a collected dataset.
pub async fn validation(ctx: &FlowContext, d: &Dataset) {
    let r = &d.report;
    let text = format!(
        "### Validation of {} {}\n\n| check | count |\n| --- | --- |\n| rows in | {} |\n| rows out | {} |\n\
         | duplicates removed | {} |\n| non-positive removed | {} |\n| inconsistent removed | {} |\n\
         | gaps | {} |\n| outlier returns | {} |\n\nDataset: `{}` ({} new bars stored)\n",
        d.symbol,
        d.interval,
        r.rows_in,
        r.rows_out,
        r.duplicates,
        r.non_positive,
        r.inconsistent,
        r.gaps.len(),
        r.outliers.len(),
        d.path.display(),
        d.stored
    );
    warn(
        "validation",
        ctx.artifact(format!("validation-{}", file_key(&d.symbol)))
            .description("data-collection validation report")
            .markdown(text)
            .await,
    );
}
